"""safetensors read/write with torch alone (the `safetensors` package is not needed).

Format: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the
tensors' bytes. Reading goes one tensor at a time, so a file larger than memory can be read in parts.
"""
import json
import os
import struct

import torch

DTYPES = {
    'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
    'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8,
}
NAMES = {v: k for k, v in DTYPES.items()}


def read_header(path):
    """Returns (header dict without __metadata__, offset of the data section)."""
    with open(path, 'rb') as f:
        (length,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(length))
    header.pop('__metadata__', None)
    return header, 8 + length


def tensors(path):
    """(name, CPU tensor) for each tensor of `path`, read one at a time."""
    header, base = read_header(path)
    with open(path, 'rb') as f:
        for name, entry in header.items():
            begin, end = entry['data_offsets']
            f.seek(base + begin)
            data = bytearray(f.read(end - begin))
            dtype = DTYPES[entry['dtype']]
            t = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
            yield name, t.reshape(entry['shape'])


def load(path):
    """Every tensor of `path`, by name."""
    return dict(tensors(path))


def save(path, tensors, metadata=None):
    """Writes `tensors` (name → tensor, in order) to `path` via a temporary file renamed at the end."""
    header = {}
    if metadata:
        header['__metadata__'] = dict(metadata)
    offset = 0
    items = [(name, t.detach().contiguous().cpu()) for name, t in tensors.items()]
    for name, t in items:
        size = t.numel() * t.element_size()
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(',', ':')).encode()
    raw += b' ' * (-len(raw) % 8)
    temporary = f'{path}.partial'
    with open(temporary, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)))
        f.write(raw)
        for _, t in items:
            # uint8 view of the bytes (numpy has no bfloat16)
            f.write(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b'')
    os.replace(temporary, path)
