/** The readable form of a Result: a verdict line, a summary of the claims, then a table of checks. */
import type { Check, Result } from '../result.js'

const STATUS: Record<Check['status'], string> = { pass: 'pass', fail: 'FAIL', skip: 'skip' }

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

/** A table of checks: id, status, detail (wrapped), and under a failure the hint. */
export function renderChecks(checks: readonly Check[], width = 100): string {
  const idWidth = Math.max(5, ...checks.map((c) => c.id.length))
  const detailWidth = Math.max(40, width - idWidth - 10)
  const pad = ' '.repeat(idWidth + 10)
  const out = [`  ${'CHECK'.padEnd(idWidth)}  STATUS  DETAIL`]
  for (const check of checks) {
    const [first, ...rest] = wrap(check.detail, detailWidth)
    const status = check.warning ? 'warn' : STATUS[check.status]
    out.push(`  ${check.id.padEnd(idWidth)}  ${status.padEnd(6)}  ${first}`)
    for (const line of rest) out.push(`${pad}  ${line}`)
    if (check.status === 'fail') {
      if (check.code) out.push(`${pad}  [${check.code}]`)
      if (check.hint) for (const [i, line] of wrap(check.hint, detailWidth - 2).entries()) out.push(`${pad}  ${i === 0 ? '→ ' : '  '}${line}`)
    }
  }
  return out.join('\n')
}

/** The whole readable report for a Result; `summary` lines describe the claims. */
export function renderResult(title: string, result: Result<unknown>, summary: readonly string[]): string {
  const counts = { pass: 0, fail: 0, skip: 0 }
  for (const c of result.checks) counts[c.status]++
  const lines = [
    `${title}: ${result.verdict === 'accepted' ? 'ACCEPTED' : 'REJECTED'}  (${counts.pass} passed, ${counts.fail} failed, ${counts.skip} skipped)`,
    ...summary.map((s) => `  ${s}`),
    '',
    renderChecks(result.checks),
  ]
  if (result.errors.length > 0) {
    lines.push('', 'errors:')
    for (const e of result.errors) lines.push(`  ${e.code}: ${e.message}`)
  }
  return lines.join('\n')
}
