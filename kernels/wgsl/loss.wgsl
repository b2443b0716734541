// Row-wise losses and normalisation along the last axis, in f32 with tree sums.
//   l2Normalize          y = x / max(‖x‖, eps) per row. Bytes 4·2|x|.
//   l2NormalizeBackward  dx = dy/d − [‖x‖ ≥ eps]·x·⟨x,dy⟩/(d·‖x‖²), d = max(‖x‖, eps). Bytes 4·3|x|.
//   ifaRows              term[m] = |target − cos(q_m, p_m)|, each norm clamped at eps (PyTorch 1.13).
//                        One sweep over q and p: bytes 4·2|q|, 6 FLOPs per channel.
//   ifaBackward(Both)    the fused gradient, one sweep: per pixel the three sums again, then
//                        dq = α·p − βq·q (and dp = α·q − βp·p). Bytes 4·(2|q| + |dq| [+ |dp|]).
//   ifaWithGrad(Both)    ifaRows and ifaBackward(Both) in one sweep, for an upstream gradient the
//                        host knows (g = gradScale/M in the params): term[m] and dq (dp). Bytes
//                        4·(2|q| + |dq| [+ |dp|] + M); meanAll then reduces term to the loss.
//   softmaxRows          term[i] = logsumexp(row) − row[label] (NaN for a label that is not an
//                        integer in [0, K)). Bytes 4·|logits|.
//   softmaxBackward      dlogits = dloss/N·(softmax − onehot). Bytes 4·2|logits|.
//   meanAll              out[0] = Σ term / n (NaN when n = 0), one workgroup: the second level of
//                        ifaLoss and softmaxCrossEntropy.
// Layout: a workgroup of 256 invocations holds 256/L rows of L lanes (L a power of two from 1 to
// 256, chosen by the host from the row length); lanes stride a row's elements (neighbouring lanes
// read neighbouring channels, so loads coalesce), then each row tree-sums its lanes in workgroup
// memory. Grids are folded into 2-D.
//
// Params: [0] rows [1] row length (C, D or K) [2] L f[3] target or eps f[4] eps f[5] g (ifaWithGrad)

struct Params {
  v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> out2: array<f32>;
@group(0) @binding(5) var<storage, read_write> terms: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

var<workgroup> r0: array<f32, 256>;
var<workgroup> r1: array<f32, 256>;
var<workgroup> r2: array<f32, 256>;

fn word(i: u32) -> u32 {
  return params.v[i >> 2u][i & 3u];
}
fn fword(i: u32) -> f32 {
  return bitcast<f32>(word(i));
}
fn qnan() -> f32 {
  return bitcast<f32>(word(63u) | 0x7fc00000u);  // word 63 is 0: a run-time value, as WGSL rejects a constant NaN
}

// Tree sums of r0, r1, r2 within each segment of L lanes; the totals end at the segment's lane 0.
fn segmentSum3(lid: u32, L: u32) {
  let lane = lid % L;
  for (var s = L / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      r0[lid] += r0[lid + s];
      r1[lid] += r1[lid + s];
      r2[lid] += r2[lid + s];
    }
    workgroupBarrier();
  }
}

fn segmentMax0(lid: u32, L: u32) {
  let lane = lid % L;
  for (var s = L / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      let u = r0[lid + s];
      let w = r0[lid];
      r0[lid] = select(w, u, u > w || u != u);
    }
    workgroupBarrier();
  }
}

// a = x, out = y
@compute @workgroup_size(256)
fn l2Normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let L = word(2u);
  let D = word(1u);
  let row = (wg.y * nwg.x + wg.x) * (256u / L) + lid / L;
  let lane = lid % L;
  let valid = row < word(0u);
  var xx = 0.0;
  if (valid) {
    for (var k = lane; k < D; k += L) { let v = a[row * D + k]; xx += v * v; }
  }
  r0[lid] = xx; r1[lid] = 0.0; r2[lid] = 0.0;
  workgroupBarrier();
  segmentSum3(lid, L);
  let base = lid - lane;
  let d = max(sqrt(r0[base]), fword(3u));
  if (valid) {
    for (var k = lane; k < D; k += L) { out[row * D + k] = a[row * D + k] / d; }
  }
}

// a = dy, b = x, out = dx
@compute @workgroup_size(256)
fn l2NormalizeBackward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let L = word(2u);
  let D = word(1u);
  let row = (wg.y * nwg.x + wg.x) * (256u / L) + lid / L;
  let lane = lid % L;
  let valid = row < word(0u);
  var xg = 0.0;
  var xx = 0.0;
  if (valid) {
    for (var k = lane; k < D; k += L) {
      let x = b[row * D + k];
      xg += x * a[row * D + k];
      xx += x * x;
    }
  }
  r0[lid] = xg; r1[lid] = xx; r2[lid] = 0.0;
  workgroupBarrier();
  segmentSum3(lid, L);
  let base = lid - lane;
  let eps = fword(3u);
  let sxx = r1[base];
  let n = sqrt(sxx);
  let d = max(n, eps);
  let inv = 1.0 / d;
  let kk = select(0.0, r0[base] / (d * sxx), n >= eps);
  if (valid) {
    for (var k = lane; k < D; k += L) { out[row * D + k] = a[row * D + k] * inv - b[row * D + k] * kk; }
  }
}

// Per pixel of this segment, with g = (upstream gradient)/M: (α, βq, βp), |target − cos|, the
// pixel's row, and whether the row exists. b = q, c = p.
struct IfaCoefs {
  alpha: f32,
  betaQ: f32,
  betaP: f32,
  term: f32,
  row: u32,
  valid: bool,
}

fn ifaCoefs(wg: vec3<u32>, nwg: vec3<u32>, lid: u32, g: f32) -> IfaCoefs {
  let L = word(2u);
  let C = word(1u);
  let M = word(0u);
  let row = (wg.y * nwg.x + wg.x) * (256u / L) + lid / L;
  let lane = lid % L;
  let valid = row < M;
  var w = 0.0;
  var qq = 0.0;
  var pp = 0.0;
  if (valid) {
    for (var k = lane; k < C; k += L) {
      let q = b[row * C + k];
      let p = c[row * C + k];
      w += q * p;
      qq += q * q;
      pp += p * p;
    }
  }
  r0[lid] = w; r1[lid] = qq; r2[lid] = pp;
  workgroupBarrier();
  segmentSum3(lid, L);
  let base = lid - lane;
  let tgt = fword(3u);
  let eps = fword(4u);
  let nq = sqrt(r1[base]);
  let np = sqrt(r2[base]);
  let aq = max(nq, eps);
  let ap = max(np, eps);
  let cosv = r0[base] / (aq * ap);
  let diff = tgt - cosv;
  var s = 0.0;
  if (diff > 0.0) { s = -g; } else if (diff < 0.0) { s = g; }
  let alpha = s / (aq * ap);
  let betaQ = select(0.0, s * cosv / (aq * aq), nq >= eps);
  let betaP = select(0.0, s * cosv / (ap * ap), np >= eps);
  return IfaCoefs(alpha, betaQ, betaP, abs(diff), row, valid);
}

// The forward alone: terms = |target − cos| per pixel (ifaCoefs with no gradient). b = q, c = p.
@compute @workgroup_size(256)
fn ifaRows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid3: vec3<u32>) {
  let k0 = ifaCoefs(wg, nwg, lid3.x, 0.0);
  if (k0.valid && lid3.x % word(2u) == 0u) { terms[k0.row] = k0.term; }
}

// g = dloss/M for ifaBackward(Both).
fn dlossPerPixel() -> f32 {
  return a[0] / f32(max(word(0u), 1u));
}

// out = dq for the pixel of k0, its lanes striding the channels. (Two functions, not a flag: an
// entry point's bindings are the ones its code can reach, and ifaBackward binds no out2.)
fn ifaWriteDq(k0: IfaCoefs, lid: u32) {
  let L = word(2u);
  let C = word(1u);
  if (k0.valid) {
    for (var k = lid % L; k < C; k += L) {
      let i = k0.row * C + k;
      out[i] = k0.alpha * c[i] - k0.betaQ * b[i];
    }
  }
}

// out = dq and out2 = dp for the pixel of k0.
fn ifaWriteDqDp(k0: IfaCoefs, lid: u32) {
  let L = word(2u);
  let C = word(1u);
  if (k0.valid) {
    for (var k = lid % L; k < C; k += L) {
      let i = k0.row * C + k;
      let q = b[i];
      let p = c[i];
      out[i] = k0.alpha * p - k0.betaQ * q;
      out2[i] = k0.alpha * q - k0.betaP * p;
    }
  }
}

// a = dloss, b = q, c = p, out = dq
@compute @workgroup_size(256)
fn ifaBackward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid3: vec3<u32>) {
  let k0 = ifaCoefs(wg, nwg, lid3.x, dlossPerPixel());
  ifaWriteDq(k0, lid3.x);
}

// as ifaBackward, out2 = dp
@compute @workgroup_size(256)
fn ifaBackwardBoth(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid3: vec3<u32>) {
  let k0 = ifaCoefs(wg, nwg, lid3.x, dlossPerPixel());
  ifaWriteDqDp(k0, lid3.x);
}

// b = q, c = p, out = dq, terms = |target − cos| per pixel
@compute @workgroup_size(256)
fn ifaWithGrad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid3: vec3<u32>) {
  let k0 = ifaCoefs(wg, nwg, lid3.x, fword(5u));
  if (k0.valid && lid3.x % word(2u) == 0u) { terms[k0.row] = k0.term; }
  ifaWriteDq(k0, lid3.x);
}

// as ifaWithGrad, out2 = dp
@compute @workgroup_size(256)
fn ifaWithGradBoth(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid3: vec3<u32>) {
  let k0 = ifaCoefs(wg, nwg, lid3.x, fword(5u));
  if (k0.valid && lid3.x % word(2u) == 0u) { terms[k0.row] = k0.term; }
  ifaWriteDqDp(k0, lid3.x);
}

fn labelIndex(v: f32, K: u32) -> i32 {
  if (!(v >= 0.0) || !(v < f32(K)) || floor(v) != v) { return -1; }
  return i32(v);
}

// Per row (lanes of one segment): the max, then Σ exp(x − max); results in r0[base], r1[base].
fn rowSoftmaxStats(row: u32, lid: u32, L: u32, K: u32, valid: bool) {
  let lane = lid % L;
  var m = bitcast<f32>(word(63u) | 0xff800000u);
  if (valid) {
    for (var k = lane; k < K; k += L) {
      let v = b[row * K + k];
      m = select(m, v, v > m || v != v);
    }
  }
  r0[lid] = m;
  workgroupBarrier();
  segmentMax0(lid, L);
  let mx = r0[lid - lane];
  var s = 0.0;
  if (valid) {
    for (var k = lane; k < K; k += L) { s += exp(b[row * K + k] - mx); }
  }
  workgroupBarrier();
  r1[lid] = s; r0[lid] = 0.0; r2[lid] = 0.0;
  workgroupBarrier();
  segmentSum3(lid, L);
  r0[lid] = mx;
  workgroupBarrier();
}

// b = logits, c = labels, out = term
@compute @workgroup_size(256)
fn softmaxRows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let L = word(2u);
  let K = word(1u);
  let row = (wg.y * nwg.x + wg.x) * (256u / L) + lid / L;
  let lane = lid % L;
  let valid = row < word(0u);
  rowSoftmaxStats(row, lid, L, K, valid);
  if (valid && lane == 0u) {
    let j = labelIndex(c[row], K);
    if (j < 0) { out[row] = qnan(); } else { out[row] = r0[lid] + log(r1[lid]) - b[row * K + u32(j)]; }
  }
}

// a = dloss, b = logits, c = labels, out = dlogits
@compute @workgroup_size(256)
fn softmaxBackward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let L = word(2u);
  let K = word(1u);
  let N = word(0u);
  let row = (wg.y * nwg.x + wg.x) * (256u / L) + lid / L;
  let lane = lid % L;
  let valid = row < N;
  rowSoftmaxStats(row, lid, L, K, valid);
  let base = lid - lane;
  if (valid) {
    let j = labelIndex(c[row], K);
    let mx = r0[base];
    let scale = a[0] / f32(N) / r1[base];
    let g = a[0] / f32(N);
    for (var k = lane; k < K; k += L) {
      var v = exp(b[row * K + k] - mx) * scale;
      if (i32(k) == j) { v -= g; }
      if (j < 0) { v = qnan(); }
      out[row * K + k] = v;
    }
  }
}

// a = term, out = result[1]; one workgroup.
@compute @workgroup_size(256)
fn meanAll(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let n = word(0u);
  var s = 0.0;
  for (var i = lid; i < n; i += 256u) { s += a[i]; }
  r0[lid] = s; r1[lid] = 0.0; r2[lid] = 0.0;
  workgroupBarrier();
  segmentSum3(lid, 256u);
  if (lid == 0u) {
    if (n == 0u) { out[0] = qnan(); } else { out[0] = r0[0] / f32(n); }
  }
}
