// reduceSum: y = scale · Σ x over the reduced axes; y holds the kept axes in row-major order (mean
// passes scale = 1/count). Memory-bound: bytes = 4·(|x| + |y|); FLOPs = |x|. Accumulates in f32.
//
// The host splits x's dimensions into kept and reduced lists (each with its x strides), drops size-1
// dimensions and merges dimensions contiguous in x, so a row sum walks one unit-stride dimension and
// "reduce all" is a single flat loop. Two entry points:
//   reduceSumPerThread     one invocation per output element loops over the whole reduced index
//                          space (short reductions, many outputs).
//   reduceSumPerWorkgroup  one workgroup per output element: 256 invocations stride the reduced
//                          space, then a tree sum in workgroup memory (long reductions; also keeps
//                          few-output cases like BN's per-channel sums parallel).
// Both fold the grid into 2-D and rebuild the linear index.
//
// Bindings: 0 = x, 2 = y, 3 = params.
// Params (u32 words, see src/backends/webgpu/kernels.ts):
//   [0] |y|  [1] reduced count  [2] kept rank  [3] reduced rank  [4] scale (f32 bits)
//   [8..15] kept shape  [16..23] kept strides in x  [24..31] reduced shape  [32..39] reduced strides

struct Params {
  v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;

var<workgroup> partial: array<f32, 256>;

fn word(i: u32) -> u32 {
  return params.v[i >> 2u][i & 3u];
}

// Offset in x of the first element summed into output o.
fn keptOffset(o: u32) -> u32 {
  let rank = word(2u);
  var rem = o;
  var off = 0u;
  for (var k = 0u; k < rank; k++) {
    let d = rank - 1u - k;
    let size = word(8u + d);
    off += (rem % size) * word(16u + d);
    rem = rem / size;
  }
  return off;
}

// Offset in x of the q-th element of the reduced index space, relative to keptOffset.
fn reducedOffset(q: u32) -> u32 {
  let rank = word(3u);
  var rem = q;
  var off = 0u;
  for (var k = 0u; k < rank; k++) {
    let d = rank - 1u - k;
    let size = word(24u + d);
    off += (rem % size) * word(32u + d);
    rem = rem / size;
  }
  return off;
}

@compute @workgroup_size(256)
fn reduceSumPerThread(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (o >= word(0u)) { return; }
  let base = keptOffset(o);
  let count = word(1u);
  var s = 0.0;
  for (var q = 0u; q < count; q++) {
    s += x[base + reducedOffset(q)];
  }
  y[o] = s * bitcast<f32>(word(4u));
}

@compute @workgroup_size(256)
fn reduceSumPerWorkgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = wg.y * nwg.x + wg.x;
  // o is uniform across the workgroup, so this return keeps the barriers below in uniform control.
  if (o >= word(0u)) { return; }
  let base = keptOffset(o);
  let count = word(1u);
  var s = 0.0;
  for (var q = lid.x; q < count; q += WG) {
    s += x[base + reducedOffset(q)];
  }
  partial[lid.x] = s;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid.x < half) {
      partial[lid.x] += partial[lid.x + half];
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    y[o] = partial[0] * bitcast<f32>(word(4u));
  }
}
