/**
 * How OIP v2 tensors (`TensorData` of `@vouch/protocol`: datatype, shape, raw little-endian bytes) map onto
 * onnxruntime's tensor types, and the OIP v2 metadata of a model's inputs and outputs.
 */
import { OIP_DATATYPES, type OipDatatype } from '@vouch/protocol'

/** An input or output as OIP v2 model metadata describes it; `-1` marks a dimension of any size. */
export interface TensorMetadata {
  name: string
  datatype: OipDatatype
  shape: number[]
}

/** onnxruntime's name for a tensor element type (`Tensor.Type` of onnxruntime-common). */
export type OrtTensorType =
  | 'bool'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'string'

/**
 * The onnxruntime type of each OIP v2 datatype. BOOL is one byte per element (0 or 1) on both sides; FP16 is
 * carried as its raw 16-bit patterns (a Uint16Array), so no value is ever converted; BYTES are strings.
 */
export const ORT_TENSOR_TYPE: Readonly<Record<OipDatatype, OrtTensorType>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
}

const FROM_ORT = new Map<string, OipDatatype>(OIP_DATATYPES.map((d) => [ORT_TENSOR_TYPE[d], d]))

/** The OIP v2 datatype of an onnxruntime tensor type, or `undefined` for one OIP v2 cannot carry (int4, uint4). */
export function toOipDatatype(ortType: string): OipDatatype | undefined {
  return FROM_ORT.get(ortType)
}
