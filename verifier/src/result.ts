/**
 * The Result every public verify function resolves to (DESIGN.md §5), and the collector that builds
 * it. Verification steps record checks here instead of throwing, so a Result explains every decision.
 */
import { ProtocolError } from '@vouch/protocol'
import { PolicyError, VerificationError, type ErrorCode } from './errors.js'

/** Outcome of one check. `skip` always says why in `detail`. */
export type CheckStatus = 'pass' | 'fail' | 'skip'

/** One line of the explanation table. */
export interface Check {
  /** Stable identifier, such as `chain.vek` or `policy.measurement`. */
  id: string
  status: CheckStatus
  /** What was checked and what was found; for a skip, the reason. */
  detail: string
  /** On failure: the error code. */
  code?: ErrorCode
  /** On failure: what to change to make it pass, where that is knowable. */
  hint?: string
  /** A pass that deserves attention (bytes nobody signed were ignored, for example). */
  warning?: true
}

/** A failure, as listed in `Result.errors`. */
export interface ResultError {
  code: ErrorCode
  message: string
}

/** The verdict with its claims and its reasons. Public verify functions never throw for bad evidence. */
export interface Result<C> {
  verdict: 'accepted' | 'rejected'
  claims: C
  checks: Check[]
  errors: ResultError[]
}

/** Errors a step may throw and the collector turns into a failed check. */
export type StepError = VerificationError | PolicyError | ProtocolError

function isStepError(e: unknown): e is StepError {
  return e instanceof VerificationError || e instanceof PolicyError || e instanceof ProtocolError
}

/**
 * Steps of {@link CheckCollector.runAsync} not yet settled, by collector: a Result is never made while one could still
 * fail. Kept outside the class so that it stays structural (the tests mix the built and the source copies).
 */
const running = new WeakMap<CheckCollector, number>()

/** Collects checks in order and derives the verdict: accepted only if something passed and nothing failed. */
export class CheckCollector {
  readonly checks: Check[] = []
  readonly errors: ResultError[] = []

  pass(id: string, detail: string): void {
    this.checks.push({ id, status: 'pass', detail })
  }

  /** A check that passes but should be read: the detail says what was noticed and ignored. */
  warn(id: string, detail: string): void {
    this.checks.push({ id, status: 'pass', detail, warning: true })
  }

  skip(id: string, reason: string): void {
    this.checks.push({ id, status: 'skip', detail: reason })
  }

  fail(id: string, code: ErrorCode, message: string, hint?: string): void {
    const check: Check = { id, status: 'fail', detail: message, code }
    if (hint !== undefined) check.hint = hint
    this.checks.push(check)
    this.errors.push({ code, message })
  }

  /** Appends checks recorded elsewhere (policy evaluation's), each failure also as an error. */
  append(checks: readonly Check[]): void {
    for (const check of checks) {
      this.checks.push(check)
      if (check.status === 'fail' && check.code !== undefined) this.errors.push({ code: check.code, message: check.detail })
    }
  }

  /** Records the failure a step threw; anything that is not a coded verifier error is rethrown. */
  failWith(id: string, error: unknown, hint?: string): void {
    if (!isStepError(error)) throw error
    this.fail(id, error.code, error.message, hint)
  }

  /**
   * Runs a step: its return value is the pass detail, a thrown coded error becomes a failed check.
   * Returns whether it passed, so later steps can depend on it.
   */
  run(id: string, step: () => string): boolean {
    try {
      this.pass(id, step())
      return true
    } catch (error) {
      this.failWith(id, error)
      return false
    }
  }

  /**
   * {@link run} for a step that awaits (a signature check): the same outcome once it settles. A Result cannot be made
   * before every such step has settled ({@link toResult} throws), so a step whose promise was dropped fails loudly.
   */
  async runAsync(id: string, step: () => Promise<string>): Promise<boolean> {
    running.set(this, (running.get(this) ?? 0) + 1)
    try {
      this.pass(id, await step())
      return true
    } catch (error) {
      this.failWith(id, error)
      return false
    } finally {
      running.set(this, running.get(this)! - 1)
    }
  }

  get failed(): boolean {
    return this.errors.length > 0
  }

  toResult<C>(claims: C): Result<C> {
    if ((running.get(this) ?? 0) > 0) throw new Error('CheckCollector: a Result was asked for while a check was still running')
    const accepted = !this.failed && this.checks.some((c) => c.status === 'pass')
    return { verdict: accepted ? 'accepted' : 'rejected', claims, checks: this.checks, errors: this.errors }
  }
}
