// Checkpoint I/O: safetensors, PyTorch .pth import, conv-weight layout conversion.
export type { IoDtype, IoData, TensorRecord } from './types.js';
export { isTensorRecord } from './types.js';
export {
  writeSafetensors,
  writeSafetensorsAsync,
  readSafetensors,
  readSafetensorsAsync,
  encodeSafetensors,
  serializeSafetensors,
  decodeSafetensors,
} from './safetensors.js';
export type { SafetensorsInput, SafetensorsContents } from './safetensors.js';
export { readPth, extractStateDict, extractStateDictReport, compareKeys } from './pth.js';
export type { StateDictReport, ExtractOptions, KeyComparison } from './pth.js';
export { oihwToOhwi, ohwiToOihw } from './layout.js';
export type { LayoutRecord } from './layout.js';
