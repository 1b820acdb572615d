/**
 * A minimal ONNX ModelProto writer for tests, so tiny graphs (Identity, Cast) can be built without Python or
 * the onnx package. Only the protobuf fields these graphs need (onnx/onnx.proto, IR version 8):
 *   ModelProto      1 ir_version, 7 graph, 8 opset_import
 *   OperatorSetId   1 domain, 2 version
 *   GraphProto      1 node, 2 name, 11 input, 12 output
 *   NodeProto       1 input, 2 output, 3 name, 4 op_type, 5 attribute
 *   AttributeProto  1 name, 3 i, 20 type (2 = INT)
 *   ValueInfoProto  1 name, 2 type;  TypeProto 1 tensor_type;  TypeProto.Tensor 1 elem_type, 2 shape
 *   TensorShapeProto 1 dim;  Dimension 1 dim_value, 2 dim_param
 */
import type { OipDatatype } from '@vouch/protocol'

/** TensorProto.DataType of each OIP v2 datatype, plus BF16 (which onnxruntime-node cannot carry). */
export const ONNX_ELEM_TYPE: Readonly<Record<OipDatatype | 'BF16', number>> = {
  FP32: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BYTES: 8,
  BOOL: 9,
  FP16: 10,
  FP64: 11,
  UINT32: 12,
  UINT64: 13,
  BF16: 16,
}

/** A graph input or output: a tensor with a datatype and a shape (numbers fixed, strings symbolic). */
export interface OnnxValue {
  name: string
  datatype: OipDatatype | 'BF16'
  shape: (number | string)[]
}

/** A node: an operator from the default domain, with integer attributes. */
export interface OnnxNode {
  op: string
  inputs: string[]
  outputs: string[]
  attributes?: Record<string, number>
}

function varint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
const int = (field: number, value: number): Uint8Array => new Uint8Array([...varint(field << 3), ...varint(value)])
const bytes = (field: number, value: Uint8Array): Uint8Array =>
  concat([new Uint8Array([...varint((field << 3) | 2), ...varint(value.length)]), value])
const str = (field: number, value: string): Uint8Array => bytes(field, new TextEncoder().encode(value))
const msg = (field: number, ...parts: Uint8Array[]): Uint8Array => bytes(field, concat(parts))

function valueInfo(field: number, v: OnnxValue): Uint8Array {
  const dims = v.shape.map((d) => msg(1, typeof d === 'number' ? int(1, d) : str(2, d)))
  const tensorType = msg(1, int(1, ONNX_ELEM_TYPE[v.datatype]), msg(2, ...dims))
  return msg(field, str(1, v.name), msg(2, tensorType))
}

function node(n: OnnxNode, index: number): Uint8Array {
  const attributes = Object.entries(n.attributes ?? {}).map(([name, i]) => msg(5, str(1, name), int(3, i), int(20, 2)))
  return msg(1, ...n.inputs.map((i) => str(1, i)), ...n.outputs.map((o) => str(2, o)), str(3, `n${index}`), str(4, n.op), ...attributes)
}

/** Serialises a ModelProto (IR version 8, default-domain opset `opset`, 13 unless given). */
export function buildOnnxModel(graph: {
  inputs: OnnxValue[]
  outputs: OnnxValue[]
  nodes: OnnxNode[]
  opset?: number
}): Uint8Array {
  const g = msg(
    7,
    ...graph.nodes.map(node),
    str(2, 'test'),
    ...graph.inputs.map((v) => valueInfo(11, v)),
    ...graph.outputs.map((v) => valueInfo(12, v)),
  )
  return concat([int(1, 8), g, msg(8, str(1, ''), int(2, graph.opset ?? 13))])
}

/** A model whose output `y` is its input `x` (Identity), for a datatype and shape. */
export function identityModel(datatype: OipDatatype | 'BF16', shape: (number | string)[]): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'x', datatype, shape }],
    outputs: [{ name: 'y', datatype, shape }],
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
  })
}
