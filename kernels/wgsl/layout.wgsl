// Layout kernels, pure copies (no FLOPs), one invocation per element written:
//   copyRows   dst[dstOff + o·dstRow + j] = src[srcOff + o·srcRow + j], o < outer, j < len. Serves
//              concat (one dispatch per input), slice and copyRows (in place, outer 1).
//              Bytes 4·2·outer·len.
//   sliceBackward  dx[o, r] = dy[o, r − head] for r in [head, head + len), else 0. Bytes 4·(|dy| + |dx|).
//   gatherRows     y[i, :] = x[index[i], :]; index as u32 in a scratch buffer. Bytes 4·2|y|.
// Grids are folded into 2-D; the linear index is rebuilt from both.
//
// Params (u32 words): [0] count [1] len [2] srcRow [3] dstRow [4] srcOff [5] dstOff [6] head / row

struct Params {
  v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

fn word(i: u32) -> u32 {
  return params.v[i >> 2u][i & 3u];
}

fn linearIndex(wg: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn copyRows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  let len = word(1u);
  let o = i / len;
  let j = i % len;
  dst[word(5u) + o * word(3u) + j] = src[word(4u) + o * word(2u) + j];
}

// word(1) = len (slice length · inner), word(3) = rowX (full axis · inner), word(6) = head.
@compute @workgroup_size(256)
fn sliceBackward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  let len = word(1u);
  let rowX = word(3u);
  let head = word(6u);
  let o = i / rowX;
  let r = i % rowX;
  var v = 0.0;
  if (r >= head && r < head + len) { v = src[o * len + r - head]; }
  dst[i] = v;
}

// word(6) = row (elements per row of x).
@compute @workgroup_size(256)
fn gatherRows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  let row = word(6u);
  dst[i] = src[index[i / row] * row + i % row];
}
