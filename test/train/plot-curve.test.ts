import test from 'ava';
import type { ExecutionContext } from 'ava';
import { linearAxis, logAxis, plotCurve } from '../../compiler/train/plot-curve.ts';
import type { CurvePoint } from '../../compiler/train/plot-curve.ts';

/** Checks the SVG is one balanced tree of tags and returns the viewBox and every element's attributes. */
function parseSvg(t: ExecutionContext, svg: string): { box: number[]; elements: { tag: string; attrs: Record<string, string> }[] } {
  const stack: string[] = [];
  const elements: { tag: string; attrs: Record<string, string> }[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z:-]+="[^"<>]*")*)\s*(\/?)>/g)) {
    const [, close, tag, attrText, selfClose] = m;
    if (close) t.is(stack.pop(), tag, `</${tag}> closes what was opened`);
    else {
      elements.push({ tag: tag!, attrs: Object.fromEntries([...attrText!.matchAll(/([a-zA-Z:-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])) });
      if (!selfClose) stack.push(tag!);
    }
  }
  t.deepEqual(stack, [], 'every tag closed');
  t.is(svg.replace(/<[^>]*>/g, '').match(/[<>]/g), null, 'no stray angle brackets');
  t.is(elements[0]!.tag, 'svg');
  t.false(/NaN|Infinity|undefined/.test(svg));
  return { box: elements[0]!.attrs.viewBox!.split(' ').map(Number), elements };
}

const pointsOf = (el: { attrs: Record<string, string> }) => el.attrs.points!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
const texts = (svg: string) => [...svg.matchAll(/>([^<>]+)</g)].map((m) => m[1]!.trim()).filter(Boolean);

// loss falls from 10 to 1 over 100 steps, geometrically: a straight line on a log axis.
const curve: CurvePoint[] = Array.from({ length: 11 }, (_, i) => ({
  step: i * 10, loss: 10 ** (1 - i / 10), ce: 0.8 * 10 ** (1 - i / 10), mse: 0.2 * 10 ** (1 - i / 10),
  ...(i % 5 === 0 ? { heldOutPerplexity: 100 / (i + 1) } : {}),
}));

test('loss, ce and mse as polylines on a log axis inside the viewBox; a legend, ticks and labels', (t) => {
  const svg = plotCurve(curve, { title: 'stories260K <distill>' });
  const { box, elements } = parseSvg(t, svg);
  const lines = elements.filter((e) => e.tag === 'polyline');
  t.deepEqual(lines.map((e) => e.attrs.class), ['loss', 'ce', 'mse', 'heldOutPerplexity']);
  for (const l of lines) {
    for (const [x, y] of pointsOf(l)) t.true(x >= box[0]! && x <= box[2]! && y >= box[1]! && y <= box[3]!, `${x},${y}`);
  }
  // x: steps 0…100 span the plot. y: the axis runs over whole decades 0.1…10 (mse goes down to 0.2), so loss
  // 10 is at the panel top, 1 halfway down, and geometric steps are equal steps in between (log scale).
  const loss = pointsOf(lines[0]!);
  const frame = elements.find((e) => e.tag === 'rect' && e.attrs.fill === 'none')!;
  const [left, top, w, h] = ['x', 'y', 'width', 'height'].map((k) => Number(frame.attrs[k]));
  t.deepEqual(loss[0], [left!, top!]);
  t.deepEqual(loss[10], [left! + w!, top! + h! / 2]);
  for (let i = 0; i <= 10; i++) {
    t.true(Math.abs(loss[i]![0] - (left! + (w! * i) / 10)) <= 0.05);
    t.true(Math.abs(loss[i]![1] - (top! + (h! * i) / 20)) <= 0.05);
  }
  t.deepEqual(pointsOf(lines[2]!)[10], [left! + w!, top! + h! * (1 - Math.log10(2) / 2)].map((v) => Number(v.toFixed(1)))); // mse 0.2
  const labels = texts(svg);
  for (const l of ['stories260K &lt;distill&gt;', 'loss', 'ce', 'mse', 'step', 'loss (log scale)', 'held-out perplexity', '0.1', '0.2', '0.5', '1', '2', '5', '10', '0', '20', '100']) {
    t.true(labels.includes(l), `label ${l}`);
  }
  // Perplexity on its own panel, below, with a marker at each of its 3 points.
  t.is(elements.filter((e) => e.tag === 'circle' && e.attrs.class === 'heldOutPerplexity').length, 3);
  t.true(pointsOf(lines[3]!).every(([, y]) => y > top! + h!));
});

test('a single point, NaN and non-positive values: markers instead of lines, nothing NaN', (t) => {
  const one = plotCurve([{ step: 5, loss: 3.2, ce: 3, mse: 0.2 }]);
  const { elements } = parseSvg(t, one);
  t.is(elements.filter((e) => e.tag === 'polyline').length, 0);
  t.deepEqual(elements.filter((e) => e.tag === 'circle').map((e) => e.attrs.class), ['loss', 'ce', 'mse']);
  t.false(texts(one).includes('held-out perplexity'));

  const messy = plotCurve([
    { step: 0, loss: NaN, ce: 2, mse: 0 },
    { step: 1, loss: 2.5, ce: Infinity, mse: -1 },
    { step: 2, loss: 2, ce: 1.5, mse: 0.5, heldOutPerplexity: NaN },
  ]);
  const parsed = parseSvg(t, messy);
  t.is(parsed.elements.filter((e) => e.tag === 'polyline' && e.attrs.class === 'loss').length, 1);

  const empty = plotCurve([]);
  parseSvg(t, empty);
  t.true(texts(empty).includes('no loss recorded yet'));
});

test('axes: round linear ticks, whole log decades', (t) => {
  t.deepEqual(linearAxis(0, 100), [0, 100, [0, 20, 40, 60, 80, 100]]);
  t.deepEqual(linearAxis(130, 1990), [0, 2000, [0, 500, 1000, 1500, 2000]]);
  t.deepEqual(linearAxis(5, 5), [4, 6, [4, 4.5, 5, 5.5, 6]]);
  t.deepEqual(logAxis(1.7, 9.3), [0, 1, [1, 2, 5, 10]]);
  t.deepEqual(logAxis(0.03, 40), [-2, 2, [0.01, 0.1, 1, 10, 100]]);
  t.deepEqual(logAxis(3, 3), [0, 1, [1, 2, 5, 10]]);
});
