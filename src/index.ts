// ifa-ssl: the package root.
import './core/autograd.js';

export { Tensor, tensor, zeros, ones, full, randomNormal, randomUniform, isTensor } from './core/tensor.js';
export type { TensorOptions, RandomOptions, GradNode } from './core/tensor.js';
export { DTYPES } from './core/dtype.js';
export type { DType } from './core/dtype.js';
export { setFloat32Precision, getFloat32Precision } from './core/precision.js';
export type { Float32Precision } from './core/precision.js';
export { tidy, keep, noGrad, isGradEnabled } from './core/engine.js';
export { backward } from './core/autograd.js';
export { setSeed } from './core/random.js';
export { memory } from './core/memory.js';
export type { MemoryInfo } from './core/memory.js';
export { backends, setBackend, getDefaultBackend, initBackend, getBackend } from './backends/registry.js';
export type { BackendName, BackendStatus, Backend, BackendMemory } from './backends/backend.js';
export { add } from './ops/add.js';
export { mul } from './ops/mul.js';
export { relu } from './ops/relu.js';
export { cast } from './ops/cast.js';
export { sum, mean } from './ops/reduce.js';
export type { ReduceOptions } from './ops/reduce.js';
export { matmul } from './ops/matmul.js';
export type { MatmulOptions } from './ops/matmul.js';
export { conv2d, linear } from './ops/conv2d.js';
export type { Conv2dOptions } from './ops/conv2d.js';
export { batchNorm2d } from './ops/batchnorm.js';
export type { BatchNormOptions } from './ops/batchnorm.js';
export { maxPool2d, globalAvgPool } from './ops/pool.js';
export type { MaxPoolOptions } from './ops/pool.js';
export { l2Normalize } from './ops/l2normalize.js';
export type { L2NormalizeOptions } from './ops/l2normalize.js';
export { concat, slice } from './ops/layout.js';
export { softmaxCrossEntropy } from './ops/loss.js';
export { ifaLoss } from './ops/ifa.js';
export type { IfaLossOptions } from './ops/ifa.js';
export { scale } from './ops/scale.js';
export { gatherRows, copyRowsInto } from './ops/rows.js';
export { sgdStep, emaUpdate } from './optim/kernels.js';
export type { SgdStepOptions } from './optim/kernels.js';
export { SGD, learningRate } from './optim/sgd.js';
export type { SgdOptions, ScheduleOptions } from './optim/sgd.js';
export { registeredOps } from './ops/registry.js';
export type { OpSpec, OpCase, HalfTolerance } from './ops/registry.js';
export { info } from './info.js';
export { Module } from './nn/module.js';
export { Conv2d, BatchNorm2d, Linear, ReLU, MaxPool2d, GlobalAvgPool, Sequential } from './nn/layers.js';
export { ResNet50, Bottleneck } from './nn/models/resnet50.js';
export type { ResNet50Options, ResNetOutput } from './nn/models/resnet50.js';
export { MoCo } from './ssl/moco.js';
export type { MocoOptions, StepLosses } from './ssl/moco.js';
export { SimCLR } from './ssl/simclr.js';
export type { SimclrOptions } from './ssl/simclr.js';
export { infoNCE, ntXent, combineLosses, DEFAULT_IFA } from './ssl/losses.js';
export type { IfaTerm, LossParts } from './ssl/losses.js';
export { Trainer } from './train/trainer.js';
export type { StepMetrics, TrainResult, TrainerHooks } from './train/trainer.js';
export { exportModule, importModule, readAnyCheckpoint, writeCheckpoint } from './train/checkpoint.js';
export { parseConfig, configSchema } from './train/config.js';
export type { Config, ConfigInput } from './train/config.js';
// chest-radiograph data pipeline (src/data); a namespace too, since names like normalize/contrast are generic
export * as data from './data/index.js';
export { CxrLoader, ImageFolder, CsvManifest, SyntheticCxr, syntheticRadiograph, preprocessCxr, decodeFile, DecodeError } from './data/index.js';
export type { LoaderOptions, Batch, LoaderStats, Dataset, AugSpec, PresetName, GrayImage } from './data/index.js';
// checkpoint I/O: safetensors, PyTorch .pth import, conv-weight layout (src/io)
export { writeSafetensors, writeSafetensorsAsync, readSafetensors, readSafetensorsAsync, encodeSafetensors, serializeSafetensors, decodeSafetensors, readPth, extractStateDict, extractStateDictReport, compareKeys, oihwToOhwi, ohwiToOihw, isTensorRecord } from './io/index.js';
export type { IoDtype, IoData, TensorRecord, SafetensorsInput, SafetensorsContents, StateDictReport, ExtractOptions, KeyComparison, LayoutRecord } from './io/index.js';
export type { BuildInfo } from './info.js';

import { CpuBackend } from './backends/cpu.js';
import { getBackend } from './backends/registry.js';

/** Number of CPU kernel threads (default: all cores). */
export function setCpuThreads(n: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new RangeError(`setCpuThreads: expects a positive integer, got ${n}`);
  (getBackend('cpu') as CpuBackend).setThreads(n);
}
