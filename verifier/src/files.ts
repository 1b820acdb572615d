/**
 * `@vouch/verifier/files`: evidence, RIMs and policies read from disk, each kind with a size bound checked before
 * the file is read whole (`ERR_INPUT_INVALID` beyond it), for command-line programs and services that take paths.
 */
export { readInputFile, loadPolicyFile, InputFileTooLargeError, INPUT_FILE_LIMITS, type InputFileKind, type InputFileLimit } from './input-file.js'
