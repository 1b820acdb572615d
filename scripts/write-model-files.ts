// Writes the generated files under models/: manifest.schema.json (from enclave/src/inference/manifest-schema.ts, its
// single source of truth) and the sample requests in models/samples/, OIP v2 JSON inference requests built from
// synthetic, deterministic images, preprocessed as PaddleOCR does:
//   ppocr-cls.json     1x3x48x192 FP32: one line of glyph-like strokes, (x/255 - 0.5)/0.5, right-padded with 0
//                      (PaddleOCR ClsResizeImg / resize_norm_img).
//   ppocr-det.json.gz  1x3x640x640 FP32: a page of text-like lines, (x/255 - mean)/std with the ImageNet mean and std
//                      (PaddleOCR NormalizeImage, then HWC to CHW). Gzipped: the JSON is 12 MB, the file 0.1 MB; the
//                      content is still one OIP v2 JSON request.
//   ppocr-det.cbor.gz  the same input tensors as the CBOR array a request plaintext carries (raw little-endian
//                      floats), gzipped: the detector's manifest names it as its known-answer sample, so the enclave
//                      reads 4.9 MB of floats at start-up instead of parsing 12 MB of JSON (55 MB less at peak).
// With --check, writes nothing and exits 1 if a file on disk is stale (samples compare by their JSON content).
// Run: node --conditions=@vouch/source --import tsx scripts/write-model-files.ts [--check]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import { encodeCbor, oipJsonToTensor } from '../protocol/src/index.js'
import { tensorsWireForm } from '../protocol/src/envelope.js'
import { manifestSchema } from '../enclave/src/inference/manifest-schema.js'

const models = fileURLToPath(new URL('../models/', import.meta.url))

/** A deterministic generator (mulberry32), so every run writes the same samples. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A white grey-level image (0..255, row-major). */
function blank(width: number, height: number): Uint8Array {
  return new Uint8Array(width * height).fill(255)
}

function fill(img: Uint8Array, width: number, x0: number, y0: number, w: number, h: number, value: number): void {
  for (let y = y0; y < y0 + h; y++) img.fill(value, y * width + x0, y * width + x0 + w)
}

/** One glyph-like shape in a `w` by `h` cell: a few strokes, 2 px thick, chosen by `rand`. */
function glyph(img: Uint8Array, width: number, x: number, y: number, w: number, h: number, rand: () => number): void {
  const t = Math.max(2, Math.round(h / 10))
  if (rand() < 0.8) fill(img, width, x, y, t, h, 0)
  if (rand() < 0.5) fill(img, width, x + w - t, y, t, h, 0)
  if (rand() < 0.6) fill(img, width, x, y, w, t, 0)
  if (rand() < 0.5) fill(img, width, x, y + Math.floor(h / 2), w, t, 0)
  if (rand() < 0.6) fill(img, width, x, y + h - t, w, t, 0)
}

/** A line of words from `x` to at most `xEnd`: glyph cells of `h` height, 2 px apart, words 8 px apart. */
function textLine(img: Uint8Array, width: number, x: number, y: number, xEnd: number, h: number, rand: () => number): void {
  while (x < xEnd) {
    const letters = 2 + Math.floor(rand() * 6)
    for (let i = 0; i < letters && x < xEnd; i++) {
      const w = Math.round(h * (0.45 + rand() * 0.25))
      if (x + w > xEnd) return
      glyph(img, width, x, y, w, h, rand)
      x += w + 2
    }
    x += Math.round(h * 0.5)
  }
}

/** The shortest decimal that reads back as the same float32. */
function f32(value: number): string {
  const v = Math.fround(value)
  for (let p = 1; p < 10; p++) {
    const s = String(Number(v.toPrecision(p)))
    if (Math.fround(Number(s)) === v) return s
  }
  return String(v)
}

/** An OIP v2 JSON request with one FP32 input `x` of shape 1x3xHxW, element (c, y, x) written by `value`. */
function request(width: number, height: number, value: (c: number, y: number, x: number) => string): string {
  const data: string[] = []
  for (let c = 0; c < 3; c++) for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.push(value(c, y, x))
  return `{"inputs":[{"name":"x","shape":[1,3,${height},${width}],"datatype":"FP32","data":[${data.join(',')}]}]}\n`
}

function classifierSample(): string {
  const [width, height, textWidth] = [192, 48, 160]
  const img = blank(width, height)
  textLine(img, width, 4, 12, textWidth - 4, 24, prng(48192))
  // PaddleOCR resizes the line to height 48, normalises to [-1, 1], and pads the rest of the 192 columns with 0.
  return request(width, height, (_c, y, x) => (x < textWidth ? f32((img[y * width + x]! / 255 - 0.5) / 0.5) : '0'))
}

function detectorSample(): string {
  const size = 640
  const img = blank(size, size)
  const rand = prng(640640)
  let y = 24
  while (y < size - 40) {
    const h = 14 + Math.floor(rand() * 14)
    const x = 16 + Math.floor(rand() * 80)
    textLine(img, size, x, y, size - 16 - Math.floor(rand() * 200), h, rand)
    y += h + 12 + Math.floor(rand() * 20)
  }
  const mean = [0.485, 0.456, 0.406]
  const std = [0.229, 0.224, 0.225]
  const table = [0, 1, 2].map((c) => Array.from({ length: 256 }, (_, p) => f32((p / 255 - mean[c]!) / std[c]!)))
  return request(size, size, (c, y, x) => table[c]![img[y * size + x]!]!)
}

/** The CBOR tensor array of a JSON request's inputs: what a request plaintext carries and a known answer digests. */
function tensorsCbor(json: string): Uint8Array {
  const { inputs } = JSON.parse(json) as { inputs: unknown[] }
  return encodeCbor(tensorsWireForm(inputs.map((t, i) => oipJsonToTensor(t, `inputs[${i}]`))))
}

const detector = detectorSample()
const files: { path: string; content: string | Uint8Array; gzip?: boolean }[] = [
  { path: 'manifest.schema.json', content: `${JSON.stringify(manifestSchema, null, 2)}\n` },
  { path: 'samples/ppocr-cls.json', content: classifierSample() },
  { path: 'samples/ppocr-det.json.gz', content: detector, gzip: true },
  { path: 'samples/ppocr-det.cbor.gz', content: tensorsCbor(detector), gzip: true },
]

let stale = false
for (const file of files) {
  const target = models + file.path
  if (process.argv.includes('--check')) {
    let current = Buffer.alloc(0)
    try {
      const raw = readFileSync(target)
      current = file.gzip === true ? gunzipSync(raw) : raw
    } catch {
      // A missing file is stale too.
    }
    if (!current.equals(Buffer.from(file.content))) {
      console.error(`${target} is stale: run node --conditions=@vouch/source --import tsx scripts/write-model-files.ts`)
      stale = true
    }
    continue
  }
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, file.gzip === true ? gzipSync(file.content, { level: 9 }) : file.content)
  console.log(`wrote ${target}`)
}
if (stale) process.exit(1)
