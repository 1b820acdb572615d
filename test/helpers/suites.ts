/**
 * node:test's `describe` for suites that may have to be skipped (real evidence in ../shared/fixtures that a user's
 * checkout lacks, a tool that is not installed). Node.js 20 leaves a skipped suite out of the summary's `skipped`
 * count, so a run without the fixtures would end "skipped 2" and look complete; here a skipped suite is registered
 * as one skipped test of the same name, with its reason, and counts.
 */
import { describe as nodeDescribe, test } from 'node:test'

/** Why a suite is skipped (shown in the report), or false to run it. */
export type SkipReason = string | false

/** `describe(name, fn)`, or with `{ skip: reason }`, one skipped test named `name` that the summary counts. */
export function describe(name: string, options: { skip: SkipReason }, fn: () => void): void
export function describe(name: string, fn: () => void): void
export function describe(name: string, optionsOrFn: { skip: SkipReason } | (() => void), maybeFn?: () => void): void {
  const fn = typeof optionsOrFn === 'function' ? optionsOrFn : maybeFn!
  const skip = typeof optionsOrFn === 'function' ? false : optionsOrFn.skip
  if (skip === false) nodeDescribe(name, fn)
  else test(name, { skip }, () => {})
}
