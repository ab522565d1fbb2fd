// The training curve as a self-contained SVG (no canvas, no library): loss, ce and mse against step on a
// log-scale panel, and held-out perplexity on a second panel below when the log has any. Drawn like the bench
// chart (bench/chart.ts): plain SVG text, sans-serif, light grid lines.
import type { TrainingRecord } from './training-log.ts';

export interface PlotCurveOptions {
  /** Default 'Training loss'. */
  title?: string;
  /** Pixels. Default 960. */
  width?: number;
}

/** The fields the plot reads. */
export type CurvePoint = Pick<TrainingRecord, 'step' | 'loss' | 'ce' | 'mse' | 'heldOutPerplexity'>;

interface Series {
  key: string;
  label: string;
  color: string;
  points: [number, number][];
}

const MARGIN = { left: 80, right: 30, top: 50, bottom: 50 };
const LOSS_HEIGHT = 320;
const PPL_HEIGHT = 180;
const PANEL_GAP = 60;
const COLORS = { loss: '#2b6cb0', ce: '#dd6b20', mse: '#38a169', heldOutPerplexity: '#805ad5' };

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const px = (v: number): string => v.toFixed(1);

export function plotCurve(records: readonly CurvePoint[], opts: PlotCurveOptions = {}): string {
  const width = opts.width ?? 960;
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const seriesOf = (key: keyof typeof COLORS, label: string): Series => ({
    key, label, color: COLORS[key],
    // Log scale: only finite positive values can be drawn (a NaN loss, a zero mse are left out).
    points: records.flatMap((r) => {
      const v = r[key];
      return Number.isFinite(r.step) && v !== undefined && Number.isFinite(v) && v > 0 ? [[r.step, v] as [number, number]] : [];
    }),
  });
  const lossSeries = [seriesOf('loss', 'loss'), seriesOf('ce', 'ce'), seriesOf('mse', 'mse')].filter((s) => s.points.length > 0);
  const ppl = seriesOf('heldOutPerplexity', 'held-out perplexity');

  const steps = [...lossSeries, ppl].flatMap((s) => s.points.map((p) => p[0]));
  const [xLo, xHi, xTicks] = linearAxis(steps.length ? Math.min(...steps) : 0, steps.length ? Math.max(...steps) : 1);
  const x = (step: number): number => MARGIN.left + ((step - xLo) / (xHi - xLo)) * plotWidth;

  const parts: string[] = [`<text x="${MARGIN.left}" y="28" font-size="16" font-weight="bold">${escape(opts.title ?? 'Training loss')}</text>`];
  let top = MARGIN.top;
  parts.push(...panel(lossSeries, top, LOSS_HEIGHT, 'loss (log scale)', x, xTicks, plotWidth));
  if (lossSeries.length === 0) parts.push(`<text x="${px(MARGIN.left + plotWidth / 2)}" y="${px(top + LOSS_HEIGHT / 2)}" text-anchor="middle" fill="#555">no loss recorded yet</text>`);
  parts.push(...legend(lossSeries, MARGIN.left + plotWidth - 10, top + 10));
  top += LOSS_HEIGHT;
  if (ppl.points.length > 0) {
    top += PANEL_GAP;
    parts.push(...panel([ppl], top, PPL_HEIGHT, 'held-out perplexity', x, xTicks, plotWidth, true));
    top += PPL_HEIGHT;
  }
  parts.push(`<text x="${px(MARGIN.left + plotWidth / 2)}" y="${top + 40}" text-anchor="middle" font-size="13">step</text>`);
  const height = top + MARGIN.bottom;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

/** One panel: frame, grid, y ticks (log), x ticks, the series as polylines (markers where they are sparse). */
function panel(series: Series[], top: number, height: number, yLabel: string, x: (s: number) => number, xTicks: number[], plotWidth: number, markers = false): string[] {
  const values = series.flatMap((s) => s.points.map((p) => p[1]));
  const [lo, hi, yTicks] = logAxis(values.length ? Math.min(...values) : 1, values.length ? Math.max(...values) : 10);
  const y = (v: number): number => top + height - ((Math.log10(v) - lo) / (hi - lo)) * height;
  const left = MARGIN.left, right = MARGIN.left + plotWidth, bottom = top + height;
  const out: string[] = [];
  for (const t of yTicks) {
    const ty = px(y(t));
    out.push(`<line x1="${left}" y1="${ty}" x2="${right}" y2="${ty}" stroke="#e2e8f0"/>`,
      `<text x="${left - 6}" y="${px(y(t) + 4)}" font-size="11" text-anchor="end" fill="#555">${formatTick(t)}</text>`);
  }
  for (const t of xTicks) {
    const tx = px(x(t));
    out.push(`<line x1="${tx}" y1="${top}" x2="${tx}" y2="${bottom}" stroke="#e2e8f0"/>`,
      `<text x="${tx}" y="${bottom + 16}" font-size="11" text-anchor="middle" fill="#555">${formatTick(t)}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${plotWidth}" height="${height}" fill="none" stroke="#718096"/>`,
    `<text transform="translate(${left - 58} ${px(top + height / 2)}) rotate(-90)" font-size="13" text-anchor="middle">${escape(yLabel)}</text>`);
  for (const s of series) {
    const pts = s.points.map(([st, v]) => `${px(x(st))},${px(y(v))}`);
    if (s.points.length > 1) out.push(`<polyline class="${s.key}" fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
    if (markers || s.points.length < 2) {
      for (const p of pts) {
        const [cx, cy] = p.split(',');
        out.push(`<circle class="${s.key}" cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`);
      }
    }
  }
  return out;
}

function legend(series: Series[], right: number, top: number): string[] {
  return series.flatMap((s, i) => {
    const y = top + 10 + i * 18;
    return [`<line x1="${right - 110}" y1="${y}" x2="${right - 86}" y2="${y}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${right - 80}" y="${y + 4}" font-size="12">${escape(s.label)}</text>`];
  });
}

/** A linear axis over [lo, hi] widened to round numbers, with about 6 ticks at 1, 2 or 5 × 10ᵏ. */
export function linearAxis(lo: number, hi: number): [number, number, number[]] {
  if (hi <= lo) [lo, hi] = [lo - 1, lo + 1];
  const raw = (hi - lo) / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const a = Math.floor(lo / step) * step, b = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let i = 0; a + i * step <= b + step / 2; i++) ticks.push(Number((a + i * step).toPrecision(12)));
  return [a, b, ticks];
}

/** A log axis in whole decades [10^lo, 10^hi] (lo, hi exponents), ticks at 1, 2, 5 × 10ᵏ when it spans few decades. */
export function logAxis(min: number, max: number): [number, number, number[]] {
  const lo = Math.floor(Math.log10(min));
  let hi = Math.ceil(Math.log10(max));
  if (hi <= lo) hi = lo + 1;
  const mantissas = hi - lo <= 2 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let k = lo; k <= hi; k++) for (const m of mantissas) if (k < hi || m === 1) ticks.push(Number((m * 10 ** k).toPrecision(12)));
  return [lo, hi, ticks];
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e6 ? String(Number(v.toPrecision(6))) : v.toExponential().replace('e+', 'e');
}
