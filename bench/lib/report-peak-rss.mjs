// Preloaded into a measured child process: reports its peak resident set size on exit, on stderr.
import { writeSync } from 'node:fs'

process.on('exit', () => writeSync(2, `\nVOUCH_PEAK_RSS_KB=${process.resourceUsage().maxRSS}\n`))
