// Checks of written plots, shared by the plot tests and the demo test: NAME.png starts with the PNG
// signature and decodes, NAME.svg parses (librsvg, through sharp) and draws the expected line series.
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The line-mark paths vega drew: each one series, with its aria label and its vertex count. */
export function lineSeries(svg: string): { label: string; points: number; d: string }[] {
  const out: { label: string; points: number; d: string }[] = [];
  for (const m of svg.matchAll(/<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="line mark" d="([^"]*)"/g)) {
    out.push({ label: m[1], d: m[2], points: (m[2].match(/[ML]/g) ?? []).length });
  }
  return out;
}

/** Asserts DIR/NAME.svg and DIR/NAME.png are valid; returns the SVG's line series. */
export async function checkPlotFiles(dir: string, name: string): Promise<{ label: string; points: number; d: string }[]> {
  const svgPath = join(dir, `${name}.svg`);
  const pngPath = join(dir, `${name}.png`);
  assert.ok(existsSync(svgPath), `${svgPath} exists`);
  assert.ok(existsSync(pngPath), `${pngPath} exists`);
  const png = readFileSync(pngPath);
  assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), `${pngPath} starts with the PNG signature`);
  const pm = await sharp(png).metadata();
  assert.is(pm.format, 'png');
  const svg = readFileSync(svgPath, 'utf8');
  const sm = await sharp(Buffer.from(svg)).metadata(); // throws unless librsvg parses it
  assert.is(sm.format, 'svg');
  assert.is(pm.width, 2 * sm.width!, 'the PNG is the SVG at 2× (density 144)');
  return lineSeries(svg);
}
