/**
 * Lines and columns of a text file, for `file:line:column: field: message` problems: the policy reader (verifier),
 * the model manifest reader (enclave) and the host's configuration file all name where a problem is this way.
 * Parsers report character offsets; this turns them into positions without a parser, so the three count alike.
 */

/** A 1-based line and column, as editors count them; the column counts UTF-16 code units. */
export interface TextPosition {
  line: number
  column: number
}

/**
 * The position of any character offset of `text`. A line starts after each "\n" ("\r\n" ends a line once, a
 * lone "\r" does not), as YAML 1.2 and the `yaml` package's LineCounter count them; an offset past the end is on
 * the last line, a negative one at 1:1. The line starts are found once, then each lookup is a binary search.
 */
export function textPositions(text: string): (offset: number) => TextPosition {
  const starts = [0]
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1)
  return (offset) => {
    const at = Math.max(0, offset)
    // The last line start at or before `at`.
    let low = 0
    let high = starts.length - 1
    while (low < high) {
      const mid = (low + high + 1) >> 1
      if (starts[mid]! <= at) low = mid
      else high = mid - 1
    }
    return { line: low + 1, column: at - starts[low]! + 1 }
  }
}

/** One problem in a text file: where it is, the dotted path of the field (empty for the whole file), what is wrong. */
export interface FileIssue extends TextPosition {
  file: string
  field: string
  message: string
}

/** The problems of one file, each added at a character offset of its text. */
export interface FileIssueList {
  /** The problems so far, in the order added. */
  readonly issues: FileIssue[]
  /** Adds a problem found at `offset` of the text. */
  readonly add: (offset: number, field: string, message: string) => void
  /** The line and column of `offset`. */
  readonly position: (offset: number) => TextPosition
}

/** An empty {@link FileIssueList} for `text`, the contents of `file` (as messages name it). */
export function createFileIssueList(file: string, text: string): FileIssueList {
  const position = textPositions(text)
  const issues: FileIssue[] = []
  const add = (offset: number, field: string, message: string): void => {
    const { line, column } = position(offset)
    issues.push({ file, line, column, field, message })
  }
  return { issues, add, position }
}

/** One line per problem: `file:line:column: field: message`, or `file:line:column: message` without a field. */
export function formatFileIssues(issues: readonly FileIssue[]): string {
  return issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.field === '' ? '' : `${i.field}: `}${i.message}`).join('\n')
}
