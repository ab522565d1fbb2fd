import test from 'ava';
import { Writable } from 'node:stream';
import { createTrainingProgress, formatDuration } from '../../compiler/train/progress.ts';

/** A stream that keeps what is written; a terminal or not. */
function fakeStream(isTTY: boolean): Writable & { isTTY: boolean; columns: number; text: () => string } {
  const chunks: string[] = [];
  const s = new Writable({ write(chunk, _enc, done) { chunks.push(String(chunk)); done(); } }) as Writable & { isTTY: boolean; columns: number; text: () => string };
  s.isTTY = isTTY;
  s.columns = 160;
  s.text = () => chunks.join('');
  return s;
}

test('plain lines every N steps, with loss parts, lr, tokens/s and an ETA from the pace so far', (t) => {
  const stream = fakeStream(false);
  let ms = 0;
  const p = createTrainingProgress({ total: 2000, stream, everySteps: 40, now: () => ms });
  // Resumed at step 100; then 2 steps per second (500 ms per step).
  for (let step = 100; step <= 180; step++) {
    ms = (step - 100) * 500;
    p.update(step, { loss: 3.41237, ce: 3.0149, mse: 0.3981, lr: 3.9e-3, tokensPerSecond: 1234.4 });
  }
  p.log('eval: held-out perplexity 12.5');
  p.stop();
  t.deepEqual(stream.text().split('\n'), [
    'step 100/2000  loss 3.412 (ce 3.01 mse 0.40)  lr 3.9e-3  1234 tok/s  ETA ?',
    // 1860 steps left at 0.5 s each = 930 s
    'step 140/2000  loss 3.412 (ce 3.01 mse 0.40)  lr 3.9e-3  1234 tok/s  ETA 15m30s',
    'step 180/2000  loss 3.412 (ce 3.01 mse 0.40)  lr 3.9e-3  1234 tok/s  ETA 15m10s',
    'eval: held-out perplexity 12.5',
    '',
  ]);
});

test('plain lines by time, optional parts left out, and always the last step', (t) => {
  const stream = fakeStream(false);
  let ms = 0;
  const p = createTrainingProgress({ total: 10, stream, everySeconds: 3, now: () => ms });
  for (let step = 1; step <= 10; step++) {
    ms = step * 1000;
    p.update(step, { loss: 2 });
  }
  // Lines at 1 s (first), 4 s, 7 s, 10 s (also the last step).
  t.deepEqual(stream.text().trimEnd().split('\n').map((l) => l.split('  ')[0]), ['step 1/10', 'step 4/10', 'step 7/10', 'step 10/10']);
  t.is(stream.text().split('\n')[1], 'step 4/10  loss 2.000  ETA 6s');
});

test('a terminal gets a cli-progress bar with the same fields', async (t) => {
  const stream = fakeStream(true);
  const p = createTrainingProgress({ total: 50, stream });
  p.update(10, { loss: 1.5, ce: 1.25, mse: 0.25, lr: 1e-3, tokensPerSecond: 99 });
  p.log('checkpoint saved');
  p.update(20, { loss: 1.25, ce: 1, mse: 0.25, lr: 1e-3, tokensPerSecond: 100 });
  await new Promise((r) => setTimeout(r, 150)); // the bar redraws on a timer
  p.stop();
  const out = stream.text();
  t.true(out.includes('20/50 | loss 1.250 (ce 1.00 mse 0.25) | lr 1.0e-3 | 100 tok/s | ETA'), out);
  t.true(out.includes('checkpoint saved\n'), out);
});

test('formatDuration', (t) => {
  t.deepEqual([0, 45.4, 60, 723, 3599, 7500].map(formatDuration), ['0s', '45s', '1m00s', '12m03s', '59m59s', '2h05m']);
  t.is(formatDuration(Infinity), '?');
});
