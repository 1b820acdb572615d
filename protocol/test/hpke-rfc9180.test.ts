/**
 * The HPKE suite behind the sealed envelope against RFC 9180's published vectors (vectors/ names their
 * sources): A.1.1 (X25519, HKDF-SHA256, AES-128-GCM) and the same KEM and KDF with AES-256-GCM, the
 * suite Vouch uses, through the very code path the envelope runs (node:crypto primitives under `hpke`),
 * with only the AEAD's key size changed. Then a cross-check against `hpke`'s own WebCrypto suite.
 */
import assert from 'node:assert/strict'
import { createDecipheriv } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import * as HPKE from 'hpke'
import { fromHex, toHex } from '@vouch/protocol'
import { createNodeSuite, kemX25519Node, X25519Key, x25519PrivateKeyFromRaw, x25519RawPublic } from '../src/hpke-suite.js'

interface Vector {
  name: string
  aead_id: 1 | 2
  info: string
  ikmE: string
  pkEm: string
  skEm: string
  ikmR: string
  pkRm: string
  skRm: string
  enc: string
  shared_secret: string
  key: string
  base_nonce: string
  encryptions: { seq: number; aad: string; pt: string; ct: string }[]
  exports: { exporter_context: string; L: number; exported_value: string }[]
}

const file = JSON.parse(readFileSync(new URL('./vectors/rfc9180-x25519-sha256.json', import.meta.url), 'utf8')) as { vectors: Vector[] }

/** The AEAD nonce for `seq` (RFC 9180 §5.2 ComputeNonce). */
function computeNonce(baseNonce: Uint8Array, seq: number): Uint8Array {
  const nonce = Uint8Array.from(baseNonce)
  const view = new DataView(nonce.buffer)
  view.setUint32(8, view.getUint32(8) ^ seq)
  return nonce
}

for (const v of file.vectors) {
  const aead = v.aead_id === 1 ? 'AES-128-GCM' : 'AES-256-GCM'
  describe(`RFC 9180 ${v.name}: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ${aead}, base mode`, () => {
    test('the transcribed key and base_nonce open the transcribed ciphertexts (the vector is intact)', () => {
      for (const e of v.encryptions) {
        const d = createDecipheriv(v.aead_id === 1 ? 'aes-128-gcm' : 'aes-256-gcm', fromHex(v.key), computeNonce(fromHex(v.base_nonce), e.seq))
        const ct = fromHex(e.ct)
        d.setAAD(fromHex(e.aad))
        d.setAuthTag(ct.subarray(ct.length - 16))
        assert.equal(toHex(Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()])), e.pt)
      }
    })

    test('DeriveKeyPair gives skEm/pkEm from ikmE and skRm/pkRm from ikmR', async () => {
      const suite = createNodeSuite({ aead })
      for (const [ikm, sk, pk] of [
        [v.ikmE, v.skEm, v.pkEm],
        [v.ikmR, v.skRm, v.pkRm],
      ] as const) {
        const pair = await suite.DeriveKeyPair(fromHex(ikm), true)
        assert.equal(toHex(await suite.SerializePrivateKey(pair.privateKey)), sk)
        assert.equal(toHex(await suite.SerializePublicKey(pair.publicKey)), pk)
      }
    })

    test('Encap with the vector ephemeral gives enc and shared_secret; Decap agrees', async () => {
      const kem = kemX25519Node(() => x25519PrivateKeyFromRaw(fromHex(v.skEm)))()
      const skR = x25519PrivateKeyFromRaw(fromHex(v.skRm))
      const pkR = await kem.DeserializePublicKey(fromHex(v.pkRm))
      const { enc, shared_secret } = await kem.Encap(pkR)
      assert.equal(toHex(enc), v.enc)
      assert.equal(toHex(shared_secret), v.shared_secret)
      assert.equal(toHex(await kem.Decap(enc, new X25519Key(skR), undefined)), v.shared_secret)
      assert.equal(toHex(x25519RawPublic(skR)), v.pkRm)
    })

    test('the sender seals every listed encryption and exports every listed value', async () => {
      const suite = createNodeSuite({ aead, ephemeral: () => x25519PrivateKeyFromRaw(fromHex(v.skEm)) })
      const pkR = await suite.DeserializePublicKey(fromHex(v.pkRm))
      const { encapsulatedSecret, ctx } = await suite.SetupSender(pkR, { info: fromHex(v.info) })
      assert.equal(toHex(encapsulatedSecret), v.enc)
      const last = Math.max(...v.encryptions.map((e) => e.seq))
      const pt = fromHex(v.encryptions[0]!.pt)
      for (let seq = 0; seq <= last; seq++) {
        const ct = await ctx.Seal(pt, new TextEncoder().encode(`Count-${seq}`))
        const want = v.encryptions.find((e) => e.seq === seq)
        if (want !== undefined) assert.equal(toHex(ct), want.ct, `seq ${seq}`)
      }
      for (const x of v.exports) assert.equal(toHex(await ctx.Export(fromHex(x.exporter_context), x.L)), x.exported_value, `export ${x.exporter_context}`)
    })

    test('the recipient opens every listed encryption and exports every listed value', async () => {
      const suite = createNodeSuite({ aead })
      const skR = await suite.DeserializePrivateKey(fromHex(v.skRm), false)
      const recipient = await suite.SetupRecipient(skR, fromHex(v.enc), { info: fromHex(v.info) })
      // A recipient context only counts up on successful opens; the unlisted sequence numbers (3, 5–254)
      // are filled with ciphertexts from the deterministic sender, which match the RFC's where listed.
      const senderSuite = createNodeSuite({ aead, ephemeral: () => x25519PrivateKeyFromRaw(fromHex(v.skEm)) })
      const { ctx: sender } = await senderSuite.SetupSender(await senderSuite.DeserializePublicKey(fromHex(v.pkRm)), { info: fromHex(v.info) })
      const pt = fromHex(v.encryptions[0]!.pt)
      const last = Math.max(...v.encryptions.map((e) => e.seq))
      for (let seq = 0; seq <= last; seq++) {
        const aad = new TextEncoder().encode(`Count-${seq}`)
        const ours = await sender.Seal(pt, aad)
        const want = v.encryptions.find((e) => e.seq === seq)
        const opened = await recipient.Open(want === undefined ? ours : fromHex(want.ct), aad)
        if (want !== undefined) assert.equal(toHex(opened), want.pt, `seq ${seq}`)
      }
      for (const x of v.exports) assert.equal(toHex(await recipient.Export(fromHex(x.exporter_context), x.L)), x.exported_value)
    })

    if (aead === 'AES-256-GCM') {
      test('opened in place (the enclave\'s way), the listed ciphertexts give the listed plaintexts, over their own bytes', async () => {
        const suite = createNodeSuite({ openInPlace: true })
        const recipient = await suite.SetupRecipient(await suite.DeserializePrivateKey(fromHex(v.skRm), false), fromHex(v.enc), { info: fromHex(v.info) })
        // A recipient counts only successful opens: seq 1 tried first fails (under seq 0's nonce), and its bytes are
        // zeroed; then every listed one in order opens.
        const [first, second] = [v.encryptions.find((e) => e.seq === 0)!, v.encryptions.find((e) => e.seq === 1)!]
        const early = fromHex(second.ct)
        await assert.rejects(recipient.Open(early, fromHex(second.aad)))
        assert.ok(early.subarray(0, early.length - 16).every((b) => b === 0))
        for (const e of [first, second]) {
          const ct = fromHex(e.ct)
          const opened = await recipient.Open(ct, fromHex(e.aad))
          assert.equal(toHex(opened), e.pt, `seq ${e.seq}`)
          assert.equal(opened.buffer, ct.buffer)
        }
      })
    } else {
      test('opening in place is refused for AES-128-GCM (Vouch opens in place only under its own suite)', () => {
        assert.throws(() => createNodeSuite({ aead, openInPlace: true }), TypeError)
      })
    }
  })
}

describe('cross-check with the hpke package’s own WebCrypto suite (AES-256-GCM)', () => {
  const webcrypto = new HPKE.CipherSuite(HPKE.KEM_DHKEM_X25519_HKDF_SHA256, HPKE.KDF_HKDF_SHA256, HPKE.AEAD_AES_256_GCM)
  const info = new TextEncoder().encode('vouch/request/v1kid-1')
  const pt = new TextEncoder().encode('a message sealed by one implementation and opened by the other')

  test('node:crypto seals, WebCrypto opens, and both export the same secret', async () => {
    const recipient = await webcrypto.GenerateKeyPair(true)
    const ours = createNodeSuite()
    const pkR = await ours.DeserializePublicKey(await webcrypto.SerializePublicKey(recipient.publicKey))
    const { encapsulatedSecret, ctx } = await ours.SetupSender(pkR, { info })
    const ct = await ctx.Seal(pt)
    const theirs = await webcrypto.SetupRecipient(recipient, encapsulatedSecret, { info })
    assert.deepEqual(await theirs.Open(ct), pt)
    const label = new TextEncoder().encode('vouch/response/v1')
    assert.deepEqual(await theirs.Export(label, 32), await ctx.Export(label, 32))
  })

  test('WebCrypto seals, node:crypto opens', async () => {
    const ours = createNodeSuite()
    const pair = await ours.GenerateKeyPair(false)
    const pkR = await webcrypto.DeserializePublicKey(await ours.SerializePublicKey(pair.publicKey))
    const { encapsulatedSecret, ctx } = await webcrypto.SetupSender(pkR, { info })
    const ct = await ctx.Seal(pt)
    const mine = await ours.SetupRecipient(pair, encapsulatedSecret, { info })
    assert.deepEqual(await mine.Open(ct), pt)
  })
})
