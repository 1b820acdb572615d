/**
 * The readable form of a Result: a verdict line, a summary of the claims, then a table of checks. By default the
 * table lists what needs reading (failed checks, with their code and what to change, and passes with a warning)
 * and one row per group of the other checks (`cpu.*  pass  17 checks passed, 13 skipped`); verbose lists every check.
 */
import type { Check, Result } from '../result.js'

const STATUS: Record<Check['status'], string> = { pass: 'pass', fail: 'FAIL', skip: 'skip' }

/** How a Result is rendered. Every field says what happens when it is unset. */
export interface RenderOptions {
  /** Every check on its own row, and every error listed. Unset: failed and warned checks, the rest counted per group. */
  verbose?: boolean
  /** Width of a row. Unset: 100 characters. */
  width?: number
}

function wrap(text: string, width: number): string[] {
  const words = text.split(/\s+/)
  const lines: string[] = []
  let line = ''
  for (const word of words) {
    if (line.length > 0 && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line.length > 0 ? `${line} ${word}` : word
  }
  if (line.length > 0) lines.push(line)
  return lines.length > 0 ? lines : ['']
}

/** The group a check is counted in: the first segment of its id (`cpu`, `gpu[0]`, `bundle`). */
function groupOf(check: Check): string {
  const dot = check.id.indexOf('.')
  return dot < 0 ? check.id : check.id.slice(0, dot)
}

/** Whether a check is shown on its own row in the compact table: a failure, or a pass that deserves attention. */
function stands(check: Check): boolean {
  return check.status === 'fail' || check.warning === true
}

/** A row of the compact table that stands for the unremarkable checks of one group. */
interface GroupRow {
  /** The group as shown: `cpu.*`, or a check's own id when it is alone in its group (`fwid`). */
  id: string
  pass: number
  skip: number
}

function groupRows(checks: readonly Check[]): GroupRow[] {
  const rows = new Map<string, GroupRow>()
  for (const check of checks) {
    if (stands(check)) continue
    const group = groupOf(check)
    const row = rows.get(group) ?? { id: check.id, pass: 0, skip: 0 }
    if (row.id !== check.id) row.id = `${group}.*`
    row[check.status === 'pass' ? 'pass' : 'skip']++
    rows.set(group, row)
  }
  return [...rows.values()]
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** A table of checks: id, status, detail (wrapped), and under a failure its code and the hint. Compact unless `options.verbose`. */
export function renderChecks(checks: readonly Check[], options: RenderOptions = {}): string {
  const { verbose = false, width = 100 } = options
  const shown = verbose ? checks : checks.filter(stands)
  const groups = verbose ? [] : groupRows(checks)
  const idWidth = Math.max(5, ...shown.map((c) => c.id.length), ...groups.map((g) => g.id.length))
  const detailWidth = Math.max(40, width - idWidth - 10)
  const pad = ' '.repeat(idWidth + 10)
  const out = [`  ${'CHECK'.padEnd(idWidth)}  STATUS  DETAIL`]
  for (const check of shown) {
    const [first, ...rest] = wrap(check.detail, detailWidth)
    const status = check.warning ? 'warn' : STATUS[check.status]
    out.push(`  ${check.id.padEnd(idWidth)}  ${status.padEnd(6)}  ${first}`)
    for (const line of rest) out.push(`${pad}  ${line}`)
    if (check.status === 'fail') {
      if (check.code) out.push(`${pad}  [${check.code}]`)
      if (check.hint) for (const [i, line] of wrap(check.hint, detailWidth - 2).entries()) out.push(`${pad}  ${i === 0 ? '→ ' : '  '}${line}`)
    }
  }
  for (const g of groups) {
    const counts = [g.pass > 0 && `${plural(g.pass, 'check')} passed`, g.skip > 0 && (g.pass > 0 ? `${g.skip} skipped` : `${plural(g.skip, 'check')} skipped`)]
    out.push(`  ${g.id.padEnd(idWidth)}  ${(g.pass > 0 ? 'pass' : 'skip').padEnd(6)}  ${counts.filter(Boolean).join(', ')}`)
  }
  if (groups.length > 0) out.push(`  (--verbose lists all ${plural(checks.length, 'check')}, with what each found or why it was skipped)`)
  return out.join('\n')
}

/**
 * The whole readable report for a Result; `summary` lines describe the claims. Compact unless `options.verbose`:
 * then errors already shown under a failed check (same code and message) are not listed again.
 */
export function renderResult(title: string, result: Result<unknown>, summary: readonly string[], options: RenderOptions = {}): string {
  const counts = { pass: 0, fail: 0, skip: 0 }
  for (const c of result.checks) counts[c.status]++
  const lines = [
    `${title}: ${result.verdict === 'accepted' ? 'ACCEPTED' : 'REJECTED'}  (${counts.pass} passed, ${counts.fail} failed, ${counts.skip} skipped)`,
    ...summary.map((s) => `  ${s}`),
    '',
    renderChecks(result.checks, options),
  ]
  const shownAbove = new Set(result.checks.filter((c) => c.status === 'fail').map((c) => `${c.code}\n${c.detail}`))
  const errors = options.verbose ? result.errors : result.errors.filter((e) => !shownAbove.has(`${e.code}\n${e.message}`))
  if (errors.length > 0) {
    lines.push('', 'errors:')
    for (const e of errors) lines.push(`  ${e.code}: ${e.message}`)
  }
  return lines.join('\n')
}
