// The bench chart: one panel per group, a horizontal bar per runner, on a log₂ axis of speed-up over the
// group's baseline (1× is drawn as a line). Plain SVG text, so it needs no canvas or image library.
import type { ChartGroup } from './report.ts';

const WIDTH = 960;
const LABEL = 360;
const BAR = 18;
const GAP = 6;
const PANEL_HEAD = 40;
const PANEL_FOOT = 30;
const PLOT = WIDTH - LABEL - 70;

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Powers of two that bracket every value (at least ¼× … 4×). */
function axisRange(groups: readonly ChartGroup[]): [number, number] {
  const values = groups.flatMap((g) => g.bars.map((b) => b.times)).filter((v) => v > 0 && Number.isFinite(v));
  const lo = Math.min(-2, Math.floor(Math.log2(Math.min(...values, 1))));
  const hi = Math.max(2, Math.ceil(Math.log2(Math.max(...values, 1))));
  return [lo, hi];
}

export function speedupChart(groups: readonly ChartGroup[]): string {
  const [lo, hi] = axisRange(groups);
  const x = (v: number): number => LABEL + ((Math.log2(Math.max(v, 2 ** lo)) - lo) / (hi - lo)) * PLOT;
  const parts: string[] = [];
  let y = 10;
  for (const g of groups) {
    parts.push(`<text x="10" y="${y + 20}" font-weight="bold">${escape(g.group)}</text>`,
      `<text x="10" y="${y + 36}" font-size="12" fill="#555">1× = ${escape(g.baseline)}; longer is faster (log scale)</text>`);
    const top = y + PANEL_HEAD;
    const bottom = top + g.bars.length * (BAR + GAP);
    for (let p = lo; p <= hi; p++) {
      const tx = x(2 ** p).toFixed(1);
      parts.push(`<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${bottom}" stroke="${p === 0 ? '#c53030' : '#e2e8f0'}" stroke-width="${p === 0 ? 1.5 : 1}"/>`,
        `<text x="${tx}" y="${bottom + 14}" font-size="11" text-anchor="middle" fill="#555">${p < 0 ? `1/${2 ** -p}` : 2 ** p}×</text>`);
    }
    g.bars.forEach((b, i) => {
      const by = top + i * (BAR + GAP);
      const ours = b.runner.startsWith('onebitc') || b.runner.startsWith('OneBit');
      parts.push(`<text x="${LABEL - 8}" y="${by + BAR - 5}" text-anchor="end" font-size="12">${escape(b.runner)}</text>`,
        `<rect x="${LABEL}" y="${by}" width="${Math.max(1, x(b.times) - LABEL).toFixed(1)}" height="${BAR}" fill="${ours ? '#2b6cb0' : '#a0aec0'}"/>`,
        `<text x="${(x(b.times) + 4).toFixed(1)}" y="${by + BAR - 5}" font-size="12">${b.times >= 10 ? b.times.toFixed(1) : b.times.toFixed(2)}×</text>`);
    });
    y = bottom + PANEL_FOOT;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
