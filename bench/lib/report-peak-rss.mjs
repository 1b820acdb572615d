// Preloaded into a measured child process: reports its peak resident set size on exit, on stderr.
// VmHWM belongs to this process's own address space; getrusage's maxRSS would also count the memory
// of the parent the child was forked from (Linux keeps the pre-exec high-water mark).
import { readFileSync, writeSync } from 'node:fs'

process.on('exit', () => {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'
  writeSync(2, `\nVOUCH_PEAK_RSS_KB=${kb}\n`)
})
