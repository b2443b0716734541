// A seeded synthetic chest radiograph (PA view, bright = dense): soft-tissue body, two dark lungs with
// a domed diaphragm, ribs arcing across them, spine and mediastinum, a heart shadow to the patient's
// left (image right), mild blur and noise, and a saturated L/R marker in a corner that the 99th-
// percentile clip must remove. Values are in about [0, 1] with the marker at 1; ~15 ms at 512².
import { Rng } from '../core/random.js';
import { grayImage, type GrayImage } from './image.js';

export interface SyntheticOptions {
  width?: number;
  height?: number;
  /** Per-pixel noise standard deviation. Default 0.015. */
  noise?: number;
  /** Draw the L/R marker. Default true. */
  marker?: boolean;
  /**
   * Findings to plant (names from SYNTHETIC_FINDINGS): a nodule (a bright round opacity in a lung),
   * a pleural effusion (fluid filling one lung's base), cardiomegaly (a heart shadow 1.4× wider).
   * Their placement comes from a second generator, so the image without findings is unchanged.
   */
  findings?: readonly string[];
}

/** The findings syntheticRadiograph can plant: the labels of the synthetic labelled set. */
export const SYNTHETIC_FINDINGS = Object.freeze(['Nodule', 'Pleural Effusion', 'Cardiomegaly'] as const);

const smoothstep = (e0: number, e1: number, x: number): number => {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
};

/** Inside-ness of an ellipse with a soft edge of relative width `soft` (1 inside, 0 outside). */
function ellipse(x: number, y: number, cx: number, cy: number, rx: number, ry: number, soft: number): number {
  const dx = (x - cx) / rx, dy = (y - cy) / ry;
  const r = Math.sqrt(dx * dx + dy * dy);
  return 1 - smoothstep(1 - soft, 1 + soft, r);
}

export function syntheticRadiograph(seed: number, opts: SyntheticOptions = {}): GrayImage {
  const W = opts.width ?? 512, H = opts.height ?? W;
  const img = grayImage(W, H);
  const d = img.data;
  const rng = new Rng(seed);
  const u = (a: number, b: number): number => a + (b - a) * rng.uniform();

  const bodyCx = u(0.47, 0.53), bodyRx = u(0.4, 0.46), bodyRy = u(0.62, 0.7);
  const lungY = u(0.4, 0.46), lungRx = u(0.13, 0.16), lungRy = u(0.25, 0.3), lungGap = u(0.17, 0.2);
  const heartX = bodyCx + u(0.05, 0.09), heartY = u(0.6, 0.66), heartRx = u(0.12, 0.16), heartRy = u(0.1, 0.13);
  const ribCount = 9 + Math.floor(rng.uniform() * 3);
  const ribSpacing = u(0.055, 0.065), ribTop = lungY - lungRy + u(0.0, 0.03), ribCurve = u(1.2, 1.8), ribWidth = u(0.012, 0.016);
  const tissue = u(0.42, 0.52), lungDark = u(0.22, 0.3), ribBright = u(0.08, 0.12), heartBright = u(0.18, 0.25);
  const exposure = u(0.9, 1.1);
  const markerRight = rng.uniform() < 0.5;
  const findings = new Set(opts.findings ?? []);
  for (const f of findings) if (!(SYNTHETIC_FINDINGS as readonly string[]).includes(f)) throw new RangeError(`syntheticRadiograph: unknown finding '${f}' (known: ${SYNTHETIC_FINDINGS.join(', ')})`);
  const frng = new Rng((seed ^ 0x9e3779b9) >>> 0);
  const fu = (a: number, b: number): number => a + (b - a) * frng.uniform();
  const noduleSide = frng.uniform() < 0.5 ? -1 : 1, noduleDy = fu(-0.12, 0.1), noduleDx = fu(-0.04, 0.04), noduleR = fu(0.06, 0.08);
  const effusionSide = frng.uniform() < 0.5 ? -1 : 1, effusionLevel = fu(0.35, 0.55);
  const heartScale = findings.has('Cardiomegaly') ? 1.4 : 1;

  for (let py = 0; py < H; py++) {
    const y = py / H;
    for (let px = 0; px < W; px++) {
      const x = px / W;
      let v = 0.04;
      const body = ellipse(x, y, bodyCx, 0.62, bodyRx, bodyRy, 0.06);
      v += tissue * body;
      // Lungs, cut by a domed diaphragm.
      for (let side = -1; side <= 1; side += 2) {
        const lx = bodyCx + side * lungGap;
        const lung = ellipse(x, y, lx, lungY, lungRx, lungRy, 0.15);
        if (lung <= 0) continue;
        const dome = lungY + lungRy * 0.75 - 0.05 * Math.cos(((x - lx) / lungRx) * 1.2);
        const l = lung * (1 - smoothstep(dome - 0.02, dome + 0.02, y));
        // Effusion: fluid as dense as soft tissue fills the lung below a level (fraction of its height from the dome).
        const fluid = findings.has('Pleural Effusion') && side === effusionSide ? smoothstep(-0.02, 0.02, y - (dome - effusionLevel * 2 * lungRy * 0.5)) : 0;
        v -= lungDark * l * (1 - 0.9 * fluid);
        // Ribs: parabolic arcs descending laterally.
        let rib = 0;
        for (let k = 0; k < ribCount; k++) {
          const ry = ribTop + k * ribSpacing + ribCurve * 0.12 * ((x - bodyCx) * (x - bodyCx));
          const dist = Math.abs(y - ry);
          if (dist < 2 * ribWidth) rib = Math.max(rib, 1 - smoothstep(ribWidth * 0.6, ribWidth * 1.6, dist));
        }
        v += ribBright * rib * Math.min(1, lung * 1.5);
      }
      // Spine and mediastinum.
      v += 0.12 * (1 - smoothstep(0.03, 0.05, Math.abs(x - bodyCx))) * body;
      v += heartBright * ellipse(x, y, heartX, heartY, heartRx * heartScale, heartRy * Math.sqrt(heartScale), 0.2);
      if (findings.has('Nodule')) v += 0.45 * ellipse(x, y, bodyCx + noduleSide * lungGap + noduleDx, lungY + noduleDy, noduleR, noduleR, 0.3);
      d[py * W + px] = v * exposure;
    }
  }
  // Noise (film grain / quantum mottle).
  const sigma = opts.noise ?? 0.015;
  if (sigma > 0) for (let i = 0; i < d.length; i++) d[i] += sigma * rng.normal();
  for (let i = 0; i < d.length; i++) d[i] = Math.min(0.95, Math.max(0, d[i]));
  if (opts.marker ?? true) {
    // A solid "L" glyph, saturated, near a top corner.
    const mh = Math.max(6, Math.round(0.05 * H)), mw = Math.max(4, Math.round(0.035 * W)), t = Math.max(2, Math.round(mh / 5));
    const x0 = markerRight ? Math.round(0.88 * W) : Math.round(0.07 * W), y0 = Math.round(0.06 * H);
    for (let y = y0; y < Math.min(H, y0 + mh); y++) {
      for (let x = x0; x < Math.min(W, x0 + mw); x++) {
        const inL = x < x0 + t || y >= y0 + mh - t;
        if (inL) d[y * W + x] = 1;
      }
    }
  }
  return img;
}
