/**
 * HTTPS for the host: TLS 1.3 only, with the configured certificate and key, or a self-signed development
 * certificate for `localhost`, `127.0.0.1` and `::1`, generated once and cached (`$VOUCH_CACHE_DIR/tls/`,
 * else `$XDG_CACHE_HOME/vouch/tls/`, else `~/.cache/vouch/tls/`): `localhost.pem` holds key and certificate
 * (mode 0600), `localhost.crt` the certificate alone, for clients to trust. The key pair comes from WebCrypto
 * (node:crypto's); @peculiar/x509, the X.509 library the tests already build their PKIs with, builds and signs the
 * certificate. The SHA-256 fingerprint is printed at start so clients can pin it.
 */
// @peculiar/x509 resolves its ASN.1 codecs through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata'
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { RequestListener } from 'node:http'
import * as x509 from '@peculiar/x509'
import { derToPem } from '@vouch/protocol'
import { HostStartupError } from './errors.js'

/** The only TLS version the host speaks. */
export const TLS_MIN_VERSION = 'TLSv1.3'
/** Names the development certificate is valid for. */
export const DEV_CERT_NAMES = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] } as const
/** Lifetime of a development certificate. */
export const DEV_CERT_LIFETIME_DAYS = 365
/** A cached development certificate closer than this to expiry is replaced. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000
const DEV_CERT_FILE = 'localhost.pem'
/** The certificate alone, for clients to trust (`vouch --ca`, `curl --cacert`). */
export const DEV_CERT_PUBLIC_FILE = 'localhost.crt'

/** The certificate and key the server uses. */
export interface TlsCredentials {
  /** PEM certificate (chain). */
  cert: string
  /** PEM private key. */
  key: string
  /** SHA-256 fingerprint of the (first) certificate, colon-separated upper-case hex, as OpenSSL prints it. */
  fingerprint256: string
  /** `configured` (from files) or `development` (the cached self-signed one). */
  origin: 'configured' | 'development'
  /** The file(s) they came from. */
  files: string[]
  /**
   * The file clients trust or pin (`vouch --ca FILE`, `curl --cacert FILE`): the certificate alone, never the key.
   * Development: `localhost.crt` (`localhost.pem` holds the private key too); configured: `tls.cert`.
   */
  trustFile: string
}

/** Where development certificates are cached. */
export function devCertificateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['VOUCH_CACHE_DIR']) return join(env['VOUCH_CACHE_DIR'], 'tls')
  if (env['XDG_CACHE_HOME']) return join(env['XDG_CACHE_HOME'], 'vouch', 'tls')
  return join(homedir(), '.cache', 'vouch', 'tls')
}

/** RSA-2048 with SHA-256 (sha256WithRSAEncryption): a key type every TLS client takes. */
const DEV_CERT_ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }

/**
 * A new self-signed certificate for {@link DEV_CERT_NAMES}: an RSA-2048 key from WebCrypto, the certificate built and
 * signed with @peculiar/x509. `random`: the 16 bytes the serial number is made of (unset: fresh random bytes).
 */
export async function createDevCertificate(now = new Date(), random: Uint8Array = randomBytes(16)): Promise<{ cert: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(DEV_CERT_ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  // First byte 0x40-0x7f: a positive INTEGER with no leading zero, 16 bytes long whatever the random bytes are (a
  // serial written from bytes starting 00 00 was once a non-minimal INTEGER OpenSSL refuses, so the host could not start).
  const serial = Buffer.from(random)
  serial[0] = (serial[0]! & 0x3f) | 0x40
  // node:crypto's WebCrypto, typed as the DOM's Crypto that @peculiar/x509 declares (the host compiles without the DOM lib).
  const crypto = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: [{ CN: ['localhost'] }, { O: ['Vouch development (self-signed)'] }],
      notBefore: new Date(now.getTime() - 3600 * 1000),
      notAfter: new Date(now.getTime() + DEV_CERT_LIFETIME_DAYS * 24 * 3600 * 1000),
      keys,
      signingAlgorithm: DEV_CERT_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([...DEV_CERT_NAMES.dns.map((value) => ({ type: 'dns' as const, value })), ...DEV_CERT_NAMES.ip.map((value) => ({ type: 'ip' as const, value }))]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  )
  const key = derToPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey))
  return { cert: derToPem('CERTIFICATE', cert.rawData), key }
}

/** The reason a cached development certificate cannot be reused, or null when it can. */
function unusable(cert: X509Certificate, keyPem: string, now: Date): string | null {
  if (new Date(cert.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return 'expires soon'
  if (new Date(cert.validFrom).getTime() > now.getTime()) return 'not valid yet'
  const san = cert.subjectAltName ?? ''
  for (const dns of DEV_CERT_NAMES.dns) if (!san.includes(`DNS:${dns}`)) return `no SAN for ${dns}`
  if (!san.includes('IP Address:127.0.0.1') || !/IP Address:(::1|0:0:0:0:0:0:0:1)\b/.test(san)) return 'no SAN for the loopback addresses'
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return 'the key does not match'
  return null
}

/**
 * The cached development certificate in `dir`, created (and cached) when there is none, or when the cached
 * one is unreadable, expires within 30 days or does not cover the loopback names.
 */
export async function loadDevCertificate(dir = devCertificateDir(), now = new Date()): Promise<TlsCredentials & { created: boolean }> {
  const file = join(dir, DEV_CERT_FILE)
  try {
    const pem = readFileSync(file, 'utf8')
    const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\r?\n?/.exec(pem)?.[0]
    const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\r?\n?/.exec(pem)?.[0]
    if (key !== undefined && cert !== undefined) {
      const x509 = new X509Certificate(cert)
      if (unusable(x509, key, now) === null) {
        publishCertificate(dir, cert)
        return { cert, key, fingerprint256: x509.fingerprint256, origin: 'development', files: [file, join(dir, DEV_CERT_PUBLIC_FILE)], trustFile: join(dir, DEV_CERT_PUBLIC_FILE), created: false }
      }
    }
  } catch {
    // none cached, or unreadable: make one
  }
  const created = await createDevCertificate(now)
  // Key and certificate in one file, replaced atomically, so two hosts starting together never pair one's key with the other's certificate.
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  writeAtomically(file, created.key + created.cert, 0o600)
  publishCertificate(dir, created.cert)
  return { ...created, fingerprint256: new X509Certificate(created.cert).fingerprint256, origin: 'development', files: [file, join(dir, DEV_CERT_PUBLIC_FILE)], trustFile: join(dir, DEV_CERT_PUBLIC_FILE), created: true }
}

/** Writes `file` through a temporary file and a rename, so readers never see half of it. */
function writeAtomically(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    writeFileSync(tmp, text, { mode })
    renameSync(tmp, file)
  } catch (error) {
    rmSync(tmp, { force: true })
    throw new HostStartupError('ERR_HOST_TLS_INVALID', `cannot cache the development certificate in ${dirname(file)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error })
  }
}

/** Keeps {@link DEV_CERT_PUBLIC_FILE} equal to the certificate in use: what clients are told to trust. */
function publishCertificate(dir: string, cert: string): void {
  const file = join(dir, DEV_CERT_PUBLIC_FILE)
  let current: string | null = null
  try {
    current = readFileSync(file, 'utf8')
  } catch {
    // not written yet
  }
  if (current !== cert) writeAtomically(file, cert, 0o644)
}

/** Reads and checks a configured certificate and key; `ERR_HOST_TLS_INVALID` names the file that is wrong. */
export function loadConfiguredCertificate(certFile: string, keyFile: string): TlsCredentials {
  const read = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8')
    } catch (error) {
      throw new HostStartupError('ERR_HOST_TLS_INVALID', `tls.${what} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error })
    }
  }
  const cert = read(certFile, 'cert')
  const key = read(keyFile, 'key')
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch (error) {
    throw new HostStartupError('ERR_HOST_TLS_INVALID', `tls.cert ${certFile}: not a PEM certificate`, { cause: error })
  }
  let privateKey: ReturnType<typeof createPrivateKey>
  try {
    privateKey = createPrivateKey(key)
  } catch (error) {
    throw new HostStartupError('ERR_HOST_TLS_INVALID', `tls.key ${keyFile}: not a PEM private key (or it is encrypted)`, { cause: error })
  }
  if (!x509.checkPrivateKey(privateKey)) throw new HostStartupError('ERR_HOST_TLS_INVALID', `tls.key ${keyFile}: is not the key of the certificate in ${certFile}`)
  return { cert, key, fingerprint256: x509.fingerprint256, origin: 'configured', files: [certFile, keyFile], trustFile: certFile }
}

/** The configured certificate, or the cached development one when none is configured. */
export async function loadTlsCredentials(tls: { cert: string | null; key: string | null }, env: NodeJS.ProcessEnv = process.env): Promise<TlsCredentials> {
  if (tls.cert !== null && tls.key !== null) return loadConfiguredCertificate(tls.cert, tls.key)
  return loadDevCertificate(devCertificateDir(env))
}

/** An HTTPS server speaking TLS 1.3 only. */
export function createHttpsServer(credentials: Pick<TlsCredentials, 'cert' | 'key'>, listener: RequestListener): Server {
  return createServer({ cert: credentials.cert, key: credentials.key, minVersion: TLS_MIN_VERSION }, listener)
}
