/**
 * What verification establishes and policy evaluation reads (go-sev-guest's verify / validate split).
 * The `check*` steps of verification record authenticity checks and return these facts; `evaluatePolicy`
 * (policy/evaluate.ts) reads them and records the policy checks. Types only, importing no verification
 * code: both sides depend on this module and neither on the other.
 */
import type { FirmwareVersion, Product } from '@vouch/protocol'
import type { BundleClaims, ReceiptClaims } from './bundle/claims.types.js'
import type { NvidiaGpuClaims } from './nvidia/claims.js'
import type { SevSnpClaims } from './sev-snp/claims.js'

/** What SEV-SNP verification established about a report that parsed. */
export interface SevSnpFacts {
  claims: SevSnpClaims
  /** Whether every authenticity check passed: the policy is evaluated only then. */
  authentic: boolean
  /** The product the chain names; null when it named none (the evidence is then not authentic). */
  product: Product | null
  /** A CRL verified under the ARK was checked and lists neither the ASK/ASVK nor the VEK. */
  crlVerified: boolean
  /** CURRENT firmware version of the report. */
  firmware: FirmwareVersion
}

/** What one GPU's verification established. */
export interface GpuFacts {
  /** Null when the report could not be parsed: nothing of this GPU is evaluated. */
  claims: NvidiaGpuClaims | null
  /** Whether every authenticity check of this GPU passed: its policy is evaluated only then. */
  authentic: boolean
  /** Driver and VBIOS RIMs both verified, name this report's versions, and every active golden value matched. */
  rimsMatched: boolean
  /** OCSP responses covered the device chain and every RIM chain given, and none failed. */
  ocspChecked: boolean
}

/** What bundle verification established. */
export interface BundleFacts {
  claims: BundleClaims
  /** The verification time: the evidence's age is measured up to it. */
  at: Date
  /** The CPU; null when its report did not parse. */
  cpu: SevSnpFacts | null
  /** Each GPU, in bundle order. */
  gpus: readonly GpuFacts[]
}

/** What receipt verification established. */
export interface ReceiptFacts {
  claims: ReceiptClaims
  /** The bundle the receipt names, verified now; null when the caller's earlier verification of it was reused. */
  evidence: BundleFacts | null
}

/** The facts one verification hands to `evaluatePolicy`, by what was verified. */
export type PolicyFacts =
  | { kind: 'sev-snp'; sevSnp: SevSnpFacts }
  | { kind: 'nvidia-gpu'; gpu: GpuFacts }
  | { kind: 'nvidia-gpus'; gpus: readonly GpuFacts[] }
  | { kind: 'bundle'; bundle: BundleFacts }
  | { kind: 'receipt'; receipt: ReceiptFacts }

/** How `evaluatePolicy` evaluates. */
export interface EvaluateOptions {
  /**
   * Whether the policy's freshness rule (`evidence.maximumAge`) applies to a bundle. Unset: true. False for
   * evidence checked as of another time: a receipt's (always), or an unchallenged bundle whose freshness a
   * challenged one proves.
   */
  freshness?: boolean
}
