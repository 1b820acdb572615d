/**
 * Signed notes (C2SP signed-note, Ed25519), against the vectors of Go's golang.org/x/mod/sumdb/note tests
 * (the PeterNeumann and EnochRoot keys and signatures), then every refusal by code, and a signed checkpoint read by
 * @sigstore/verify's checkpoint verifier.
 */
import assert from 'node:assert/strict'
import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { describe, test } from 'node:test'
import { verifyCheckpoint } from '@sigstore/verify/dist/tlog/checkpoint.js'
import { formatCheckpoint, generateNoteKey, noteVerifierKey, openNote, parseCheckpoint, signNote, toHex, type ProtocolError } from '@vouch/protocol'

const code = (expected: string) => (e: ProtocolError) => e.code === expected

// From Go's sumdb/note (note.go's package example and note_test.go).
const PETER_SIGNER = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'
const PETER = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'
const ENOCH = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop'
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n'
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n'
const peter = { name: 'PeterNeumann', keyId: 'c74f20a3', signature: 'x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=' }
const enoch = { name: 'EnochRoot', keyId: 'af0cfe78', signature: 'rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=' }

describe('Go’s sumdb/note vectors', () => {
  test('signing the text with the PeterNeumann key gives Go’s note, byte for byte', () => {
    assert.equal(signNote(TEXT, PETER_SIGNER), `${TEXT}\n${PETER_SIG}`)
    assert.equal(noteVerifierKey(PETER_SIGNER), PETER)
  })

  test('opening: one key known, one not; both known; none known (ERR_NOTE_UNKNOWN_KEY)', async () => {
    const note = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`
    assert.deepEqual(await openNote(note, [PETER]), { text: TEXT, signatures: [peter], unverified: [enoch] })
    assert.deepEqual(await openNote(note, [PETER, ENOCH]), { text: TEXT, signatures: [peter, enoch], unverified: [] })
    assert.deepEqual(await openNote(new TextEncoder().encode(note), [ENOCH]), { text: TEXT, signatures: [enoch], unverified: [peter] })
    await assert.rejects(async () => openNote(note, []), code('ERR_NOTE_UNKNOWN_KEY'))
  })

  test('a known key’s bad signature refuses the whole note (ERR_NOTE_SIGNATURE_INVALID), even beside a good one', async () => {
    const bad = `${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`
    await assert.rejects(async () => openNote(`${TEXT}\n${bad}`, [PETER]), code('ERR_NOTE_SIGNATURE_INVALID'))
    await assert.rejects(async () => openNote(`${TEXT}\n${ENOCH_SIG}${bad}`, [PETER, ENOCH]), code('ERR_NOTE_SIGNATURE_INVALID'))
    await assert.rejects(async () => openNote(`${TEXT}\n${PETER_SIG}${bad}`, [PETER]), code('ERR_NOTE_SIGNATURE_INVALID'))
    await assert.rejects(async () => openNote(`${TEXT.replace('answer', 'answers')}\n${PETER_SIG}`, [PETER]), code('ERR_NOTE_SIGNATURE_INVALID'))
    // A bad signature by an unknown key is only listed, as C2SP requires.
    const enochBad = `${ENOCH_SIG.slice(0, 60)}ABCD${ENOCH_SIG.slice(60)}`
    const opened = await openNote(`${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochBad}`, [PETER])
    assert.deepEqual(opened.signatures, [peter])
    assert.deepEqual(opened.unverified.map((s) => s.signature), [enoch.signature, enochBad.slice(12, -1)])
  })

  test('a signature under a known name with another key id, or a known id under another name, is someone else’s', async () => {
    const otherId = PETER_SIG.replace('x08go', 'xxxxx')
    const otherName = PETER_SIG.replace('PeterNeumann', 'CarmenSandiego')
    await assert.rejects(async () => openNote(`${TEXT}\n${otherId}`, [PETER]), code('ERR_NOTE_UNKNOWN_KEY'))
    await assert.rejects(async () => openNote(`${TEXT}\n${otherName}`, [PETER]), code('ERR_NOTE_UNKNOWN_KEY'))
    assert.deepEqual((await openNote(`${TEXT}\n${otherName}${PETER_SIG}`, [PETER])).unverified.map((s) => s.name), ['CarmenSandiego'])
  })

  test('Go’s malformed messages, and more: ERR_NOTE_MALFORMED naming the line', async () => {
    const cases: Array<[string | Uint8Array, RegExp]> = [
      [TEXT, /blank line/],
      [`${TEXT}\n`, /line 4/],
      [`${TEXT}\n${PETER_SIG.slice(0, -1)}`, /line 4/],
      [`\u0001${TEXT}\n${PETER_SIG}`, /line 1/],
      [Uint8Array.of(0xff, ...new TextEncoder().encode(`${TEXT}\n${PETER_SIG}`)), /UTF-8/],
      [`${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`, /line 4/],
      [`${TEXT}\n${PETER_SIG}Unexpected line.\n`, /line 5/],
      [`${TEXT}\n${PETER_SIG}${PETER_SIG.replace('— ', '-- ')}`, /line 5/],
      [`${TEXT}\n${PETER_SIG.replace('=\n', '\n')}`, /line 4/],
      [`${TEXT}\n— PeterNeumann\n`, /line 4/],
      [`${TEXT}\n— PeterNeumann AAAAAA==\n`, /line 4/],
      [`${TEXT}\n— Peter+Neumann ${peter.signature}\n`, /line 4/],
      [`${TEXT}\n— PeterNeumann ${peter.signature} \n`, /line 4/],
      [`a\r\nb\n\n${PETER_SIG}`, /line 1/],
      [`a\nb\u001b\n\n${PETER_SIG}`, /line 2/],
      [`${TEXT}\ud800\n\n${PETER_SIG}`, /line 3/],
      [`${TEXT}\n${PETER_SIG.repeat(101)}`, /101 signatures/],
    ]
    for (const [note, line] of cases) {
      await assert.rejects(async () => openNote(note, [PETER]), (e: ProtocolError) => code('ERR_NOTE_MALFORMED')(e) && line.test(e.message), JSON.stringify(note).slice(0, 120))
    }
    await assert.rejects(async () => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, []), code('ERR_NOTE_MALFORMED'))
    assert.equal((await openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, [PETER])).signatures.length, 1)
  })

  test('the text may hold blank lines: the signatures start after the last one', async () => {
    const text = 'one\n\ntwo\n\n'
    const signed = signNote(text, PETER_SIGNER)
    assert.equal((await openNote(signed, [PETER])).text, text)
  })
})

describe('keys', () => {
  test('every substring and every one-byte change of Go’s verifier and signer keys is refused: ERR_NOTE_MALFORMED', async () => {
    for (const key of [PETER, PETER_SIGNER]) {
      const mangled = new Set<string>()
      for (let i = 0; i <= key.length; i++) for (let j = i + 1; j <= key.length; j++) if (i !== 0 || j !== key.length) mangled.add(key.slice(i, j))
      for (let i = 0; i < key.length; i++) mangled.add(key.slice(0, i) + String.fromCharCode(key.charCodeAt(i) + 1) + key.slice(i + 1))
      for (const bad of mangled) {
        const use = key === PETER ? async () => openNote(`${TEXT}\n${PETER_SIG}`, [bad]) : () => signNote(TEXT, bad)
        await assert.rejects(async () => use(), code('ERR_NOTE_MALFORMED'), bad)
      }
    }
  })

  test('Go’s wrong-length and unknown-algorithm keys, with key ids adjusted to match, are refused', async () => {
    for (const bad of ['PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==', 'PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW']) {
      await assert.rejects(async () => openNote(`${TEXT}\n${PETER_SIG}`, [bad]), code('ERR_NOTE_MALFORMED'))
    }
  })

  test('the same key given twice is one key', async () => {
    assert.deepEqual((await openNote(`${TEXT}\n${PETER_SIG}`, [PETER, ENOCH, PETER])).signatures, [peter])
  })

  test('generateNoteKey: a pair that signs and opens, the verifier key derivable from the signer key and the public key', async () => {
    const { signerKey, verifierKey } = generateNoteKey('example.com/log')
    assert.match(signerKey, /^PRIVATE\+KEY\+example\.com\/log\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/)
    assert.match(verifierKey, /^example\.com\/log\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/)
    assert.equal(noteVerifierKey(signerKey), verifierKey)
    const opened = await openNote(signNote('hello\n', signerKey), [verifierKey])
    assert.equal(opened.text, 'hello\n')
    assert.notEqual(generateNoteKey('example.com/log').signerKey, signerKey)
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12))
    assert.equal(noteVerifierKey('n', publicKey), noteVerifierKey('n', raw))
    assert.equal(noteVerifierKey('n', privateKey), noteVerifierKey('n', raw))
  })

  test('refused key names and keys: spaces, plus signs, control characters, empty; not Ed25519; not 32 bytes', () => {
    for (const name of ['', 'a b', 'a+b', 'a\tb', 'a\u00a0b', 'a\u2028b', 'a\u0001b']) {
      assert.throws(() => generateNoteKey(name), code('ERR_NOTE_MALFORMED'), JSON.stringify(name))
      assert.throws(() => noteVerifierKey(name, new Uint8Array(32)), code('ERR_NOTE_MALFORMED'), JSON.stringify(name))
    }
    assert.throws(() => noteVerifierKey('n', new Uint8Array(31)), code('ERR_NOTE_MALFORMED'))
    assert.throws(() => noteVerifierKey('n', createPublicKey(generateKeyPairSync('x25519').privateKey)), code('ERR_NOTE_MALFORMED'))
    assert.throws(() => noteVerifierKey('not a signer key'), code('ERR_NOTE_MALFORMED'))
  })

  test('a malformed signer key’s error does not repeat the key', () => {
    const secret = PETER_SIGNER.replace('AYEK', 'AYEL')
    assert.throws(() => signNote(TEXT, secret), (e: Error) => !e.message.includes('AYEL') && !e.message.includes(secret.slice(-20)))
  })
})

describe('signNote', () => {
  test('several keys sign in order; the same key twice signs once; deterministic', async () => {
    const other = generateNoteKey('other.example')
    const signed = signNote(TEXT, [PETER_SIGNER, other.signerKey, PETER_SIGNER])
    assert.equal(signed, signNote(TEXT, [PETER_SIGNER, other.signerKey]))
    assert.ok(signed.startsWith(`${TEXT}\n${PETER_SIG}— other.example `))
    assert.deepEqual((await openNote(signed, [PETER, other.verifierKey])).signatures.map((s) => s.name), ['PeterNeumann', 'other.example'])
  })

  test('refuses a text without a final newline, with control characters or lone surrogates, and no keys: ERR_NOTE_MALFORMED', () => {
    for (const text of ['abc', '', 'a\u0000b\n', 'a\rb\n', 'a\ud800\n']) assert.throws(() => signNote(text, PETER_SIGNER), code('ERR_NOTE_MALFORMED'), JSON.stringify(text))
    assert.throws(() => signNote(TEXT, []), code('ERR_NOTE_MALFORMED'))
  })
})

describe('signed checkpoints', () => {
  test('a checkpoint signed here opens here and is accepted by @sigstore/verify’s checkpoint verifier', async () => {
    const { signerKey, verifierKey } = generateNoteKey('log.example/vouch')
    const rootHash = new Uint8Array(32).fill(9)
    const note = signNote(formatCheckpoint({ origin: 'log.example/vouch', size: 12_345, rootHash }), signerKey)
    const checkpoint = parseCheckpoint((await openNote(note, [verifierKey])).text)
    assert.equal(checkpoint.size, 12_345)
    const [, keyId, key] = /^[^+]+\+([0-9a-f]{8})\+(.+)$/.exec(verifierKey)!
    const publicKey = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(key!, 'base64').subarray(1)]), format: 'der', type: 'spki' })
    const logID = Buffer.concat([Buffer.from(keyId!, 'hex'), Buffer.alloc(28)])
    const entry = { inclusionProof: { checkpoint: { envelope: note } } }
    const tlog = { logID, publicKey, baseURL: 'https://log.example/vouch', validFor: { start: new Date(0), end: new Date(8.64e15) } }
    const read = verifyCheckpoint(entry as never, [tlog] as never)
    assert.deepEqual([read.origin, read.logSize, toHex(read.logHash)], ['log.example/vouch', 12_345n, toHex(rootHash)])
    const forged = note.replace('12345', '12346')
    assert.throws(() => verifyCheckpoint({ inclusionProof: { checkpoint: { envelope: forged } } } as never, [tlog] as never), /invalid checkpoint signature/)
    await assert.rejects(async () => openNote(forged, [verifierKey]), code('ERR_NOTE_SIGNATURE_INVALID'))
  })
})
