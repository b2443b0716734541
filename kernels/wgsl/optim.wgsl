// Optimizer updates in place, one dispatch per tensor of the group (the host loops), one invocation
// per element. Arithmetic in the CPU kernel's order (kernels/cpu/optim.cc).
//   sgd       d = g (+ wd·p); buf = first ? d : buf·mom + keep·d; d = nesterov ? d + mom·buf : buf;
//             p = p + (−lr)·d. Bytes 4·(|g| + 2|p| + 2|buf|).
//   sgdPlain  momentum 0: p = p + (−lr)·(g + wd·p). Bytes 4·(|g| + 2|p|).
//   ema       t = t·m + s·(1 − m). Bytes 4·3|t|.
// Params: [0] n [1] flags (1 nesterov, 2 first step, 4 weight decay ≠ 0) f[2] −lr f[3] wd f[4] mom
//   f[5] keep = 1 − dampening f[6] m f[7] 1 − m

struct Params {
  v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

fn word(i: u32) -> u32 {
  return params.v[i >> 2u][i & 3u];
}
fn fword(i: u32) -> f32 {
  return bitcast<f32>(word(i));
}

fn linearIndex(wg: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  let flags = word(1u);
  let mom = fword(4u);
  var d = g[i];
  if ((flags & 4u) != 0u) { d = d + fword(3u) * p[i]; }
  var b: f32;
  if ((flags & 2u) != 0u) { b = d; } else { b = buf[i] * mom + fword(5u) * d; }
  buf[i] = b;
  if ((flags & 1u) != 0u) { d = d + mom * b; } else { d = b; }
  p[i] = p[i] + fword(2u) * d;
}

@compute @workgroup_size(256)
fn sgdPlain(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  var d = g[i];
  if ((word(1u) & 4u) != 0u) { d = d + fword(3u) * p[i]; }
  p[i] = p[i] + fword(2u) * d;
}

@compute @workgroup_size(256)
fn ema(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(0u)) { return; }
  p[i] = p[i] * fword(6u) + g[i] * fword(7u);
}
