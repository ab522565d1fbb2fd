// What `npm run bench` measured, kept as it is printed: markdown tables, plus speed-ups over a named baseline
// for the chart. At the end the run writes bench/results/bench.md (every table, with the machine and date) and
// bench/results/speedups.svg (bench/chart.ts).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { join } from 'node:path';
import { speedupChart } from './chart.ts';

/** One bar of the chart: how many times faster `runner` is than the group's baseline (> 1 = faster). */
export interface Speedup {
  readonly group: string;
  readonly runner: string;
  readonly times: number;
}

export interface ChartGroup {
  readonly group: string;
  readonly baseline: string;
  readonly bars: readonly Speedup[];
}

const tables: string[] = [];
const groups = new Map<string, { baseline: string; bars: Speedup[] }>();

/** Prints a markdown table (title, header row, rows) and keeps it for bench.md. */
export function table(title: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  const text = [`${title}`, '', `| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  console.log(`\n${text}`);
  tables.push(text);
}

/** Prints a line of text (a note under a table) and keeps it for bench.md. */
export function note(text: string): void {
  console.log(text);
  tables.push(text);
}

/** Records a speed-up for the chart; `baseline` names what 1× is in this group. */
export function speedup(group: string, baseline: string, runner: string, times: number): void {
  let g = groups.get(group);
  if (!g) groups.set(group, g = { baseline, bars: [] });
  g.bars.push({ group, runner, times });
}

export function chartGroups(): ChartGroup[] {
  return [...groups].map(([group, g]) => ({ group, baseline: g.baseline, bars: g.bars }));
}

/** Writes bench.md and speedups.svg into `dir` (each through a temporary file, so a crash leaves the old ones). */
export function writeResults(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const header = `# onebitc benchmarks\n\n${new Date().toISOString().slice(0, 10)}, Node ${process.versions.node}, ${platform()}-${arch()}, ` +
    `${cpus().length} × ${cpu}. Every figure in a table was measured in the same run; ratios, not absolute times, are the result.\n\n` +
    'Chart: [speedups.svg](speedups.svg).\n';
  const files: [string, string][] = [['bench.md', `${header}\n${tables.join('\n\n')}\n`], ['speedups.svg', speedupChart(chartGroups())]];
  for (const [name, text] of files) {
    const path = join(dir, name);
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  }
  return files.map(([name]) => join(dir, name));
}
