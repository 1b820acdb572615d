/**
 * The loaded, normalised policy (DESIGN.md §6): what `parsePolicy` returns and the evaluator reads.
 * Type-only. Rules left out of the file are absent here too (`undefined` means "unchecked"), except
 * `allowStaleCrl`, whose secure default (`false`) is filled in. Hex is lower case.
 */
import type { FirmwareVersion, Product, SigningKey } from '@vouch/protocol'

/** NVIDIA GPU architectures with confidential computing. */
export type GpuArchitecture = 'HOPPER' | 'BLACKWELL'

/** A 1-based position in the policy file. */
export interface PolicyPosition {
  line: number
  column: number
}

/** One problem found in a policy file. */
export interface PolicyIssue {
  /** The file name given to the parser, as written in messages. */
  file: string
  /** 1-based line of the offending key or value. */
  line: number
  /** 1-based column of the offending key or value. */
  column: number
  /** Dotted path of the field, such as `sevSnp.measurements[1]`; empty for whole-file problems (syntax). */
  field: string
  /** What is wrong, in plain words: `missing required key "allowDebug"`. */
  message: string
}

/** Where the policy came from. */
export interface PolicySource {
  /** The file name given to the parser. */
  readonly file: string
}

/** The guest POLICY flags a policy can require to be set (`requireGuestPolicy`). */
export type GuestPolicyRequirement =
  | 'singleSocket'
  | 'memAes256Xts'
  | 'raplDis'
  | 'ciphertextHiding'
  | 'pageSwapDisable'

/** A firmware ABI version, as in guest POLICY ABI_MAJOR.ABI_MINOR. */
export interface AbiVersion {
  readonly major: number
  readonly minor: number
}

/** Minimum security patch levels for Milan and Genoa, whose TCB_VERSION has no FMC component. */
export interface TcbMinimum {
  readonly bootloader: number
  readonly tee: number
  readonly snp: number
  readonly microcode: number
}

/** Minimum security patch levels for Turin, which adds the FMC component. */
export interface TurinTcbMinimum extends TcbMinimum {
  readonly fmc: number
}

/** Per-product TCB floors. When present, every product in `allowedProducts` has an entry (the linter enforces it). */
export interface TcbMinimums {
  readonly Milan?: TcbMinimum
  readonly Genoa?: TcbMinimum
  readonly Turin?: TurinTcbMinimum
}

/** Per-product floors for the CURRENT firmware version. Same coverage rule as {@link TcbMinimums}. */
export type FirmwareMinimums = { readonly [P in Product]?: Readonly<FirmwareVersion> }

/** The `sevSnp` section: rules for AMD SEV-SNP evidence. Each optional rule is unchecked when absent. */
export interface SevSnpPolicy {
  /** Products whose evidence is accepted; non-empty, no repeats. */
  readonly allowedProducts: readonly Product[]
  /** Key types that may sign the report; non-empty, no repeats. */
  readonly allowedSigningKeys: readonly SigningKey[]
  /** Whether a guest with POLICY.DEBUG set is accepted. */
  readonly allowDebug: boolean
  /** Whether a guest with POLICY.MIGRATE_MA set is accepted. */
  readonly allowMigrationAgent: boolean
  /** Whether a CRL verified under the ARK must be present (and must not list the ASK/ASVK). */
  readonly requireCrl: boolean
  /** Whether a CRL past its nextUpdate is still used. Filled in as `false` when the file leaves it out. */
  readonly allowStaleCrl: boolean
  /** Whether a guest whose POLICY allows SMT is accepted. Unset: unchecked. */
  readonly allowSmt?: boolean
  /** Floor for the guest POLICY ABI_MAJOR.ABI_MINOR. Unset: unchecked. */
  readonly minimumAbi?: AbiVersion
  /** Guest POLICY flags that must be set. Unset: none required. */
  readonly requireGuestPolicy?: readonly GuestPolicyRequirement[]
  /** VMPLs (0..3) the report may come from. Unset: unchecked. */
  readonly allowedVmpls?: readonly number[]
  /** Floor for GUEST_SVN. Unset: unchecked. */
  readonly minimumGuestSvn?: number
  /** Any-of list of MEASUREMENT, 96 lower-case hex characters each. Unset: unchecked. */
  readonly measurements?: readonly string[]
  /** Any-of list of HOST_DATA, 64 hex characters each. Unset: unchecked. */
  readonly hostData?: readonly string[]
  /** Exact REPORT_DATA, 128 hex characters. Unset: unchecked. */
  readonly reportData?: string
  /** Any-of list of ID_KEY_DIGEST, 96 hex characters each. Unset: unchecked. */
  readonly idKeyDigests?: readonly string[]
  /** Any-of list of AUTHOR_KEY_DIGEST, 96 hex characters each. Unset: unchecked. */
  readonly authorKeyDigests?: readonly string[]
  /** Allowed CHIP_IDs: 128 hex characters, or 16 for a Turin chip's 8-byte ID. Unset: unchecked. */
  readonly chipIds?: readonly string[]
  /** Per-product floors, applied to REPORTED, COMMITTED and LAUNCH TCB. Unset: unchecked. */
  readonly minimumTcb?: TcbMinimums
  /** Per-product floors for the CURRENT firmware version. Unset: unchecked. */
  readonly minimumFirmware?: FirmwareMinimums
  /** `false` rejects COMMITTED TCB or version differing from CURRENT. Unset: unchecked. */
  readonly allowProvisionalFirmware?: boolean
}

/** A loaded policy, deeply frozen. */
export interface Policy {
  readonly version: 1
  readonly name: string
  readonly description?: string
  /** Whether evidence from the simulated TEE is accepted. */
  readonly allowSimulated: boolean
  /** Rules for SEV-SNP evidence. Absent: SEV-SNP evidence is rejected under this policy. */
  readonly sevSnp?: SevSnpPolicy
  /** Rules for NVIDIA GPU evidence; absent: GPU evidence is rejected. */
  readonly nvidiaGpu?: NvidiaGpuPolicy
  /** Rules for bundles as a whole; absent: unchecked. */
  readonly evidence?: EvidencePolicy
  /** Which models may answer; absent: any attested model. */
  readonly models?: ModelsPolicy
  /** Rules for receipts; filled in with each rule's default when the file leaves the section out. */
  readonly receipts: ReceiptsPolicy
  /** The receipt log answers are checked against; absent: none (whether answers are logged is not checked). */
  readonly log?: LogPolicy
  /** Rules for the enclaves behind a host, which the client attests together; filled in with each rule's default when the file leaves the section out. */
  readonly fleet: FleetPolicy
  readonly source: PolicySource
  /**
   * Position of the field at a dotted `path` (`sevSnp.measurements`, `sevSnp.measurements[1]`): of its key, or of the
   * item for list entries. A field the file leaves out resolves to its nearest written ancestor (so an unset rule
   * points at its section); `undefined` when no ancestor is written either.
   */
  locate(path: string): PolicyPosition | undefined
}

/** The `nvidiaGpu` section: rules for NVIDIA confidential GPUs. Each optional rule is unchecked when absent. */
export interface NvidiaGpuPolicy {
  /** Whether evidence must include at least one GPU. */
  readonly required: boolean
  /** Architectures accepted; non-empty, no repeats. */
  readonly allowedArchitectures: readonly GpuArchitecture[]
  /** Exact number of GPUs. Unset: any number. */
  readonly count?: number
  /** Whether driver and VBIOS RIMs must be given, verify, match the versions and every active golden value. */
  readonly requireRimMatch: boolean
  /** Whether OCSP responses for the device and RIM chains must be given and verify. */
  readonly requireOcsp: boolean
  /** Whether OCSP "unknown" is accepted. Filled in as `false` when the file leaves it out. */
  readonly allowOcspUnknown: boolean
  /** How long after revocation a revoked certificate is still accepted, in ms. Filled in as 0. */
  readonly ocspRevokedGracePeriodMs: number
  readonly minimumDriverVersion?: string
  readonly allowedDriverVersions?: readonly string[]
  /** Upper-case, as NVIDIA prints VBIOS versions. */
  readonly minimumVbiosVersion?: string
  readonly allowedVbiosVersions?: readonly string[]
  readonly requireProtectedPcie?: boolean
  readonly requireNvdec0Disabled?: boolean
}

/** The `evidence` section. */
export interface EvidencePolicy {
  /** Largest age of a bundle (issuedAt to the verification time) in ms. Unset: unchecked. */
  readonly maximumAgeMs?: number
}

/** The `models` section. */
export interface ModelsPolicy {
  /** Accepted model digests, `sha256:<hex>` lower case. Unset: unchecked. */
  readonly allowedDigests?: readonly string[]
  /** Accepted publisher ids (the attribution's `publisher` role, and v2 manifests' `publisher`). Unset: unchecked. */
  readonly allowedPublishers?: readonly string[]
  /** Accepted model manifests, by `manifestDigest`, lower case. Unset: unchecked. */
  readonly allowedManifests?: readonly string[]
  /** Accepted known answers, any of them per model digest; every attested model must match one. Unset: unchecked. */
  readonly knownAnswers?: readonly KnownAnswerPin[]
}

/** The `receipts` section. */
export interface ReceiptsPolicy {
  /** The oldest receipt version accepted. Filled in as 2 (commitments only) when the file leaves it out. */
  readonly minimumVersion: 1 | 2
}

/** The `fleet` section: checked by the client when it attests a host's enclaves, not by the verifier (one bundle at a time). */
export interface FleetPolicy {
  /**
   * The fewest enclaves with accepted evidence a host must offer, each keyset counted once: fewer is refused
   * (`ERR_CLIENT_FLEET_TOO_SMALL`). Filled in as 1 when the file leaves it out.
   */
  readonly minEnclaves: number
}

/** The `log` section: the receipt log whose inclusion proofs are checked. */
export interface LogPolicy {
  /** The log keys (C2SP note verifier keys) a checkpoint must be signed by, one of them. At least one. */
  readonly keys: readonly string[]
  /**
   * Whether every receipt must come with a proof of its inclusion in the log (`vouch infer` then waits for it, and
   * `vouch-verify receipt` refuses a receipt without `--log-proof`). Filled in as false when the file leaves it out.
   */
  readonly requireInclusion: boolean
}

/** A known answer a policy accepts for one model: digests, lower case. */
export interface KnownAnswerPin {
  readonly model: string
  readonly input: string
  readonly output: string
}
