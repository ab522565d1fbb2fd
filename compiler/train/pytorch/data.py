"""Training text as token ids: a flat file of int32 little-endian ids (tokenize_text.py writes one).

Batches are windows of `seq` consecutive ids at random offsets, drawn from a generator seeded per process,
so every rank of a distributed run sees different windows and a resumed run continues the same sequence.
"""
import numpy as np
import torch


class TokenWindows:
    def __init__(self, path, seq, batch, seed):
        self.ids = np.memmap(path, dtype='<i4', mode='r')
        if len(self.ids) <= seq:
            raise ValueError(f'{path}: {len(self.ids)} tokens; need more than --seq {seq}')
        self.seq, self.batch = seq, batch
        self.generator = torch.Generator().manual_seed(seed)

    def next(self):
        """(batch, seq) int64 ids."""
        starts = torch.randint(0, len(self.ids) - self.seq + 1, (self.batch,), generator=self.generator)
        return torch.stack([torch.from_numpy(self.ids[s:s + self.seq].astype(np.int64)) for s in starts.tolist()])

    def state(self):
        return self.generator.get_state()

    def restore(self, state):
        self.generator.set_state(state)
