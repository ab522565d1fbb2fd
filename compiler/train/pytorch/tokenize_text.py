"""Text file → tokens.bin (int32 little-endian ids) for train.py --data, with the model's tokenizer.json.

    python tokenize_text.py corpus.txt tokens.bin [--tokenizer tokenizer.json]

Each non-empty line is one document: BOS (from tokenizer_config.json / config.json) + its ids.
Needs the `tokenizers` package (pip install tokenizers). Named tokenize_text, not tokenize: a tokenize.py
here would shadow Python's own tokenize module.
"""
import argparse
import json
import os

import numpy as np


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('text')
    parser.add_argument('output')
    parser.add_argument('--tokenizer', default=os.path.join(here, 'tokenizer.json'))
    args = parser.parse_args()
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise SystemExit('tokenize_text.py needs the tokenizers package: pip install tokenizers')
    tokenizer = Tokenizer.from_file(args.tokenizer)
    with open(os.path.join(here, 'config.json')) as f:
        bos = json.load(f).get('bos_token_id')
    ids = []
    with open(args.text, encoding='utf8') as f:
        for line in f:
            if line.strip():
                encoded = tokenizer.encode(line.rstrip('\n'), add_special_tokens=False).ids
                ids.extend(([bos] if bos is not None else []) + encoded)
    np.asarray(ids, dtype='<i4').tofile(args.output)
    print(f'{args.output}: {len(ids)} tokens')


if __name__ == '__main__':
    main()
