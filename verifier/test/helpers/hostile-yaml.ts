/**
 * Hostile YAML for the tests of the policy parser and the files read with it (issue 10, item 5): an alias bomb
 * and nesting deep enough to exhaust the YAML composer's stack.
 */

const LEVELS = 'abcdefgh'

/**
 * A 329-byte policy-shaped alias bomb ("billion laughs"): 8 levels of 9 aliases to the level above, 9^8 (43
 * million) values once expanded. Before the fix, `vouch-verify policy lint` took 86 s and 3.1 GB on it here,
 * then failed with an internal error.
 */
export const ALIAS_BOMB = [
  'version: 1',
  'name: b',
  'allowSimulated: true',
  `a: &a [${Array(9).fill('"l"').join(',')}]`,
  ...[...LEVELS.slice(1)].map((level, i) => `${level}: &${level} [${Array(9).fill(`*${LEVELS[i]}`).join(',')}]`),
  '',
].join('\n')

/** YAML nesting `depth` flow lists, `[[[…]]]`: two bytes a level. */
export function deepFlow(depth: number): string {
  return `version: ${'['.repeat(depth)}${']'.repeat(depth)}\n`
}

/** YAML nesting `depth` block lists, `- - - … x`: two bytes a level. */
export function deepBlock(depth: number): string {
  return `version:\n  ${'- '.repeat(depth)}x\n`
}
