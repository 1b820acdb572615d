/**
 * Measured floors (issue 14): what each part of the confidential round trip cannot cost less than on this machine,
 * so a hop of the per-hop table (bench/hops.bench.ts) can be judged against a measurement, not an estimate.
 * - *a local socket hop*: a request of the classifier's sealed size out and its answer back, to a child process that
 *   does nothing else (bench/lib/echo-server.ts), over a Unix socket framed as the enclave link frames (what the
 *   host ↔ enclave hop adds to the plain path), and over HTTPS with the host's TLS settings and the client's own
 *   transport (the client ↔ server hop both paths have);
 * - *the cryptography*, each of Vouch's calls beside the bare node:crypto operations it is made of: HPKE seal and open
 *   of the request (X25519 and AES-256-GCM), the receipt's Ed25519 signature and its check;
 * - *durability*: one small write made durable (`fdatasync`), on the event loop and on libuv's thread pool, as the
 *   receipt log's commit needs it;
 * - *touching the detector's bytes*: one copy, SHA-256, and AES-256-GCM of its 4.9 MB request, whole and in 64 KiB
 *   pieces (the figures issue 14 starts from).
 * Run alone: node --conditions=@vouch/source --import tsx bench/floors.bench.ts (after `npm run build`).
 */
import { createCipheriv, createHash, diffieHellman, generateKeyPairSync, randomBytes, randomUUID, sign, verify } from 'node:crypto'
import { closeSync, fdatasync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadDevCertificate } from '@vouch/host'
import { encodeRequestPlaintext, openRequest, sealRequest, signReceipt, verifyReceiptSignature, receiptCommitment, type ReceiptPayload, type TensorData } from '@vouch/protocol'
import { createHttpsTransport } from '../client/src/http.js'
import { generateKeyset } from '../enclave/src/service/keys.js'
import { readSample } from '../enclave/test/inference/helpers/models.js'
import { measure, ms, type Timing } from './lib/measure.js'
import { startEchoServer, type ServerProcess } from './lib/servers.js'

/** The classifier's sealed answer is about this size (outputs and the receipt, sealed); the floor hardly depends on it. */
const ANSWER_BYTES = 2_048
const SOCKET_RUNS = { runs: 400, warmup: 100 }
const CPU_RUNS = { runs: 400, warmup: 100 }
const BIG_RUNS = { runs: 30, warmup: 5 }
const PIECE = 64 * 1024

/** One floor: what, its measured time. */
interface Floor {
  group: string
  what: string
  timing: Timing
}

/** The request plaintext the client seals for `model`'s sample inputs. */
export function requestPlaintext(model: 'ppocr-cls' | 'ppocr-det'): Uint8Array {
  const inputs: TensorData[] = readSample(model)
  return encodeRequestPlaintext({ v: 1, id: randomUUID(), ts: Date.now(), model: { name: model }, inputs })
}

/** A round trip to the framing echo server over `socket`: one frame of `body` out, one frame back. */
function framedExchange(socket: Socket, body: Uint8Array): () => Promise<void> {
  const head = Buffer.allocUnsafe(4)
  head.writeUInt32BE(body.length, 0)
  return () =>
    new Promise<void>((resolve) => {
      let got = 0
      const onData = (chunk: Buffer): void => {
        got += chunk.length
        if (got < 4 + ANSWER_BYTES) return
        socket.off('data', onData)
        resolve()
      }
      socket.on('data', onData)
      socket.cork()
      socket.write(head)
      socket.write(body)
      socket.uncork()
    })
}

async function socketFloors(sealed: Uint8Array, scratch: string): Promise<Floor[]> {
  const servers: ServerProcess[] = []
  try {
    const unix = await startEchoServer({ mode: 'unix', responseBytes: ANSWER_BYTES, path: join(scratch, 'echo.sock') })
    servers.push(unix)
    const tlsDir = join(scratch, 'tls')
    const { cert } = await loadDevCertificate(tlsDir)
    const https = await startEchoServer({ mode: 'https', responseBytes: ANSWER_BYTES, certDir: tlsDir })
    servers.push(https)
    const socket = connect(unix.url)
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    socket.setNoDelay(true)
    const link = await measure(framedExchange(socket, sealed), SOCKET_RUNS)
    socket.destroy()
    const transport = createHttpsTransport({ ca: cert, timeoutMs: 30_000 })
    const url = new URL('/v2/models/ppocr-cls/infer', https.url)
    const exchange = await measure(
      () => transport.request({ method: 'POST', url, headers: { 'content-type': 'application/octet-stream' }, body: sealed, maxBytes: 1 << 20 }),
      SOCKET_RUNS,
    )
    transport.close()
    return [
      { group: 'a local socket hop', what: `Unix socket, ${sealed.length.toLocaleString('en')} B framed out, ${ANSWER_BYTES} B back (what the host ↔ enclave hop adds)`, timing: link },
      { group: 'a local socket hop', what: `HTTPS (TLS 1.3, kept alive, the client's transport), ${sealed.length.toLocaleString('en')} B POST, ${ANSWER_BYTES} B answer`, timing: exchange },
    ]
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()))
  }
}

async function cryptoFloors(plaintext: Uint8Array): Promise<Floor[]> {
  const keyset = generateKeyset()
  const recipient = generateKeyPairSync('x25519')
  const aesKey = randomBytes(32)
  const gcm = (data: Uint8Array): void => {
    const cipher = createCipheriv('aes-256-gcm', aesKey, randomBytes(12))
    cipher.update(data)
    cipher.final()
    cipher.getAuthTag()
  }
  const { body } = await sealRequest(keyset.public.enc, keyset.public.kid, plaintext)
  const opening = randomBytes(32)
  const payload: ReceiptPayload = {
    v: 2,
    id: randomUUID(),
    iat: Math.floor(Date.now() / 1000),
    model: { name: 'ppocr-cls', version: '1', digest: `sha256:${'0'.repeat(64)}` },
    request: receiptCommitment(opening, plaintext),
    response: receiptCommitment(opening, randomBytes(64)),
    keyset: `sha256:${'1'.repeat(64)}`,
    evidence: `sha256:${'2'.repeat(64)}`,
    platform: 'sev-snp',
    attribution: [{ role: 'publisher', id: 'example.org', name: 'Example' }],
  }
  const jws = await signReceipt(payload, keyset.sigPrivateKey, keyset.public.kid)
  const signingInput = Buffer.from(jws.slice(0, jws.lastIndexOf('.')), 'ascii')
  // The bare check's own key pair, as KeyObjects (the keyset's public half is a JWK).
  const ed25519 = generateKeyPairSync('ed25519')
  const bareSignature = sign(null, signingInput, ed25519.privateKey)
  const size = `${plaintext.length.toLocaleString('en')} B`
  return [
    { group: 'cryptography', what: `seal the request (\`sealRequest\`, ${size})`, timing: await measure(() => sealRequest(keyset.public.enc, keyset.public.kid, plaintext), CPU_RUNS) },
    {
      group: 'cryptography',
      what: `bare: an X25519 key pair, one X25519 agreement, AES-256-GCM of ${size}`,
      timing: await measure(() => {
        const ephemeral = generateKeyPairSync('x25519')
        diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient.publicKey })
        gcm(plaintext)
      }, CPU_RUNS),
    },
    { group: 'cryptography', what: `open the request (\`openRequest\`, ${size})`, timing: await measure(() => openRequest(keyset.encPrivateKey, keyset.public.kid, body), CPU_RUNS) },
    {
      group: 'cryptography',
      what: `bare: one X25519 agreement, AES-256-GCM of ${size}`,
      timing: await measure(() => {
        diffieHellman({ privateKey: recipient.privateKey, publicKey: recipient.publicKey })
        gcm(plaintext)
      }, CPU_RUNS),
    },
    { group: 'cryptography', what: 'sign the receipt (`signReceipt`: canonical JSON, Ed25519)', timing: await measure(() => signReceipt(payload, keyset.sigPrivateKey, keyset.public.kid), CPU_RUNS) },
    { group: 'cryptography', what: `bare: one Ed25519 signature of its ${signingInput.length} B`, timing: await measure(() => sign(null, signingInput, keyset.sigPrivateKey), CPU_RUNS) },
    { group: 'cryptography', what: "check the receipt's signature (`verifyReceiptSignature`: decode, Ed25519)", timing: await measure(() => verifyReceiptSignature(jws, keyset.public.sig), CPU_RUNS) },
    { group: 'cryptography', what: 'bare: one Ed25519 check', timing: await measure(() => verify(null, signingInput, ed25519.publicKey, bareSignature), CPU_RUNS) },
  ]
}

async function durabilityFloors(scratch: string): Promise<Floor[]> {
  const fd = openSync(join(scratch, 'durable'), 'w')
  const entry = randomBytes(1_600)
  try {
    return [
      {
        group: 'durability',
        what: `write ${entry.length.toLocaleString('en')} B and \`fdatasync\` it on the event loop (blocking)`,
        timing: await measure(() => {
          writeSync(fd, entry)
          fdatasyncSync(fd)
        }, CPU_RUNS),
      },
      {
        group: 'durability',
        what: `the same, \`fdatasync\` on libuv's thread pool (what the receipt log's commit waits for)`,
        timing: await measure(() => {
          writeSync(fd, entry)
          return new Promise<void>((resolve, reject) => fdatasync(fd, (error) => (error === null ? resolve() : reject(error))))
        }, CPU_RUNS),
      },
    ]
  } finally {
    closeSync(fd)
  }
}

async function detectorFloors(plaintext: Uint8Array): Promise<Floor[]> {
  const key = randomBytes(32)
  const size = `${(plaintext.length / 1e6).toFixed(1)} MB`
  const inPieces = (each: (piece: Uint8Array) => void): void => {
    for (let at = 0; at < plaintext.length; at += PIECE) each(plaintext.subarray(at, at + PIECE))
  }
  return [
    { group: "touching the detector's bytes", what: `one copy of ${size}`, timing: await measure(() => Uint8Array.from(plaintext), BIG_RUNS) },
    { group: "touching the detector's bytes", what: `SHA-256 of ${size}`, timing: await measure(() => createHash('sha256').update(plaintext).digest(), BIG_RUNS) },
    {
      group: "touching the detector's bytes",
      what: `AES-256-GCM of ${size} in one call (output allocated whole)`,
      timing: await measure(() => {
        const cipher = createCipheriv('aes-256-gcm', key, randomBytes(12))
        cipher.update(plaintext)
        cipher.final()
      }, BIG_RUNS),
    },
    {
      group: "touching the detector's bytes",
      what: `AES-256-GCM and SHA-256 of ${size} together, in 64 KiB pieces (each byte touched once while in cache)`,
      timing: await measure(() => {
        const cipher = createCipheriv('aes-256-gcm', key, randomBytes(12))
        const hash = createHash('sha256')
        inPieces((piece) => {
          cipher.update(piece)
          hash.update(piece)
        })
        cipher.final()
        hash.digest()
      }, BIG_RUNS),
    },
  ]
}

/** Runs the scenario; returns the markdown section for docs/benchmarks.md. */
export async function benchFloors(log: (line: string) => void): Promise<string> {
  const loadBefore = loadavg()[0]!
  const scratch = mkdtempSync(join(tmpdir(), 'vouch-bench-floors-'))
  try {
    const classifier = requestPlaintext('ppocr-cls')
    const detector = requestPlaintext('ppocr-det')
    // What the client sends: the plaintext sealed (enc and tag around it).
    const sealed = (await sealRequest(generateKeyset().public.enc, 'floor', classifier)).body
    const floors = [...(await socketFloors(sealed, scratch)), ...(await cryptoFloors(classifier)), ...(await durabilityFloors(scratch)), ...(await detectorFloors(detector))]
    for (const f of floors) log(`floors: ${f.group}: ${f.what}: ${ms(f.timing.median)} ms (p99 ${ms(f.timing.p99)})`)
    const rows = floors.map((f) => `| ${f.group} | ${f.what} | ${ms(f.timing.median)} | ${ms(f.timing.p99)} |`)
    return `## Floors: what each part cannot cost less than here (\`bench/floors.bench.ts\`)

The measured floors the per-hop table is judged against (issue 14): a hop that costs more than its floor can shrink;
one at its floor cannot, on this machine. Socket hops are round trips from this process to a child process that does
nothing but answer (\`bench/lib/echo-server.ts\`), the classifier's sealed request out and a ${ANSWER_BYTES.toLocaleString('en')} B answer back;
the cryptography is each of Vouch's calls beside the bare node:crypto operations it is made of; durability is one
small write made durable; the detector rows are the ways its ${(detector.length / 1e6).toFixed(1)} MB request can be touched.
Wall time in ms over ${SOCKET_RUNS.runs} runs (${BIG_RUNS.runs} for the detector rows). The 1-minute load average was ${loadBefore.toFixed(2)} when the scenario started.

| part | what | median | p99 |
|---|---|---:|---:|
${rows.join('\n')}
`
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await benchFloors((line) => console.log(line)))
