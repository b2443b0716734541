// 2-D convolution over NHWC with [Co,KH,KW,Ci] weights, zero padding, no bias, as implicit GEMMs
// whose patch matrix (one row per output pixel, the receptive field in (kh, kw, ci) order, which is
// w's order) is never materialised. Each is 2·N·Ho·Wo·Co·KH·KW·Ci FLOPs.
//   mode 0, conv2d               y[P, Co] = patches(x)[P, K'] · w[Co, K']ᵀ, P = N·Ho·Wo, K' = KH·KW·Ci
//   mode 1, conv2dBackwardInput  dx[Q, Ci] = A[Q, KH·KW·Co] · B, Q = N·H·W, where A[q, (kh,kw,co)] is
//                                dy at the output pixel whose window puts tap (kh, kw) on q (zero when
//                                no such pixel: stride gaps, borders), B[(kh,kw,co), ci] = w[co,kh,kw,ci]
//   mode 2, conv2dBackwardFilter dw[Co, K'] = dy[P, Co]ᵀ · patches(x)[P, K']
// Tiled as kernels/wgsl/matmul.wgsl: a 16×16 workgroup computes a 64×64 tile of the output, 4×4 per
// invocation, walking the GEMM depth in steps of 16 with both panels staged in workgroup memory
// (8 KiB), each staged value reused 64 times; the panels are loaded along whichever GEMM axis is
// contiguous in memory for the mode, and zero past the edges. Accumulates in f32.
//
// Bindings: 0 = x or dy, 1 = w or dy, 9 = out, 8 = params.
// Params: [0] mode [1] M [2] N [3] K [4] tilesM [5] tilesN [6] n [7] h [8] w [9] ci [10] co [11] kh
//   [12] kw [13] sh [14] sw [15] ph [16] pw [17] ho [18] wo

struct Params {
  v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;
@group(0) @binding(9) var<storage, read_write> out: array<f32>;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> As: array<f32, 1024>;  // [TK][TM]
var<workgroup> Bs: array<f32, 1024>;  // [TK][TN]

fn word(i: u32) -> u32 {
  return params.v[i >> 2u][i & 3u];
}
fn iword(i: u32) -> i32 {
  return i32(word(i));
}

// patches(src)[p, kk] for an NHWC image src [n, h, w, ci] seen from output pixel p of [n, ho, wo].
fn patchAt(p: u32, kk: u32, fromA: bool) -> f32 {
  let ci = word(9u);
  let kw = word(12u);
  let ch = kk % ci;
  let j = i32((kk / ci) % kw);
  let i = i32(kk / (ci * kw));
  let wo = word(18u);
  let ho = word(17u);
  let ow = i32(p % wo);
  let oh = i32((p / wo) % ho);
  let n = p / (wo * ho);
  let ih = oh * iword(13u) - iword(15u) + i;
  let iw = ow * iword(14u) - iword(16u) + j;
  if (ih < 0 || iw < 0 || ih >= iword(7u) || iw >= iword(8u)) { return 0.0; }
  let idx = ((n * word(7u) + u32(ih)) * word(8u) + u32(iw)) * ci + ch;
  if (fromA) { return A[idx]; }
  return B[idx];
}

// GEMM operand A[m, k]
fn loadA(m: u32, k: u32) -> f32 {
  if (m >= word(1u) || k >= word(3u)) { return 0.0; }
  let mode = word(0u);
  if (mode == 0u) { return patchAt(m, k, true); }
  if (mode == 1u) {
    // m = (n, ih, iw) of dx, k = (kh, kw, co) with co fastest; A holds dy.
    let co = word(10u);
    let kw = word(12u);
    let o = k % co;
    let j = i32((k / co) % kw);
    let i = i32(k / (co * kw));
    let W = word(8u);
    let H = word(7u);
    let iw = i32(m % W);
    let ih = i32((m / W) % H);
    let n = m / (W * H);
    let t = ih + iword(15u) - i;
    let u = iw + iword(16u) - j;
    let sh = iword(13u);
    let sw = iword(14u);
    if (t < 0 || u < 0 || t % sh != 0 || u % sw != 0) { return 0.0; }
    let oh = t / sh;
    let ow = u / sw;
    if (oh >= iword(17u) || ow >= iword(18u)) { return 0.0; }
    return A[((n * word(17u) + u32(oh)) * word(18u) + u32(ow)) * co + o];
  }
  // mode 2: m = co, k = output pixel; A holds dy [P, Co].
  return A[k * word(10u) + m];
}

// GEMM operand B[k, n]
fn loadB(k: u32, n: u32) -> f32 {
  if (k >= word(3u) || n >= word(2u)) { return 0.0; }
  let mode = word(0u);
  if (mode == 0u) { return B[n * word(3u) + k]; }
  if (mode == 1u) {
    // k = (kh, kw, co), n = ci; B holds w [co, kh, kw, ci].
    let co = word(10u);
    let kw = word(12u);
    let o = k % co;
    let j = (k / co) % kw;
    let i = k / (co * kw);
    return B[((o * word(11u) + i) * kw + j) * word(9u) + n];
  }
  // mode 2: k = output pixel, n = (kh, kw, ci); B holds x.
  return patchAt(k, n, false);
}

// out[row, col + 16·j] = v[j] where inside the output.
fn store(row: u32, col: u32, M: u32, N: u32, v: vec4<f32>) {
  if (row >= M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let c = col + 16u * j;
    if (c < N) { out[row * N + c] = v[j]; }
  }
}

@compute @workgroup_size(16, 16)
fn convGemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let tile = wg.y * nwg.x + wg.x;
  // tile is uniform across the workgroup, so this return keeps the barriers in uniform control.
  if (tile >= word(4u) * word(5u)) { return; }
  let row0 = (tile / word(5u)) * TM;
  let col0 = (tile % word(5u)) * TN;
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * 16u + tx;
  let mode = word(0u);
  let K = word(3u);

  // Four vec4 accumulators (rows ty + 16·i, columns tx + 16·j): plain registers on every
  // implementation, where a nested array may be spilled to memory (it is on llvmpipe).
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);

  for (var k0 = 0u; k0 < K; k0 += TK) {
    for (var r = 0u; r < 4u; r++) {
      let l = tid + 256u * r;
      // A is contiguous along k in modes 0 and 1 (channels innermost), along m in mode 2.
      var am: u32;
      var ak: u32;
      if (mode == 2u) { ak = l / TM; am = l % TM; } else { am = l / TK; ak = l % TK; }
      As[ak * TM + am] = loadA(row0 + am, k0 + ak);
      // B is contiguous along k in mode 0 (w rows), along n in modes 1 and 2.
      var bk: u32;
      var bn: u32;
      if (mode == 0u) { bn = l / TK; bk = l % TK; } else { bk = l / TN; bn = l % TN; }
      Bs[bk * TN + bn] = loadB(k0 + bk, col0 + bn);
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      let ab = k * TM + ty;
      let bb = k * TN + tx;
      let bv = vec4<f32>(Bs[bb], Bs[bb + 16u], Bs[bb + 32u], Bs[bb + 48u]);
      acc0 = fma(vec4<f32>(As[ab]), bv, acc0);
      acc1 = fma(vec4<f32>(As[ab + 16u]), bv, acc1);
      acc2 = fma(vec4<f32>(As[ab + 32u]), bv, acc2);
      acc3 = fma(vec4<f32>(As[ab + 48u]), bv, acc3);
    }
    workgroupBarrier();
  }

  let M = word(1u);
  let N = word(2u);
  store(row0 + ty, col0 + tx, M, N, acc0);
  store(row0 + ty + 16u, col0 + tx, M, N, acc1);
  store(row0 + ty + 32u, col0 + tx, M, N, acc2);
  store(row0 + ty + 48u, col0 + tx, M, N, acc3);
}
