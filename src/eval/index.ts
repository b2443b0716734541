// Downstream evaluation: metrics and tests (metrics.ts), prediction files (predictions.ts), reports
// and comparisons (report.ts).
export * from './metrics.js';
export * from './predictions.js';
export * from './report.js';
export { chi2Sf, normalCdf, normalTwoSided, studentTTwoSided } from './stats.js';
