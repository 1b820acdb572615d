/**
 * What verified bundles and receipts claim (DESIGN.md §3, §4). Types only: verification produces these
 * claims and policy evaluation reads them, so both import this module and neither imports the other.
 */
import type { Attribution, KnownAnswer, ModelRef, Platform } from '@vouch/protocol'
import type { NvidiaGpuClaims } from '../nvidia/claims.js'
import type { SevSnpClaims } from '../sev-snp/claims.js'

/** What a bundle attests of one model's manifest: who is credited, under which license. */
export interface AttestedManifest {
  /** `manifestDigest` of the manifest: what `models.allowedManifests` lists. */
  digest: string
  publisher: string
  license: string
  contributors: Attribution[]
}

/** A model a bundle attests. */
export interface AttestedModel extends ModelRef {
  /** Its manifest; null in a v1 bundle, which does not carry manifests. */
  manifest: AttestedManifest | null
  /** What it answered on its sample input at start-up; null without a sample input, and in a v1 bundle. */
  knownAnswer: KnownAnswer | null
}

/** What a verified bundle says. */
export interface BundleClaims {
  /** The bundle's version: 2 binds every field below; 1 leaves `issuedAt` and model names and versions unbound. */
  v: 1 | 2
  platform: Platform
  /** The challenges the bundle answers, 64 hex each; empty for an unchallenged bundle. */
  nonces: string[]
  keyset: { kid: string; notAfter: number; digest: string }
  models: AttestedModel[]
  issuedAt: number
  /** `sha256:` of the bundle bytes: what receipts name as `evidence`. */
  digest: string
  /** The REPORT_DATA the statement requires, hex. */
  reportData: string
  cpu: SevSnpClaims | null
  gpus: Array<NvidiaGpuClaims | null>
}

/** What a verified receipt says. */
export interface ReceiptClaims {
  /** The receipt version: 2 commits to the request and response under the request's opening, 1 names their plain digests. */
  v: 1 | 2
  id: string
  iat: number
  model: ModelRef
  platform: Platform
  /** v2: `hmac-sha256:` commitment to the request plaintext under the opening; v1: its `sha256:` digest. */
  request: string
  /** v2: `hmac-sha256:` commitment to the outputs' CBOR under the opening; v1: its `sha256:` digest. */
  response: string
  attribution: Attribution[]
  /** The evidence the receipt is bound to. */
  evidence: BundleClaims | null
}
