/**
 * The JSON Schema (draft 2020-12) of policy files, format version 1: the single source of truth for what a policy may
 * say. `parsePolicy` validates against it; `scripts/write-policy-schema.ts` writes it to `policies/policy.schema.json`
 * for editors. Every property says what it checks and what leaving it out means.
 *
 * `patternErrorMessage` and `errorMessage` are the message extensions VS Code and yaml-language-server understand;
 * the linter uses them too, so editors and `vouch-verify policy lint` say the same thing.
 */
import { FLEET_LIMITS } from '@vouch/protocol'

/** Hex of a fixed byte length, case-insensitive on input. */
function hex(bytes: number, field: string, description: string) {
  return {
    type: 'string',
    description,
    pattern: `^[0-9a-fA-F]{${bytes * 2}}$`,
    patternErrorMessage: `must be ${bytes * 2} hex characters (a ${bytes}-byte ${field})`,
  } as const
}

/** A non-empty list of distinct values of one kind. */
function anyOfList(description: string, items: { readonly $ref: string }) {
  return { type: 'array', description, items, minItems: 1, uniqueItems: true } as const
}

/** One security patch level: a byte. */
function spl(description: string) {
  return { type: 'integer', description, minimum: 0, maximum: 255 } as const
}

const octet = '(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])'

const tcbComponents = {
  bootloader: spl('Minimum BOOT_LOADER security patch level (blSPL), 0..255.'),
  tee: spl('Minimum TEE (PSP OS) security patch level (teeSPL), 0..255.'),
  snp: spl('Minimum SNP firmware security patch level (snpSPL), 0..255.'),
  microcode: spl('Minimum CPU microcode security patch level (ucodeSPL), 0..255.'),
} as const

/** The schema of policy files, format version 1. */
export const policySchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Vouch verification policy',
  description:
    'What a relying party accepts as evidence. Deny by default: evidence of a kind the policy has no section for is ' +
    'rejected, and every rule the policy sets must pass. Unknown keys are errors. Hex is case-insensitive.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'name', 'allowSimulated'],
  properties: {
    $schema: {
      type: 'string',
      description: 'Optional. The JSON Schema this file follows, for editors of JSON policies; not checked.',
    },
    version: {
      type: 'integer',
      const: 1,
      description: 'Required. Policy format version. This verifier reads version 1 and rejects any other.',
    },
    name: {
      type: 'string',
      minLength: 1,
      description: 'Required. Name of the policy, shown in verification results (for example "production").',
    },
    description: {
      type: 'string',
      description: 'Optional. Free text for people; not checked.',
    },
    allowSimulated: {
      type: 'boolean',
      description:
        'Required, no default. Whether evidence from the simulated TEE (platform "simulated") is accepted. Its keys ' +
        'derive from a public seed, so anyone can produce such evidence: true only in dev-simulated policies.',
    },
    sevSnp: {
      $ref: '#/$defs/sevSnp',
      description:
        'Optional. Rules for AMD SEV-SNP evidence. Left out: SEV-SNP evidence is rejected under this policy.',
    },
    nvidiaGpu: {
      $ref: '#/$defs/nvidiaGpu',
      description:
        'Optional. Rules for NVIDIA confidential-GPU evidence. Left out: GPU evidence is rejected under this policy.',
    },
    evidence: {
      type: 'object',
      description: 'Optional. Rules for evidence bundles as a whole. Left out: unchecked.',
      additionalProperties: false,
      properties: {
        maximumAge: {
          $ref: '#/$defs/duration',
          description:
            'Optional; unset = unchecked. How old a bundle may be (its issuedAt against the verification time) when ' +
            'it is verified for a new session. A challenged bundle (with a nonce) proves freshness by itself; this ' +
            'bounds how long a cached unchallenged one is trusted. Not applied to receipts, which are checked as of ' +
            'the time they were signed.',
        },
      },
    },
    models: {
      type: 'object',
      description: 'Optional. Which models may answer. Left out: any model the evidence attests is accepted.',
      additionalProperties: false,
      properties: {
        allowedDigests: {
          type: 'array',
          description:
            'Optional; unset = unchecked. The models accepted, by the SHA-256 of their ONNX bytes ("sha256:<64 hex>"). ' +
            'Evidence attesting any other model, and a receipt from any other model, are rejected.',
          items: { $ref: '#/$defs/digest' },
          minItems: 1,
          uniqueItems: true,
        },
        allowedPublishers: {
          type: 'array',
          description:
            'Optional; unset = unchecked. The model publishers accepted, by the id a receipt\'s attribution gives the ' +
            '"publisher" role. A receipt without such an entry, or naming another publisher, is rejected; so is ' +
            'evidence (v2) whose model manifests name another publisher.',
          items: { type: 'string', minLength: 1 },
          minItems: 1,
          uniqueItems: true,
        },
        allowedManifests: {
          type: 'array',
          description:
            'Optional; unset = unchecked. The model manifests accepted, by the SHA-256 of their canonical JSON ' +
            '("sha256:<64 hex>", as `vouch-verify bundle` and `vouch attest` print each model\'s manifest digest). ' +
            'A manifest names the model\'s bytes, license and every contributor receipts credit, so pinning it pins who ' +
            'is credited. Evidence attesting a model with any other manifest is rejected, and so is evidence that ' +
            'does not attest manifests (bundle v1).',
          items: { $ref: '#/$defs/digest' },
          minItems: 1,
          uniqueItems: true,
        },
        knownAnswers: {
          type: 'array',
          description:
            'Optional; unset = unchecked. The answers each model must have given at start-up on its sample input ' +
            '(a known-answer test, run by the enclave before it serves and attested with the model): one or more ' +
            'entries per model digest, any of which is accepted. Every attested model must match one, so a model ' +
            'without a sample input, or with no entry here, is rejected. Record the values from a trusted run on the ' +
            'same hardware and software (`vouch attest` prints them): floating-point results differ between CPU and ' +
            'GPU kernels.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['model', 'input', 'output'],
            properties: {
              model: { $ref: '#/$defs/digest', description: 'Required. The model\'s digest (SHA-256 of its ONNX bytes).' },
              input: { $ref: '#/$defs/digest', description: 'Required. The digest of the sample input tensors.' },
              output: { $ref: '#/$defs/digest', description: 'Required. The digest of the outputs the model must have given.' },
            },
          },
          minItems: 1,
        },
      },
    },
    receipts: {
      type: 'object',
      description: 'Optional. Rules for receipts. Left out: each rule has its default.',
      additionalProperties: false,
      properties: {
        minimumVersion: {
          type: 'integer',
          minimum: 1,
          maximum: 2,
          description:
            'Optional; unset = 2. The oldest receipt version accepted. A v2 receipt commits to the request and the ' +
            'outputs under a secret only the client and the enclave hold, so a receipt in the public log confirms no ' +
            'guess of either. A v1 receipt (enclaves before v2) names their plain SHA-256 digests, which anyone ' +
            'holding it can test a guessed input or output against (a classifier has few outputs), and which the host ' +
            'does not log. 1 accepts both: only while enclaves that write v1 are served, or to re-check receipts kept ' +
            'from them.',
        },
      },
    },
    fleet: {
      type: 'object',
      description:
        'Optional. Rules for the enclaves behind a host, which the client attests together (GET /v1/attestation ' +
        'answers with the evidence of each). Checked by the client (vouch attest, vouch infer, @vouch/client) when it ' +
        'attests, not by vouch-verify, which checks one bundle at a time. Left out: each rule has its default.',
      additionalProperties: false,
      properties: {
        minEnclaves: {
          type: 'integer',
          minimum: 1,
          maximum: FLEET_LIMITS.enclaves,
          description:
            'Optional; unset = 1. The fewest enclaves whose evidence this policy accepts that a host must offer: the ' +
            'client refuses a host offering fewer (ERR_CLIENT_FLEET_TOO_SMALL), and attests again when refusals leave ' +
            'it fewer to send to. Each enclave counts once (by its keyset). A host that predates fleets offers one. ' +
            `At most ${FLEET_LIMITS.enclaves}, the most one attestation document holds.`,
        },
      },
    },
    log: {
      type: 'object',
      description: 'Optional. The receipt log answers are checked against (docs/protocol.md, "Receipt log"). Left out: whether answers are logged is not checked.',
      additionalProperties: false,
      required: ['keys'],
      properties: {
        keys: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: { type: 'string', pattern: '^[^+\\s]+\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]+=*$', patternErrorMessage: 'must be a note verifier key: name+<8 hex>+<base64>' },
          description:
            'Required. The log keys (C2SP note verifier keys, as GET /v1/log/key serves and the operator publishes them) ' +
            'whose signature a checkpoint must carry, one of them. Pin them here: a key fetched from the host is the host\'s word.',
        },
        requireInclusion: {
          type: 'boolean',
          description:
            'Optional; unset = false. Whether every receipt must come with a proof of its inclusion in the log: the ' +
            'client then waits for the proof of each answer and checks it against the checkpoints it has seen, and ' +
            'vouch-verify receipt refuses a receipt without one (ERR_POLICY_LOG_INCLUSION_REQUIRED).',
        },
      },
    },
  },
  $defs: {
    digest: {
      type: 'string',
      pattern: '^sha256:[0-9a-fA-F]{64}$',
      patternErrorMessage: 'must be "sha256:" and 64 hex characters',
    },
    sevSnp: {
      type: 'object',
      description: 'Rules for AMD SEV-SNP evidence.',
      additionalProperties: false,
      required: ['allowedProducts', 'allowedSigningKeys', 'allowDebug', 'allowMigrationAgent', 'requireCrl'],
      properties: {
        allowedProducts: {
          type: 'array',
          description:
            'Required. The AMD EPYC generations whose evidence is accepted; evidence from any other product is ' +
            'rejected. Non-empty, no repeats.',
          items: { type: 'string', enum: ['Milan', 'Genoa', 'Turin'] },
          minItems: 1,
          uniqueItems: true,
        },
        allowedSigningKeys: {
          type: 'array',
          description:
            'Required. Which endorsement key may sign the report: VCEK (per chip and TCB, from AMD) or VLEK ' +
            '(issued by AMD to a cloud provider). A report signed by another key type is rejected. ' +
            'Non-empty, no repeats.',
          items: { type: 'string', enum: ['VCEK', 'VLEK'] },
          minItems: 1,
          uniqueItems: true,
        },
        allowDebug: {
          type: 'boolean',
          description:
            'Required, no default. Whether a guest launched with POLICY.DEBUG set is accepted. The hypervisor can ' +
            'read and change a debuggable guest\'s memory, so false outside debugging.',
        },
        allowMigrationAgent: {
          type: 'boolean',
          description:
            'Required. Whether a guest whose POLICY.MIGRATE_MA allows a migration agent is accepted. A migration ' +
            'agent can move the guest\'s memory to another machine; false unless the deployment runs one it trusts.',
        },
        requireCrl: {
          type: 'boolean',
          description:
            'Required. true: an AMD CRL for the product, verified under the ARK, must be present, and a missing one ' +
            'rejects. false: revocation is checked only when a CRL is supplied.',
        },
        allowStaleCrl: {
          type: 'boolean',
          default: false,
          description:
            'Optional; unset = false. Whether a CRL past its nextUpdate (by the verification clock) is still used. ' +
            'false or unset: a stale CRL fails the check.',
        },
        allowSmt: {
          type: 'boolean',
          description:
            'Optional; unset = unchecked. Whether a guest whose POLICY allows simultaneous multithreading is ' +
            'accepted; false rejects it (sibling threads share core resources, a side channel).',
        },
        minimumAbi: {
          type: 'object',
          description:
            'Optional; unset = unchecked. Floor for the firmware ABI the guest POLICY demands (ABI_MAJOR.ABI_MINOR): ' +
            'the guest must have been launched requiring at least this ABI.',
          additionalProperties: false,
          required: ['major', 'minor'],
          properties: {
            major: { type: 'integer', minimum: 0, maximum: 255, description: 'ABI_MAJOR floor, 0..255.' },
            minor: {
              type: 'integer',
              minimum: 0,
              maximum: 255,
              description: 'ABI_MINOR floor when ABI_MAJOR equals major, 0..255.',
            },
          },
        },
        requireGuestPolicy: {
          type: 'array',
          description:
            'Optional; unset = none required. Guest POLICY flags that must be set: singleSocket (SINGLE_SOCKET), ' +
            'memAes256Xts (MEM_AES_256_XTS), raplDis (RAPL_DIS, no power-reporting side channel), ciphertextHiding ' +
            '(CIPHERTEXT_HIDING for DRAM), pageSwapDisable (PAGE_SWAP_DISABLE). No repeats.',
          items: {
            type: 'string',
            enum: ['singleSocket', 'memAes256Xts', 'raplDis', 'ciphertextHiding', 'pageSwapDisable'],
          },
          uniqueItems: true,
        },
        allowedVmpls: {
          type: 'array',
          description:
            'Optional; unset = unchecked. The VM privilege levels (0 most privileged, to 3) the report may have ' +
            'been requested from; any other VMPL is rejected. Non-empty, no repeats.',
          items: { type: 'integer', minimum: 0, maximum: 3 },
          minItems: 1,
          uniqueItems: true,
        },
        minimumGuestSvn: {
          type: 'integer',
          minimum: 0,
          maximum: 4294967295,
          description:
            'Optional; unset = unchecked. Floor for GUEST_SVN, the security version the guest\'s ID block gives ' +
            'its image.',
        },
        measurements: anyOfList(
          'Optional; unset = unchecked (any guest image is accepted). Accepted MEASUREMENT values, the launch ' +
            'digest of the guest\'s initial memory; the report must equal one of them. Deployments set this.',
          { $ref: '#/$defs/measurement' },
        ),
        hostData: anyOfList(
          'Optional; unset = unchecked. Accepted HOST_DATA values (32 bytes the host supplied at launch); the ' +
            'report must equal one of them.',
          { $ref: '#/$defs/hostData' },
        ),
        reportData: {
          $ref: '#/$defs/reportData',
          description:
            'Optional; unset = unchecked. Exact REPORT_DATA the report must carry. Vouch already binds REPORT_DATA ' +
            'to the evidence bundle (docs/protocol.md, "Binding"); set this only to pin a fixed value.',
        },
        idKeyDigests: anyOfList(
          'Optional; unset = unchecked. Accepted ID_KEY_DIGEST values (SHA-384 of the key that signed the ' +
            'guest\'s ID block); the report must equal one of them.',
          { $ref: '#/$defs/keyDigest' },
        ),
        authorKeyDigests: anyOfList(
          'Optional; unset = unchecked. Accepted AUTHOR_KEY_DIGEST values (SHA-384 of the key that signed the ID ' +
            'key); the report must carry an author key equal to one of them.',
          { $ref: '#/$defs/keyDigest' },
        ),
        chipIds: anyOfList(
          'Optional; unset = unchecked. The chips allowed to produce evidence, by CHIP_ID. A report whose CHIP_ID ' +
            'is masked cannot match, so it is rejected.',
          { $ref: '#/$defs/chipId' },
        ),
        minimumTcb: {
          type: 'object',
          description:
            'Optional; unset = unchecked. Per product, the lowest security patch levels accepted, each component ' +
            'compared on REPORTED_TCB, COMMITTED_TCB and LAUNCH_TCB. When set, every product in allowedProducts ' +
            'needs an entry.',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            Milan: { $ref: '#/$defs/tcbMinimum', description: 'TCB floor for Milan; four components, no fmc.' },
            Genoa: { $ref: '#/$defs/tcbMinimum', description: 'TCB floor for Genoa; four components, no fmc.' },
            Turin: { $ref: '#/$defs/turinTcbMinimum', description: 'TCB floor for Turin; five components with fmc.' },
          },
        },
        minimumFirmware: {
          type: 'object',
          description:
            'Optional; unset = unchecked. Per product, the lowest CURRENT firmware version accepted. When set, ' +
            'every product in allowedProducts needs an entry.',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            Milan: { $ref: '#/$defs/firmwareVersion', description: 'Firmware floor for Milan.' },
            Genoa: { $ref: '#/$defs/firmwareVersion', description: 'Firmware floor for Genoa.' },
            Turin: { $ref: '#/$defs/firmwareVersion', description: 'Firmware floor for Turin.' },
          },
        },
        allowProvisionalFirmware: {
          type: 'boolean',
          description:
            'Optional; unset = unchecked. false: reject a report whose COMMITTED TCB or firmware version differs ' +
            'from the CURRENT one (an update that is not committed and can still be rolled back). true: accept it.',
        },
      },
    },
    nvidiaGpu: {
      type: 'object',
      description: 'Rules for NVIDIA confidential-computing GPUs (Hopper H100/H200, Blackwell B200).',
      additionalProperties: false,
      required: ['required', 'allowedArchitectures', 'requireRimMatch', 'requireOcsp'],
      properties: {
        required: {
          type: 'boolean',
          description:
            'Required. true: evidence without any GPU is rejected (a deployment that must run on confidential GPUs). ' +
            'false: CPU-only evidence is accepted, and GPUs that are present must pass every rule here.',
        },
        allowedArchitectures: {
          type: 'array',
          description: 'Required. GPU architectures whose evidence is accepted. Non-empty, no repeats.',
          items: { type: 'string', enum: ['HOPPER', 'BLACKWELL'] },
          minItems: 1,
          uniqueItems: true,
        },
        count: {
          type: 'integer',
          minimum: 1,
          maximum: 64,
          description:
            'Optional; unset = any number. Exactly how many GPUs the evidence must attest (8 for an HGX node); more ' +
            'or fewer are rejected.',
        },
        requireRimMatch: {
          type: 'boolean',
          description:
            'Required. true: the driver and VBIOS RIMs for each GPU must be given, verify under the pinned NVIDIA RIM ' +
            'root, name the versions the report carries, and every active golden measurement must match. false: ' +
            'RIMs are compared only when supplied.',
        },
        requireOcsp: {
          type: 'boolean',
          description:
            'Required. true: OCSP responses for the device chain (certificates 1..3) and for each RIM chain must be ' +
            'given and verify; a missing one rejects. false: revocation is checked only when responses are supplied.',
        },
        allowOcspUnknown: {
          type: 'boolean',
          default: false,
          description:
            'Optional; unset = false. Whether an OCSP status "unknown" (the responder does not know the certificate) ' +
            'is accepted; false rejects it.',
        },
        ocspRevokedGracePeriod: {
          type: 'string',
          pattern: '^[0-9]{1,6}(s|m|h|d)$',
          patternErrorMessage: 'must be a duration such as "0s", "30m", "48h" or "7d"',
          description:
            'Optional; unset = "0s". How long after its revocation time a certificate reported "revoked" is still ' +
            'accepted, trading security for availability while a fleet is updated. "0s" accepts no revoked ' +
            'certificate.',
        },
        minimumDriverVersion: {
          $ref: '#/$defs/driverVersion',
          description: 'Optional; unset = unchecked. Lowest GPU driver version accepted, compared part by part.',
        },
        allowedDriverVersions: {
          type: 'array',
          description: 'Optional; unset = unchecked. Driver versions accepted; the report must name one of them.',
          items: { $ref: '#/$defs/driverVersion' },
          minItems: 1,
          uniqueItems: true,
        },
        minimumVbiosVersion: {
          $ref: '#/$defs/vbiosVersion',
          description: 'Optional; unset = unchecked. Lowest VBIOS version accepted, compared group by group.',
        },
        allowedVbiosVersions: {
          type: 'array',
          description: 'Optional; unset = unchecked. VBIOS versions accepted; the report must name one of them.',
          items: { $ref: '#/$defs/vbiosVersion' },
          minItems: 1,
          uniqueItems: true,
        },
        requireProtectedPcie: {
          type: 'boolean',
          description:
            'Optional; unset = unchecked. true: every GPU must report protected-PCIe mode (PPCIe, multi-GPU with ' +
            'NVSwitches). false: every GPU must report normal mode.',
        },
        requireNvdec0Disabled: {
          type: 'boolean',
          description:
            'Optional; unset = unchecked. true: NVDEC0 must be reported disabled (then its measurement, RIM index 35, ' +
            'is not compared, as NVIDIA\'s verifier does). false: it must be enabled.',
        },
      },
    },
    duration: {
      type: 'string',
      description: 'A duration: a number and a unit, s, m, h or d ("90s", "5m", "48h", "7d").',
      pattern: '^[0-9]{1,6}(s|m|h|d)$',
      patternErrorMessage: 'must be a duration such as "0s", "30m", "48h" or "7d"',
    },
    driverVersion: {
      type: 'string',
      description: 'An NVIDIA driver version such as "580.159.03".',
      pattern: '^[0-9]{1,4}(\\.[0-9]{1,4}){1,3}$',
      patternErrorMessage: 'must be a driver version such as "580.159.03"',
    },
    vbiosVersion: {
      type: 'string',
      description: 'A VBIOS version such as "96.00.74.00.20": five groups of two hex digits.',
      pattern: '^[0-9a-fA-F]{2}(\\.[0-9a-fA-F]{2}){4}$',
      patternErrorMessage: 'must be a VBIOS version such as "96.00.74.00.20"',
    },
    measurement: hex(48, 'MEASUREMENT', 'A MEASUREMENT (launch digest): 48 bytes as 96 hex characters.'),
    hostData: hex(32, 'HOST_DATA', 'A HOST_DATA value: 32 bytes as 64 hex characters.'),
    reportData: hex(64, 'REPORT_DATA', 'A REPORT_DATA value: 64 bytes as 128 hex characters.'),
    keyDigest: hex(48, 'SHA-384 key digest', 'A SHA-384 key digest: 48 bytes as 96 hex characters.'),
    chipId: {
      type: 'string',
      description:
        'A CHIP_ID: 64 bytes as 128 hex characters (Milan, Genoa), or a Turin chip\'s 8-byte ID as 16 hex characters.',
      pattern: '^([0-9a-fA-F]{128}|[0-9a-fA-F]{16})$',
      patternErrorMessage: 'must be 128 hex characters (a 64-byte CHIP_ID) or 16 (the 8-byte ID of a Turin chip)',
    },
    tcbMinimum: {
      type: 'object',
      description: 'Minimum security patch levels for Milan or Genoa. All four components are required.',
      additionalProperties: false,
      required: ['bootloader', 'tee', 'snp', 'microcode'],
      properties: {
        ...tcbComponents,
        fmc: {
          not: {},
          description: 'Not allowed: Milan and Genoa have no FMC component; only Turin does.',
          errorMessage: 'is not allowed here: Milan and Genoa have no FMC component (only Turin does)',
        },
      },
    },
    turinTcbMinimum: {
      type: 'object',
      description: 'Minimum security patch levels for Turin. All five components, fmc included, are required.',
      additionalProperties: false,
      required: ['fmc', 'bootloader', 'tee', 'snp', 'microcode'],
      properties: {
        fmc: spl('Minimum FMC security patch level (fmcSPL, Turin only), 0..255.'),
        ...tcbComponents,
      },
    },
    firmwareVersion: {
      type: 'string',
      description: 'A firmware version "MAJOR.MINOR.BUILD", each part 0..255, such as "1.55.21".',
      pattern: `^${octet}\\.${octet}\\.${octet}$`,
      patternErrorMessage: 'must be a firmware version "MAJOR.MINOR.BUILD" with parts 0..255, such as "1.55.21"',
    },
  },
} as const
