/**
 * HTTPS: the development certificate is generated once (WebCrypto key, @peculiar/x509 certificate), cached and
 * reused; the server speaks TLS 1.3 and refuses TLS 1.2; configured certificates are checked at start.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { connect, createSecureContext, type TLSSocket } from 'node:tls'
import { DEV_CERT_PUBLIC_FILE, createDevCertificate, createHttpsServer, devCertificateDir, loadConfiguredCertificate, loadDevCertificate, loadTlsCredentials } from '../src/tls.js'

const dir = mkdtempSync(join(tmpdir(), 'vouch-tls-'))
after(() => rmSync(dir, { recursive: true, force: true }))

describe('the development certificate', () => {
  test('is created once, cached with mode 0600, and reused', async () => {
    const cache = join(dir, 'cache')
    const first = await loadDevCertificate(cache)
    assert.equal(first.created, true)
    assert.equal(first.origin, 'development')
    assert.equal(statSync(first.files[0]!).mode & 0o777, 0o600)
    // The certificate alone, for clients to trust: no key in it.
    assert.equal(first.files[1], join(cache, DEV_CERT_PUBLIC_FILE))
    const published = readFileSync(first.files[1]!, 'utf8')
    assert.equal(published, first.cert)
    assert.doesNotMatch(published, /PRIVATE KEY/)
    rmSync(first.files[1]!)
    const second = await loadDevCertificate(cache)
    assert.equal(readFileSync(first.files[1]!, 'utf8'), first.cert, 'written again when missing')
    assert.equal(second.created, false)
    assert.equal(second.fingerprint256, first.fingerprint256)
    assert.match(first.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
  })

  test('covers localhost, 127.0.0.1 and ::1, for server authentication, for a year', async () => {
    const { cert } = await createDevCertificate(new Date('2030-01-01T00:00:00Z'))
    const x509 = new X509Certificate(cert)
    assert.match(x509.subjectAltName ?? '', /DNS:localhost/)
    assert.match(x509.subjectAltName ?? '', /IP Address:127\.0\.0\.1/)
    assert.match(x509.subjectAltName ?? '', /IP Address:(::1|0:0:0:0:0:0:0:1)/)
    assert.equal(x509.ca, false)
    assert.ok(x509.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), 'serverAuth')
    assert.equal(x509.checkHost('localhost'), 'localhost')
    assert.equal(x509.checkIP('127.0.0.1'), '127.0.0.1')
    assert.equal(new Date(x509.validTo).toISOString(), '2031-01-01T00:00:00.000Z')
    assert.equal(new Date(x509.validFrom).toISOString(), '2029-12-31T23:00:00.000Z')
    assert.ok(x509.verify(x509.publicKey), 'self-signed')
  })

  test('is RSA-2048 signed with SHA-256, for CN=localhost', async () => {
    const { cert, key } = await createDevCertificate(new Date('2030-01-01T00:00:00Z'))
    const x509 = new X509Certificate(cert)
    assert.equal(x509.publicKey.asymmetricKeyType, 'rsa')
    assert.equal(x509.publicKey.asymmetricKeyDetails?.modulusLength, 2048)
    assert.equal(x509.subject, 'CN=localhost\nO=Vouch development (self-signed)')
    assert.equal(x509.issuer, x509.subject)
    assert.ok(x509.checkPrivateKey(createPrivateKey(key)))
    assert.match(key, /^-----BEGIN PRIVATE KEY-----\n/)
    assert.match(cert, /^-----BEGIN CERTIFICATE-----\r?\n/)
  })

  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' })
  test('OpenSSL reads the extensions a TLS server certificate needs, and no more', { skip: openssl.status === 0 ? false : 'openssl is not installed' }, async () => {
    const { cert } = await createDevCertificate(new Date('2030-01-01T00:00:00Z'))
    const dump = execFileSync('openssl', ['x509', '-noout', '-text'], { input: cert, encoding: 'utf8' })
    assert.match(dump, /Signature Algorithm: sha256WithRSAEncryption/)
    const extensions = [...dump.matchAll(/^ {12}(X509v3 [^:]+):( critical)?/gm)].map((m) => `${m[1]}${m[2] ?? ''}`)
    assert.deepEqual(extensions, ['X509v3 Basic Constraints critical', 'X509v3 Key Usage critical', 'X509v3 Extended Key Usage', 'X509v3 Subject Alternative Name', 'X509v3 Subject Key Identifier'])
    assert.match(dump, /X509v3 Basic Constraints: critical\s+CA:FALSE\n/)
    assert.match(dump, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/)
    assert.match(dump, /X509v3 Extended Key Usage: \s*TLS Web Server Authentication\n/)
  })

  test('a serial number from any random bytes is one OpenSSL takes, leading zeros included', async () => {
    for (const start of [[0, 0, 0x10], [0x80, 0, 0], [0xff, 0xff, 0xff]]) {
      const random = Buffer.alloc(16, 0x22)
      random.set(start)
      const { cert, key } = await createDevCertificate(new Date(), random)
      assert.doesNotThrow(() => createSecureContext({ cert, key }), `serial from ${Buffer.from(start).toString('hex')}…`)
      assert.match(new X509Certificate(cert).serialNumber, /^[4-7][0-9A-F]{31}$/)
    }
  })

  test('is replaced when it nears expiry, or when the cached file is not usable', async () => {
    const cache = join(dir, 'renew')
    const first = await loadDevCertificate(cache)
    const later = await loadDevCertificate(cache, new Date(Date.now() + 340 * 24 * 3600 * 1000))
    assert.equal(later.created, true)
    assert.notEqual(later.fingerprint256, first.fingerprint256)
    assert.equal(readFileSync(later.files[1]!, 'utf8'), later.cert, 'clients are told to trust the new one')
    writeFileSync(later.files[0]!, 'not a certificate')
    assert.equal((await loadDevCertificate(cache)).created, true)
  })

  test('lives under $VOUCH_CACHE_DIR, else $XDG_CACHE_HOME, else ~/.cache', () => {
    assert.equal(devCertificateDir({ VOUCH_CACHE_DIR: '/c' }), '/c/tls')
    assert.equal(devCertificateDir({ XDG_CACHE_HOME: '/x' }), '/x/vouch/tls')
    assert.match(devCertificateDir({}), /\.cache\/vouch\/tls$/)
  })
})

describe('configured certificates', () => {
  test('are read and checked; a key that is not the certificate’s is refused, naming the file', async () => {
    const a = await createDevCertificate()
    const b = await createDevCertificate()
    writeFileSync(join(dir, 'a.crt'), a.cert)
    writeFileSync(join(dir, 'a.key'), a.key)
    writeFileSync(join(dir, 'b.key'), b.key)
    const ok = loadConfiguredCertificate(join(dir, 'a.crt'), join(dir, 'a.key'))
    assert.equal(ok.origin, 'configured')
    assert.equal(ok.fingerprint256, new X509Certificate(a.cert).fingerprint256)
    assert.throws(() => loadConfiguredCertificate(join(dir, 'a.crt'), join(dir, 'b.key')), (e: Error & { code?: string }) => e.code === 'ERR_HOST_TLS_INVALID' && e.message.includes('b.key'))
    assert.throws(() => loadConfiguredCertificate(join(dir, 'a.key'), join(dir, 'a.key')), (e: Error & { code?: string }) => e.code === 'ERR_HOST_TLS_INVALID' && e.message.includes('not a PEM certificate'))
    assert.throws(() => loadConfiguredCertificate(join(dir, 'missing.crt'), join(dir, 'a.key')), (e: Error & { code?: string }) => e.code === 'ERR_HOST_TLS_INVALID' && e.message.includes('ENOENT'))
    const viaConfig = await loadTlsCredentials({ cert: join(dir, 'a.crt'), key: join(dir, 'a.key') })
    assert.equal(viaConfig.fingerprint256, ok.fingerprint256)
  })
})

describe('the HTTPS server', () => {
  test('serves TLS 1.3 with the development certificate and refuses TLS 1.2', async () => {
    const credentials = await loadDevCertificate(join(dir, 'server'))
    const server = createHttpsServer(credentials, (_req, res) => res.end('ok'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as AddressInfo).port
    try {
      const hello = (options: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; servername?: string }): Promise<TLSSocket> =>
        new Promise((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port, ca: credentials.cert, ...options }, () => resolve(socket))
          socket.once('error', reject)
        })
      const tls13 = await hello({ servername: 'localhost' })
      assert.equal(tls13.getProtocol(), 'TLSv1.3')
      assert.equal(tls13.authorized, true)
      assert.equal(tls13.getPeerX509Certificate()?.fingerprint256, credentials.fingerprint256)
      tls13.destroy()
      // By IP address: the certificate names 127.0.0.1 too.
      const byIp = await hello({})
      assert.equal(byIp.authorized, true)
      byIp.destroy()
      await assert.rejects(hello({ maxVersion: 'TLSv1.2', servername: 'localhost' }), (e: NodeJS.ErrnoException) => /version|protocol/i.test(`${e.code} ${e.message}`))
      // An HTTPS request end to end, pinned to the certificate.
      const { request } = await import('node:https')
      const body = await new Promise<string>((resolve, reject) => {
        request({ host: 'localhost', port, path: '/', ca: credentials.cert }, (res) => {
          let text = ''
          res.on('data', (c: Buffer) => (text += c.toString()))
          res.on('end', () => resolve(text))
        })
          .on('error', reject)
          .end()
      })
      assert.equal(body, 'ok')
    } finally {
      server.close()
    }
  })
})

test('the cached file holds the key and the certificate together', async () => {
  const cache = join(dir, 'one-file')
  const loaded = await loadDevCertificate(cache)
  const text = readFileSync(loaded.files[0]!, 'utf8')
  assert.match(text, /-----BEGIN PRIVATE KEY-----[\s\S]+-----BEGIN CERTIFICATE-----/)
})
