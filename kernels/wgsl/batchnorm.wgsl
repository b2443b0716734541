// Batch normalisation over every axis but the last: x[..., C] read as `rows` rows of C channels.
// Statistics and gradient sums are two-level reductions: a partial pass where each invocation owns
// one channel of one block of rows (neighbouring invocations read neighbouring channels, so loads
// coalesce) and writes a per-(block, channel) partial, then a per-channel pass that merges the
// blocks in order (Chan's formula for mean and M2). Then an elementwise pass writes y or dx.
//   batchNormTrain:        bnStatsPartial, bnStatsFinal (mean, invStd), bnApply. Bytes ≈ 4·4|x|.
//   batchNormEval:         bnApply with running statistics. Bytes 4·2|x|.
//   batchNorm(Eval)Backward: bnChannels (mean, invStd, scale per channel), bnGradPartial (Σg,
//                          Σg·(x − mean), g = dy masked by the recomputed relu), bnGradFinal
//                          (dgamma, dbeta, dx coefficients), bnGradInput. Bytes ≈ 4·5|x|.
//   batchNormUpdateStats:  bnUpdateStats, O(C), in place.
// Block means and M2 are exact two-pass sums within a block (the block is re-read from cache).
//
// Params: [0] rows [1] C [2] rows per block R [3] blocks B [4] relu [5] mode (0 train, 1 eval)
//   f[6] eps f[7] momentum f[8] count [9] first block [10] blocks per chunk [11] rows per chunk
// A call past one storage binding runs the per-row passes chunk by chunk over views of x, dy, y
// (src/backends/webgpu/split.ts): a partial pass then sees the chunk's rows ([0]) and blocks ([3])
// and writes its blocks from [9] on, and the merge sees every block, block b covering rows
// [chunk·[11] + (b mod [10])·R, …) of the whole. Unsplit: [9] = 0, [10] = B, [11] = rows.

struct Params {
  v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> s1: array<f32>;
@group(0) @binding(5) var<storage, read> s2: array<f32>;
@group(0) @binding(6) var<storage, read> partIn: array<f32>;
@group(0) @binding(7) var<storage, read> chan: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;
@group(0) @binding(9) var<storage, read_write> y: array<f32>;
@group(0) @binding(10) var<storage, read_write> o1: array<f32>;
@group(0) @binding(11) var<storage, read_write> o2: array<f32>;
@group(0) @binding(12) var<storage, read_write> o3: array<f32>;

fn word(i: u32) -> u32 {
  return params.v[i >> 2u][i & 3u];
}
fn fword(i: u32) -> f32 {
  return bitcast<f32>(word(i));
}

// Channel c of row block blk, from the grid of ceil(C/64) × B workgroups of 64.
struct Item {
  c: u32,
  blk: u32,
  ok: bool,
}
fn itemOf(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> Item {
  let C = word(1u);
  let tiles = (C + 63u) / 64u;
  let g = wg.y * nwg.x + wg.x;
  let blk = g / tiles;
  let c = (g % tiles) * 64u + lid;
  return Item(c, blk, c < C && blk < word(3u));
}

// o1[(blk·C + c)·2 + {0, 1}] = block mean, block M2
@compute @workgroup_size(64)
fn bnStatsPartial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
  let it = itemOf(wg, nwg, lid.x);
  if (!it.ok) { return; }
  let C = word(1u);
  let R = word(2u);
  let r0 = it.blk * R;
  let r1 = min(word(0u), r0 + R);
  var s = 0.0;
  for (var r = r0; r < r1; r++) { s += x[r * C + it.c]; }
  let m = s / f32(r1 - r0);
  var m2 = 0.0;
  for (var r = r0; r < r1; r++) { let d = x[r * C + it.c] - m; m2 += d * d; }
  let at = (word(9u) + it.blk) * C + it.c;
  o1[at * 2u] = m;
  o1[at * 2u + 1u] = m2;
}

// The rows of block b of the whole (see the params).
fn blockRows(b: u32) -> u32 {
  let Bc = word(10u);
  let Rc = word(11u);
  let R = word(2u);
  let chunk = b / Bc;
  let start = chunk * Rc + (b % Bc) * R;
  let end = min(min(chunk * Rc + Rc, start + R), word(0u));
  return end - start;
}

// Merges the blocks in order: o1 = mean, o2 = invStd = 1/sqrt(biased var + eps).
@compute @workgroup_size(64)
fn bnStatsFinal(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
  let C = word(1u);
  let c = (wg.y * nwg.x + wg.x) * 64u + lid.x;
  if (c >= C) { return; }
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var b = 0u; b < word(3u); b++) {
    let nb = f32(blockRows(b));
    let mb = partIn[(b * C + c) * 2u];
    let m2b = partIn[(b * C + c) * 2u + 1u];
    let tot = n + nb;
    let d = mb - mean;
    mean += d * (nb / tot);
    m2 += m2b + d * d * (n * nb / tot);
    n = tot;
  }
  o1[c] = mean;
  o2[c] = 1.0 / sqrt(m2 / n + fword(6u));
}

// y = relu?((x − mean)·scale + beta); train: s1 = mean, s2 = invStd; eval: s1 = running mean,
// s2 = running var (invStd = 1/sqrt(var + eps)).
@compute @workgroup_size(256)
fn bnApply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  let C = word(1u);
  if (i >= word(0u) * C) { return; }
  let c = i % C;
  var istd = s2[c];
  if (word(5u) != 0u) { istd = 1.0 / sqrt(s2[c] + fword(6u)); }
  var v = (x[i] - s1[c]) * (istd * gamma[c]) + beta[c];
  if (word(4u) != 0u && v <= 0.0) { v = 0.0; }
  y[i] = v;
}

// o1[c·3 + {0,1,2}] = mean, invStd, scale = invStd·gamma (as the forward computed it).
@compute @workgroup_size(64)
fn bnChannels(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = (wg.y * nwg.x + wg.x) * 64u + lid.x;
  if (c >= word(1u)) { return; }
  var istd = s2[c];
  if (word(5u) != 0u) { istd = 1.0 / sqrt(s2[c] + fword(6u)); }
  o1[c * 3u] = s1[c];
  o1[c * 3u + 1u] = istd;
  o1[c * 3u + 2u] = istd * gamma[c];
}

fn maskedGrad(i: u32, c: u32) -> f32 {
  var g = dy[i];
  if (word(4u) != 0u) {
    let v = (x[i] - chan[c * 3u]) * chan[c * 3u + 2u] + beta[c];
    if (!(v > 0.0)) { g = 0.0; }
  }
  return g;
}

// o1[(blk·C + c)·2 + {0, 1}] = Σg, Σg·(x − mean) over the block's rows.
@compute @workgroup_size(64)
fn bnGradPartial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
  let it = itemOf(wg, nwg, lid.x);
  if (!it.ok) { return; }
  let C = word(1u);
  let R = word(2u);
  let r0 = it.blk * R;
  let r1 = min(word(0u), r0 + R);
  let mean = chan[it.c * 3u];
  var sg = 0.0;
  var sgx = 0.0;
  for (var r = r0; r < r1; r++) {
    let i = r * C + it.c;
    let g = maskedGrad(i, it.c);
    sg += g;
    sgx += g * (x[i] - mean);
  }
  let at = (word(9u) + it.blk) * C + it.c;
  o1[at * 2u] = sg;
  o1[at * 2u + 1u] = sgx;
}

// o1 = dgamma, o2 = dbeta, o3[c·3 + {0,1,2}] = k1, a, k2 with dx = k1·g − a − (x − mean)·k2.
@compute @workgroup_size(64)
fn bnGradFinal(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
  let C = word(1u);
  let c = (wg.y * nwg.x + wg.x) * 64u + lid.x;
  if (c >= C) { return; }
  var sg = 0.0;
  var sgx = 0.0;
  for (var b = 0u; b < word(3u); b++) {
    sg += partIn[(b * C + c) * 2u];
    sgx += partIn[(b * C + c) * 2u + 1u];
  }
  let istd = chan[c * 3u + 1u];
  o1[c] = sgx * istd;
  o2[c] = sg;
  if (word(5u) != 0u) {
    o3[c * 3u] = chan[c * 3u + 2u];
    o3[c * 3u + 1u] = 0.0;
    o3[c * 3u + 2u] = 0.0;
  } else {
    let M = f32(word(0u));
    let g1 = gamma[c] * istd;
    o3[c * 3u] = g1;
    o3[c * 3u + 1u] = g1 * sg / M;
    o3[c * 3u + 2u] = g1 * istd * istd * sgx / M;
  }
}

// y = dx = k1·g − a − (x − mean)·k2, k from partIn.
@compute @workgroup_size(256)
fn bnGradInput(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  let C = word(1u);
  if (i >= word(0u) * C) { return; }
  let c = i % C;
  let g = maskedGrad(i, c);
  y[i] = partIn[c * 3u] * g - partIn[c * 3u + 1u] - (x[i] - chan[c * 3u]) * partIn[c * 3u + 2u];
}

// In place: o1 = running mean, o2 = running var; s1 = batch mean, s2 = batch invStd.
@compute @workgroup_size(64)
fn bnUpdateStats(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = (wg.y * nwg.x + wg.x) * 64u + lid.x;
  if (c >= word(1u)) { return; }
  let eps = fword(6u);
  let m = fword(7u);
  let n = fword(8u);
  let istd = s2[c];
  let v = max(0.0, 1.0 / (istd * istd) - eps);
  let unbiased = v * n / (n - 1.0);
  o1[c] = (1.0 - m) * o1[c] + m * s1[c];
  o2[c] = (1.0 - m) * o2[c] + m * unbiased;
}
