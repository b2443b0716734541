// Elementwise kernels: add, mul (numpy broadcasting), broadcastTo (out = scale·x broadcast), relu,
// reluBackward (dx = dy where y > 0), addRelu (relu(a + b), same shapes), fill. Memory-bound: each reads its inputs once and writes its
// output once (bytes = 4·(|a| + |b| + |out|)); one FLOP per output element.
//
// One invocation per output element, 256 per workgroup. The host folds the grid into 2-D
// (x, y ≤ maxComputeWorkgroupsPerDimension), so the linear index is rebuilt from both.
// Broadcast operands are read through per-dimension strides (0 along broadcast dimensions); the host
// first drops size-1 dimensions and merges dimensions that are contiguous in every operand, so
// [2,3,4]+[4] runs as a rank-2 walk and same-shape operands take the flat entry points.
//
// Bindings: 0 = a (or x, dy), 1 = b (or y), 2 = out, 3 = params. Entry points that take fewer
// inputs leave the unused bindings out of their layout.
// Params (u32 words, see src/backends/webgpu/kernels.ts):
//   [0] n = |out|   [1] rank   [2] scale or value (f32 bits)
//   [8..15] out shape   [16..23] strides of a   [24..31] strides of b

struct Params {
  v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;

fn word(i: u32) -> u32 {
  return params.v[i >> 2u][i & 3u];
}

fn linearIndex(wg: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + lid.x;
}

// Offsets of output element i in a and b.
fn offsets(i: u32) -> vec2<u32> {
  let rank = word(1u);
  var rem = i;
  var oa = 0u;
  var ob = 0u;
  for (var k = 0u; k < rank; k++) {
    let d = rank - 1u - k;
    let size = word(8u + d);
    let idx = rem % size;
    rem = rem / size;
    oa += idx * word(16u + d);
    ob += idx * word(24u + d);
  }
  return vec2<u32>(oa, ob);
}

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  let o = offsets(i);
  out[i] = a[o.x] + b[o.y];
}

@compute @workgroup_size(256)
fn mul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  let o = offsets(i);
  out[i] = a[o.x] * b[o.y];
}

// a and b have out's shape.
@compute @workgroup_size(256)
fn addFlat(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  out[i] = a[i] + b[i];
}

@compute @workgroup_size(256)
fn mulFlat(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  out[i] = a[i] * b[i];
}

@compute @workgroup_size(256)
fn broadcastTo(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  out[i] = a[offsets(i).x] * bitcast<f32>(word(2u));
}

@compute @workgroup_size(256)
fn relu(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  let x = a[i];
  out[i] = select(x, 0.0, x <= 0.0);  // relu(NaN) = NaN, as in PyTorch
}

// a = dy, b = y (relu's output, so y > 0 is the same mask as x > 0).
@compute @workgroup_size(256)
fn reluBackward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  out[i] = select(a[i], 0.0, b[i] <= 0.0);
}

// relu(a + b), same shapes (a residual block's add and ReLU in one pass).
@compute @workgroup_size(256)
fn addRelu(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  let s = a[i] + b[i];
  out[i] = select(s, 0.0, s <= 0.0);
}

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  out[i] = bitcast<f32>(word(2u));
}
