import 'reflect-metadata'
import { test } from 'node:test'
import { describe } from '../../../../test/helpers/suites.js'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash, createPublicKey, X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Certificate } from '@peculiar/asn1-x509'
import * as x509 from '@peculiar/x509'
import { type GpuArch } from '@vouch/enclave'
import {
  deriveEcPrivateKey,
  issueGpuBrom,
  issueGpuFmcLeaf,
  issueNvidiaDeviceRoot,
  issueNvidiaIdentityCa,
  issueNvidiaRimSigner,
  nvidiaKeyLabel,
  OID_DICE_TCB_INFO,
  OID_NVIDIA_FWID,
  OID_NVIDIA_SAN_NAME,
  simulatedGpuDeviceId,
  simulatedNvidiaDeviceRootSpkiSha256,
  simulatedNvidiaRimRootSpkiSha256,
  simulatedNvidiaRoots,
  type IssuedCertificate,
} from '@vouch/enclave/simulated'
import {
  blackwellFwid,
  children,
  content,
  decodeOid,
  extensionValue,
  fixturesMissing,
  hex,
  hopperFwid,
  NVIDIA_FIXTURES,
  pemCertificates,
  readTlv,
  rimCertificates,
  whole,
  type Tlv,
} from './nvidia-helpers.js'

/** The pins the verifier carries for the simulated NVIDIA roots (default seed). A change here breaks them. */
const DEVICE_ROOT_SPKI_SHA256 = '991d4e1b3150fcbf09cf7f0c24ee0daade4eaeb8e4b13f68a5145975a64d1470'
const RIM_ROOT_SPKI_SHA256 = 'aae2a2e2dcba265159b9e4768b60ce3ccda407ae2180b4d16ba9efa3eff04616'

const ARCHS: GpuArch[] = ['HOPPER', 'BLACKWELL']
const FWID = new Uint8Array(48).map((_, i) => i + 1)

/** The 5-certificate device chain of device `deviceIndex`, leaf first. */
function deviceChain(arch: GpuArch, deviceIndex = 0, fwid = FWID): IssuedCertificate[] {
  const roots = simulatedNvidiaRoots(arch)
  const brom = issueGpuBrom({ arch, deviceIndex, issuer: roots.provisioner })
  const leaf = issueGpuFmcLeaf({ arch, deviceIndex, issuer: brom, fwid })
  return [leaf, brom, roots.provisioner, roots.identity, roots.deviceRoot]
}

function rimChain(arch: GpuArch): IssuedCertificate[] {
  const { rimSigner, rimL3, rimCa, rimRoot } = simulatedNvidiaRoots(arch)
  return [rimSigner, rimL3, rimCa, rimRoot]
}

function verifiesUnder(child: Uint8Array, issuer: Uint8Array): boolean {
  const c = new X509Certificate(child)
  const i = new X509Certificate(issuer)
  return c.checkIssued(i) && c.verify(i.publicKey)
}

const spkiSha256 = (der: Uint8Array): string =>
  createHash('sha256').update(new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' })).digest('hex')

/** The TBS of a certificate: everything but the (randomised) ECDSA signature. */
const tbsOf = (der: Uint8Array): string => hex(whole(children(readTlv(der))[0]!))

// SKI, AKI, the SAN (per device) and the FWID extensions hold per-key or per-device values: only their
// shape is compared with NVIDIA's, byte for byte elsewhere.
const KEY_DEPENDENT = ['2.5.29.14', '2.5.29.35', '2.5.29.17', OID_NVIDIA_FWID, OID_DICE_TCB_INFO]

/** A name as (attribute type, string tag) pairs, one RDN each, in DER order. */
function nameShape(name: Tlv): string[] {
  return children(name).map((rdn) => {
    const [type, value] = children(children(rdn)[0]!)
    return `${hex(content(type!))}/${value!.tag.toString(16)}`
  })
}

/** The parts of a certificate that must match NVIDIA's, with key- and device-dependent values left out. */
function shape(der: Uint8Array) {
  const cert = AsnConvert.parse(der, Certificate)
  const tbs = cert.tbsCertificate
  const fields = children(children(readTlv(der))[0]!)
  const [, , signature, issuer, validity, subject, spki] = fields
  return {
    version: tbs.version,
    outerAlgorithm: hex(new Uint8Array(AsnConvert.serialize(cert.signatureAlgorithm))),
    tbsAlgorithm: hex(whole(signature!)),
    issuer: nameShape(issuer!),
    subject: nameShape(subject!),
    timeTypes: children(validity!).map((t) => t.tag),
    notAfter: tbs.validity.notAfter.getTime().getUTCFullYear() === 9999 ? '9999' : 'finite',
    spkiAlgorithm: hex(whole(children(spki!)[0]!)),
    extensions: (tbs.extensions ?? []).map((e) => ({
      oid: e.extnID,
      critical: e.critical,
      value: KEY_DEPENDENT.includes(e.extnID) ? `<key-dependent>` : hex(new Uint8Array(e.extnValue.buffer)),
    })),
  }
}

describe('simulated NVIDIA roots', () => {
  test('the default seed derives the pinned device and RIM roots, shared by both architectures', () => {
    assert.equal(simulatedNvidiaDeviceRootSpkiSha256(), DEVICE_ROOT_SPKI_SHA256)
    assert.equal(simulatedNvidiaRimRootSpkiSha256(), RIM_ROOT_SPKI_SHA256)
    for (const arch of ARCHS) {
      const roots = simulatedNvidiaRoots(arch)
      assert.equal(spkiSha256(roots.deviceRoot.der), DEVICE_ROOT_SPKI_SHA256)
      assert.equal(spkiSha256(roots.rimRoot.der), RIM_ROOT_SPKI_SHA256)
    }
    assert.equal(simulatedNvidiaRoots('HOPPER').deviceRoot, simulatedNvidiaRoots('BLACKWELL').deviceRoot)
    assert.equal(simulatedNvidiaRoots('HOPPER').rimRoot, simulatedNvidiaRoots('BLACKWELL').rimRoot)
    assert.notEqual(simulatedNvidiaDeviceRootSpkiSha256('another seed'), DEVICE_ROOT_SPKI_SHA256)
    assert.notEqual(simulatedNvidiaRimRootSpkiSha256('another seed'), RIM_ROOT_SPKI_SHA256)
  })

  test('issuing again gives the same keys and TBS (only the ECDSA signatures are randomised)', () => {
    for (const arch of ARCHS) {
      const a = deviceChain(arch)
      const b = deviceChain(arch)
      for (const [i, cert] of a.entries()) {
        assert.equal(tbsOf(cert.der), tbsOf(b[i]!.der), `${arch} certificate ${i}`)
        assert.equal(spkiSha256(cert.der), spkiSha256(b[i]!.der))
      }
      const root = issueNvidiaDeviceRoot()
      assert.equal(tbsOf(root.der), tbsOf(simulatedNvidiaRoots(arch).deviceRoot.der))
    }
  })

  test('keys derive per role: CAs per chip, BROM and leaf per device index', () => {
    assert.equal(nvidiaKeyLabel('device-root', 'BLACKWELL'), 'nvidia/device-identity-ca')
    assert.equal(nvidiaKeyLabel('identity', 'HOPPER'), 'nvidia/GH100/identity')
    assert.equal(nvidiaKeyLabel('fmc-leaf', 'BLACKWELL', 3), 'nvidia/GB100/gpu/3/fmc-leaf')
    assert.throws(() => nvidiaKeyLabel('brom', 'HOPPER', 8), RangeError)
    const leaves = new Set<string>()
    const serials = new Set<string>()
    for (let i = 0; i < 8; i++) {
      const [leaf, brom] = deviceChain('HOPPER', i)
      leaves.add(spkiSha256(leaf!.der))
      serials.add(new X509Certificate(brom!.der).serialNumber)
      const expected = createPublicKey(deriveEcPrivateKey('vouch/simulated-tee/v1', nvidiaKeyLabel('fmc-leaf', 'HOPPER', i)))
      assert.ok(new X509Certificate(leaf!.der).publicKey.equals(expected))
    }
    assert.equal(leaves.size, 8)
    assert.equal(serials.size, 8)
  })
})

describe('simulated NVIDIA chains verify', () => {
  for (const arch of ARCHS) {
    test(`${arch}: every link of the device and RIM chains verifies with node:crypto`, () => {
      const chain = deviceChain(arch)
      for (let i = 0; i < chain.length; i++) {
        const issuer = chain[Math.min(i + 1, chain.length - 1)]!
        assert.ok(verifiesUnder(chain[i]!.der, issuer.der), `device certificate ${i}`)
      }
      const rims = rimChain(arch)
      for (let i = 0; i < rims.length; i++) {
        const issuer = rims[Math.min(i + 1, rims.length - 1)]!
        assert.ok(verifiesUnder(rims[i]!.der, issuer.der), `RIM certificate ${i}`)
      }
      const leaf = new X509Certificate(chain[0]!.der)
      assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1')
      assert.equal(leaf.validTo, 'Dec 31 23:59:59 9999 GMT')
      const signer = new X509Certificate(rims[0]!.der)
      const now = Date.now()
      assert.ok(new Date(signer.validFrom).getTime() < now && new Date(signer.validTo).getTime() > now + 10 * 365 * 86_400_000)
    })
  }

  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' })
  const opensslMissing = openssl.status === 0 ? false : 'openssl is not installed'
  for (const arch of ARCHS) {
    test(`${arch}: openssl verify accepts the device chain and the RIM chain`, { skip: opensslMissing }, () => {
      const dir = mkdtempSync(join(tmpdir(), 'vouch-nvidia-'))
      try {
        const pem = (der: Uint8Array): string => new X509Certificate(der).toString()
        const check = (chain: IssuedCertificate[]): void => {
          writeFileSync(join(dir, 'root.pem'), pem(chain.at(-1)!.der))
          writeFileSync(join(dir, 'untrusted.pem'), chain.slice(1, -1).map((c) => pem(c.der)).join(''))
          writeFileSync(join(dir, 'leaf.pem'), pem(chain[0]!.der))
          const r = spawnSync('openssl', ['verify', '-CAfile', 'root.pem', '-untrusted', 'untrusted.pem', 'leaf.pem'], {
            cwd: dir,
            encoding: 'utf8',
          })
          assert.equal(r.status, 0, r.stdout + r.stderr)
          assert.match(r.stdout, /leaf\.pem: OK/)
        }
        check(deviceChain(arch))
        check(rimChain(arch))
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }

  test('@peculiar/x509 (the verifier stack) parses and verifies the chains', async () => {
    for (const arch of ARCHS) {
      const chain = deviceChain(arch).map((c) => new x509.X509Certificate(c.der))
      for (let i = 0; i < chain.length; i++) {
        const issuer = chain[Math.min(i + 1, chain.length - 1)]!
        assert.ok(await chain[i]!.verify({ publicKey: issuer.publicKey, signatureOnly: true }), `${arch} ${i}`)
      }
      assert.equal(chain[4]!.subject, 'CN=NVIDIA Device Identity CA, O=NVIDIA')
    }
  })
})

describe('simulated NVIDIA certificates carry what verifiers read', () => {
  test('HOPPER: the leaf FWID extension (2.23.133.5.4.1) holds version 1, the BROM key and the FWID', () => {
    const [leaf, brom] = deviceChain('HOPPER')
    const value = extensionValue(leaf!.der, OID_NVIDIA_FWID)!
    const decoded = hopperFwid(value)
    assert.equal(decoded.version, 1)
    assert.deepEqual(decoded.fwid, FWID)
    assert.deepEqual(decoded.spki, new Uint8Array(new X509Certificate(brom!.der).publicKey.export({ type: 'spki', format: 'der' })))
    // NVIDIA's own readers take the last 48 bytes of the extension value.
    assert.deepEqual(value.subarray(-48), FWID)
    assert.equal(extensionValue(leaf!.der, OID_DICE_TCB_INFO), undefined)
  })

  test('BLACKWELL: the leaf TcbInfo (2.23.133.5.4.1.1) holds the FWID as fwids[0]', () => {
    const [leaf] = deviceChain('BLACKWELL')
    const decoded = blackwellFwid(extensionValue(leaf!.der, OID_DICE_TCB_INFO)!)
    assert.deepEqual(decoded.fwid, FWID)
    assert.equal(decoded.model, 'GB100 A01 GSP')
    assert.equal(decoded.fwids, 2)
    assert.equal(extensionValue(leaf!.der, OID_NVIDIA_FWID), undefined)
  })

  for (const arch of ARCHS) {
    test(`${arch}: serials and names follow NVIDIA's conventions`, () => {
      const [leafDer, bromDer] = deviceChain(arch, 2).map((c) => c.der)
      const [leaf, brom] = [new X509Certificate(leafDer!), new X509Certificate(bromDer!)]
      const chip = arch === 'HOPPER' ? 'GH100' : 'GB100'
      // BROM: serial 0x41‖device id, echoed in the subject serialNumber.
      assert.equal(brom.serialNumber, `41${hex(simulatedGpuDeviceId(arch, 2)).toUpperCase()}`)
      assert.equal(brom.subject, `serialNumber=${brom.serialNumber}\nC=US\nO=NVIDIA Corporation\nCN=${chip} A01 GSP BROM`)
      // Leaf: serial = the key identifier with its first byte forced to 01xxxxxx.
      const ski = hex(extensionValue(leafDer!, '2.5.29.14')!.subarray(2))
      const masked = ((parseInt(ski.slice(0, 2), 16) & 0x7f) | 0x40).toString(16) + ski.slice(2)
      assert.equal(leaf.serialNumber, masked.toUpperCase())
      assert.match(leaf.subject, new RegExp(`^serialNumber=${leaf.serialNumber}\nC=US\nO=NVIDIA Corporation\nCN=${chip} A01 GSP FMC LF$`))
      // SAN: GeneralNames { [0] otherName { type-id, [0] EXPLICIT UTF8String } }.
      const [otherName] = children(readTlv(extensionValue(leafDer!, '2.5.29.17')!))
      const [typeId, explicit] = children(otherName!)
      assert.equal(otherName!.tag, 0xa0)
      assert.equal(decodeOid(content(typeId!)), OID_NVIDIA_SAN_NAME)
      const text = children(explicit!)[0]!
      assert.equal(text.tag, 0x0c)
      assert.match(Buffer.from(content(text)).toString('utf8'), new RegExp(`^NVIDIA:${chip}:48B02D[0-9A-F]{10}$`))
    })
  }

  test('options forge what tests need: another signer, validity, serial, extensions, names', () => {
    const roots = simulatedNvidiaRoots('HOPPER')
    const stranger = deriveEcPrivateKey('vouch/simulated-tee/v1', 'test/stranger')
    const forged = issueGpuBrom({ arch: 'HOPPER', issuer: roots.provisioner, signer: stranger })
    assert.ok(new X509Certificate(forged.der).checkIssued(new X509Certificate(roots.provisioner.der)))
    assert.ok(!verifiesUnder(forged.der, roots.provisioner.der), 'signed by a key that is not the issuer')

    const expired = issueNvidiaRimSigner({
      arch: 'HOPPER',
      issuer: roots.rimL3,
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2021-01-01T00:00:00Z'),
      serial: 7n,
    })
    const e = new X509Certificate(expired.der)
    assert.equal(e.validTo, 'Jan  1 00:00:00 2021 GMT')
    assert.equal(e.serialNumber, '07')
    assert.ok(verifiesUnder(expired.der, roots.rimL3.der))

    const noFwid = issueGpuFmcLeaf({
      arch: 'HOPPER',
      issuer: issueGpuBrom({ arch: 'HOPPER', issuer: roots.provisioner }),
      fwid: FWID,
      extensions: (list) => list.filter((x) => x.oid !== OID_NVIDIA_FWID),
    })
    assert.equal(extensionValue(noFwid.der, OID_NVIDIA_FWID), undefined)

    const renamed = issueNvidiaIdentityCa({ arch: 'HOPPER', issuer: roots.deviceRoot, commonName: 'Someone Else' })
    assert.equal(new X509Certificate(renamed.der).subject, 'CN=Someone Else\nO=NVIDIA Corporation')
    assert.throws(() => issueGpuFmcLeaf({ arch: 'HOPPER', issuer: roots.provisioner, fwid: new Uint8Array(32) }), RangeError)
  })
})

describe('simulated NVIDIA certificates against real ones', { skip: fixturesMissing }, () => {
  const real = (name: string): Uint8Array[] => pemCertificates(join(NVIDIA_FIXTURES, 'cases', name, 'chain.pem'))
  const cases: Array<{ arch: GpuArch; name: string }> = [
    { arch: 'HOPPER', name: 'hopper-h100-580.159.03' },
    { arch: 'BLACKWELL', name: 'blackwell-gb100-575.32' },
  ]
  for (const c of cases) {
    test(`${c.arch}: the device chain has the shape of ${c.name} (names, times, extensions, criticality)`, () => {
      const realChain = real(c.name)
      const simulated = deviceChain(c.arch)
      assert.equal(simulated.length, realChain.length)
      for (const [i, cert] of simulated.entries()) {
        assert.deepEqual(shape(cert.der), shape(realChain[i]!), `certificate ${i}`)
      }
      // Real chains name the same CAs, so the issuer and subject names match byte for byte above the device.
      for (let i = 2; i < 5; i++) {
        const [s, r] = [new X509Certificate(simulated[i]!.der), new X509Certificate(realChain[i]!)]
        assert.equal(s.subject, r.subject)
        assert.equal(s.issuer, r.issuer)
        assert.equal(s.validFrom, r.validFrom)
      }
      // The FWID extension has the real one's structure and size.
      const oid = c.arch === 'HOPPER' ? OID_NVIDIA_FWID : OID_DICE_TCB_INFO
      const [sv, rv] = [extensionValue(simulated[0]!.der, oid)!, extensionValue(realChain[0]!, oid)!]
      assert.equal(sv.length, rv.length)
      assert.deepEqual(
        children(readTlv(sv)).map((t) => [t.tag, t.end - t.start]),
        children(readTlv(rv)).map((t) => [t.tag, t.end - t.start]),
      )
      if (c.arch === 'BLACKWELL') {
        // Everything but the FWID itself equals NVIDIA's TcbInfo.
        const realFwid = blackwellFwid(rv).fwid
        assert.equal(hex(sv).replace(hex(FWID), ''), hex(rv).replace(hex(realFwid), ''))
      }
      assert.equal(extensionValue(simulated[0]!.der, '2.5.29.17')!.length, extensionValue(realChain[0]!, '2.5.29.17')!.length)
    })
  }

  test('HOPPER: the RIM chain has the shape of the one in NVIDIA’s 550.144.03 driver RIM', () => {
    const xml = readFileSync(join(NVIDIA_FIXTURES, 'rims', 'NV_GPU_DRIVER_GH100_550.144.03.xml'), 'utf8')
    const realChain = rimCertificates(xml)
    const simulated = rimChain('HOPPER')
    assert.equal(realChain.length, 4)
    for (const [i, cert] of simulated.entries()) {
      const [s, r] = [shape(cert.der), shape(realChain[i]!)]
      assert.deepEqual({ ...s, notAfter: undefined }, { ...r, notAfter: undefined }, `RIM certificate ${i}`)
    }
    const names = (ders: Uint8Array[]): string[] => ders.map((d) => new X509Certificate(d).subject)
    // NVIDIA's L3 is `… L3 GH100 002` in this RIM and `… 001` in older ones; the others are the same.
    assert.deepEqual(
      names(simulated.map((c) => c.der)).map((n) => n.replace(/ 00\d(?=\n|$)/, ' 00x')),
      names(realChain).map((n) => n.replace(/ 00\d(?=\n|$)/, ' 00x')),
    )
    assert.equal(new X509Certificate(simulated[3]!.der).validFrom, new X509Certificate(realChain[3]!).validFrom)
  })

  test('BLACKWELL: the RIM chain uses the Blackwell names with the Hopper shape', () => {
    const [signer, l3, ca, root] = rimChain('BLACKWELL').map((c) => new X509Certificate(c.der))
    assert.equal(signer!.subject, 'C=US\nST=CA\nL=Santa Clara\nO=NVIDIA Corporation\nCN=RIM L4 Signer')
    assert.equal(l3!.subject, 'CN=NVIDIA Reference Value L3 GB100-CC 001\nO=NVIDIA Corporation\nC=US')
    assert.equal(ca!.subject, 'CN=NVIDIA Reference Value GB1XX CA 001\nO=NVIDIA Corporation\nC=US')
    assert.equal(root!.subject, 'C=US\nO=NVIDIA\nCN=NVIDIA CoRIM signing Root CA')
    const hopper = rimChain('HOPPER')
    for (const [i, cert] of rimChain('BLACKWELL').entries()) {
      const { subject: _s, issuer: _i, ...blackwell } = shape(cert.der)
      const { subject: _hs, issuer: _hi, ...reference } = shape(hopper[i]!.der)
      assert.deepEqual(blackwell, reference)
    }
  })
})
