// The bench chart is read by people comparing runners: bar lengths must follow the log₂ speed-ups, the 1× line
// must sit where a 1× bar ends, and labels must be escaped.
import test from 'ava';
import { speedupChart } from '../../bench/chart.ts';

const bars = (svg: string) => [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]) + Number(m[2]));

test('bar ends are linear in log₂ of the speed-up, and the 1× line marks the baseline', (t) => {
  const svg = speedupChart([{ group: 'GEMV 4096×4096', baseline: 'onnxruntime-node fp32', bars: [
    { group: 'g', runner: 'onnxruntime-node fp32', times: 1 },
    { group: 'g', runner: 'OneBit lut', times: 8 },
    { group: 'g', runner: 'OneBit exact', times: 4 },
    { group: 'g', runner: 'onnxruntime-web <wasm>', times: 0.5 },
  ] }]);
  const [one, eight, four, half] = bars(svg) as [number, number, number, number];
  t.true(eight > four && four > one && one > half);
  t.is(Math.round((eight - four) * 10), Math.round((four - one) / 2 * 10)); // ×2 is the same length anywhere on the axis
  t.is(Math.round((one - half) * 10), Math.round((eight - four) * 10));
  const baseline = /<line x1="([\d.]+)"[^>]*stroke="#c53030"/.exec(svg);
  t.truthy(baseline);
  t.true(Math.abs(Number(baseline![1]) - one) < 0.2);
  t.true(svg.includes('onnxruntime-web &lt;wasm&gt;'));
  t.true(svg.includes('8.00×'));
});

test('every group gets its panel, and the axis covers values beyond 4×', (t) => {
  const svg = speedupChart([
    { group: 'A', baseline: 'x', bars: [{ group: 'A', runner: 'r', times: 20 }] },
    { group: 'B', baseline: 'y', bars: [{ group: 'B', runner: 's', times: 0.1 }] },
  ]);
  t.is(bars(svg).length, 2);
  t.true(svg.includes('>32×<') && svg.includes('>1/16×<'));
  t.true(svg.includes('>A<') && svg.includes('>B<'));
});
