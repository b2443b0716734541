// matmul: C[M,N] = op(A)·op(B), op = transpose when the flag is set (A is [M,K] or [K,M]; B is
// [K,N] or [N,K]). FLOPs = 2·M·N·K; bytes ≥ 4·(MK + KN + MN). Accumulates in f32.
//
// Tiled: a workgroup of 16×16 invocations computes a 64×64 tile of C, each invocation a 4×4 block
// (rows ty + 16·i, columns tx + 16·j, so neighbouring invocations write neighbouring columns). K is
// walked in steps of 16; each step stages a 64×16 panel of op(A) and a 16×64 panel of op(B) in
// workgroup memory (8 KiB), loaded along whichever axis is contiguous in memory for the transpose
// flag, zero-padded past the edges so any M, N, K work. Each staged value is reused 64 times.
// Tiles are numbered linearly and the grid folded into 2-D (x, y ≤ maxComputeWorkgroupsPerDimension).
//
// Bindings: 0 = A, 1 = B, 2 = C, 3 = params.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  transA: u32,
  transB: u32,
  tilesM: u32,
  tilesN: u32,
  pad: u32,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> As: array<f32, 1024>;  // [TK][TM]
var<workgroup> Bs: array<f32, 1024>;  // [TK][TN]

// op(A)[i, p]
fn loadA(i: u32, p: u32) -> f32 {
  if (i >= params.M || p >= params.K) { return 0.0; }
  if (params.transA != 0u) { return A[p * params.M + i]; }
  return A[i * params.K + p];
}

// op(B)[p, j]
fn loadB(p: u32, j: u32) -> f32 {
  if (p >= params.K || j >= params.N) { return 0.0; }
  if (params.transB != 0u) { return B[j * params.K + p]; }
  return B[p * params.N + j];
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
  let tile = wg.y * nwg.x + wg.x;
  // tile is uniform across the workgroup, so this return keeps the barriers in uniform control.
  if (tile >= params.tilesM * params.tilesN) { return; }
  let row0 = (tile / params.tilesN) * TM;
  let col0 = (tile % params.tilesN) * TN;
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * 16u + tx;

  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      acc[i][j] = 0.0;
    }
  }

  for (var k0 = 0u; k0 < params.K; k0 += TK) {
    for (var r = 0u; r < 4u; r++) {
      let l = tid + 256u * r;
      // A panel: 64 rows × 16 k. Row-major A is contiguous along k, transposed A along rows.
      var am: u32;
      var ak: u32;
      if (params.transA != 0u) { ak = l / TM; am = l % TM; } else { am = l / TK; ak = l % TK; }
      As[ak * TM + am] = loadA(row0 + am, k0 + ak);
      // B panel: 16 k × 64 columns. Row-major B is contiguous along columns, transposed B along k.
      var bk: u32;
      var bn: u32;
      if (params.transB != 0u) { bn = l / TK; bk = l % TK; } else { bk = l / TN; bn = l % TN; }
      Bs[bk * TN + bn] = loadB(k0 + bk, col0 + bn);
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { av[i] = As[k * TM + ty + 16u * i]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = Bs[k * TN + tx + 16u * j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let row = row0 + ty + 16u * i;
    if (row >= params.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + tx + 16u * j;
      if (col < params.N) {
        C[row * params.N + col] = acc[i][j];
      }
    }
  }
}
