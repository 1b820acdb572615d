/**
 * Inference: model manifests, digest-checked loading, one onnxruntime session per model on its own worker
 * thread, and OIP v2 tensors checked against the model's metadata before they reach the runtime.
 */
export type { OrtTensorType, TensorMetadata } from './tensor.js'
export { manifestSchema } from './manifest-schema.js'
export {
  ManifestInvalidError,
  parseManifest,
  type Contributor,
  type ContributorRole,
  type ManifestIssue,
  type ModelManifest,
  type ModelSource,
} from './manifest.js'
export { prepareRun, type TensorSignature } from './validate.js'
export type { PreparedRun } from './worker-messages.types.js'
export {
  loadModel,
  loadModels,
  runModel,
  type LoadModelsOptions,
  type LoadedModel,
  type LoadedModels,
  type RefusedModel,
  type ModelMetadata,
} from './load-models.js'
