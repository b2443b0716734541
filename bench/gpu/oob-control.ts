// The memory checker's positive control: relu over 1000 floats on CUDA. With the planted build
// (CMake IFA_PLANT_OOB=ON, loaded through IFA_NATIVE_PATH) reluKernel reads x[1000], one past the
// input, and compute-sanitizer memcheck (with IFA_CUDA_EXACT_ALLOC=1: exact-size blocks) must report an
// invalid global read; bench/gpu/check.sh's control step runs it so. With a normal build it reads
// nothing out of bounds and prints the same line.
//   IFA_NATIVE_PATH=build-plant/Release/ifa_native.node IFA_CUDA_EXACT_ALLOC=1 \
//     compute-sanitizer --tool memcheck node dist/bench/gpu/oob-control.js
import { initBackend, randomNormal, relu } from '../../src/index.js';

await initBackend('cuda');
const x = randomNormal([1000], { seed: 1, backend: 'cuda' });
const y = relu(x);
const v = await y.data();
console.log(`oob-control: relu over ${v.length} floats on cuda, first ${v[0].toFixed(4)}`);
