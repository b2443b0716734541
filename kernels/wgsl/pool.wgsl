// Max pooling over NHWC, padding −∞, NaN propagating as in PyTorch (kernels/cpu/pool.cc).
//   maxPool2d          one invocation per output element: the max over its clipped window.
//                      Compares |y|·KH·KW; bytes 4·(|x| + |y|) beyond cache reuse.
//   maxPool2dBackward  one invocation per dx element (no atomics): for every window that covers it,
//                      in row-major window order, recompute that window's first maximum and add dy
//                      when it is this element. ≈ |dx|·⌈KH/SH⌉·⌈KW/SW⌉·KH·KW compares.
// Params: [0] N [1] H [2] W [3] C [4] Ho [5] Wo [6] kh [7] kw [8] sh [9] sw [10] ph [11] pw [12] total

struct Params {
  v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;
@group(0) @binding(9) var<storage, read_write> out: array<f32>;

fn word(i: u32) -> u32 {
  return params.v[i >> 2u][i & 3u];
}
fn iword(i: u32) -> i32 {
  return i32(word(i));
}

// The first maximum of window (n, oh, ow) in channel c, as a flat x index.
fn argmaxAt(n: i32, oh: i32, ow: i32, c: i32) -> i32 {
  let H = iword(1u); let W = iword(2u); let C = iword(3u);
  let h0 = max(0, oh * iword(8u) - iword(10u));
  let h1 = min(H, oh * iword(8u) - iword(10u) + iword(6u));
  let w0 = max(0, ow * iword(9u) - iword(11u));
  let w1 = min(W, ow * iword(9u) - iword(11u) + iword(7u));
  var best = bitcast<f32>(word(63u) | 0xff800000u);
  var arg = ((n * H + h0) * W + w0) * C + c;
  for (var ih = h0; ih < h1; ih++) {
    for (var iw = w0; iw < w1; iw++) {
      let j = ((n * H + ih) * W + iw) * C + c;
      let v = x[j];
      if (v > best || (v != v && best == best)) { best = v; arg = j; }
    }
  }
  return arg;
}

@compute @workgroup_size(256)
fn maxPool2d(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  if (i >= word(12u)) { return; }
  let C = word(3u); let Wo = word(5u); let Ho = word(4u);
  let c = i % C;
  let ow = (i / C) % Wo;
  let oh = (i / (C * Wo)) % Ho;
  let n = i / (C * Wo * Ho);
  let H = iword(1u); let W = iword(2u);
  let h0 = max(0, i32(oh) * iword(8u) - iword(10u));
  let h1 = min(H, i32(oh) * iword(8u) - iword(10u) + iword(6u));
  let w0 = max(0, i32(ow) * iword(9u) - iword(11u));
  let w1 = min(W, i32(ow) * iword(9u) - iword(11u) + iword(7u));
  var best = bitcast<f32>(word(63u) | 0xff800000u);
  for (var ih = h0; ih < h1; ih++) {
    for (var iw = w0; iw < w1; iw++) {
      let v = x[((i32(n) * H + ih) * W + iw) * i32(C) + i32(c)];
      if (v > best || v != v) { best = v; }
    }
  }
  out[i] = best;
}

@compute @workgroup_size(256)
fn maxPool2dBackward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  if (i >= word(12u)) { return; }
  let C = iword(3u); let W = iword(2u); let H = iword(1u);
  let Ho = iword(4u); let Wo = iword(5u);
  let sh = iword(8u); let sw = iword(9u); let ph = iword(10u); let pw = iword(11u);
  let kh = iword(6u); let kw = iword(7u);
  let ii = i32(i);
  let c = ii % C;
  let iw = (ii / C) % W;
  let ih = (ii / (C * W)) % H;
  let n = ii / (C * W * H);
  // Windows with oh·sh − ph ≤ ih < oh·sh − ph + kh.
  let ohLo = max(0, (ih + ph - kh + sh) / sh);
  let ohHi = min(Ho - 1, (ih + ph) / sh);
  let owLo = max(0, (iw + pw - kw + sw) / sw);
  let owHi = min(Wo - 1, (iw + pw) / sw);
  var acc = 0.0;
  for (var oh = ohLo; oh <= ohHi; oh++) {
    for (var ow = owLo; ow <= owHi; ow++) {
      if (argmaxAt(n, oh, ow, c) == ii) { acc += dy[((n * Ho + oh) * Wo + ow) * C + c]; }
    }
  }
  out[i] = acc;
}
