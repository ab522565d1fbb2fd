import test from 'ava';
import { broadcastIndex, broadcastShapes } from '../../../runtime/kernels/broadcast.ts';

test('broadcastShapes follows numpy rules', (t) => {
  t.deepEqual(broadcastShapes([2, 1, 4], [3, 1], [4]), [2, 3, 4]);
  t.deepEqual(broadcastShapes([], [5]), [5]);
  t.throws(() => broadcastShapes([2, 3], [4, 3]), { message: /do not broadcast/ });
});

test('broadcastIndex maps output positions to input positions', (t) => {
  t.deepEqual([...broadcastIndex([3, 1], [2, 3, 2])], [0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]);
  t.deepEqual([...broadcastIndex([], [3])], [0, 0, 0]);
});
