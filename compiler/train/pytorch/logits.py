"""Logits of the student (as exported, or from a checkpoint folder) or of the teacher, for checking a model.

    python logits.py --ids 1,403,407 [--checkpoint checkpoint-final | --teacher] [--out logits.bin]

Writes float32 little-endian [len(ids), vocab] to --out, else prints the argmax of each position.
"""
import argparse
import os

import torch

from checkpoint import load_checkpoint_student, load_student, load_teacher, read_project

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--ids', required=True, help='comma-separated token ids')
    p.add_argument('--checkpoint', help='a checkpoint folder written by train.py')
    p.add_argument('--teacher', action='store_true')
    p.add_argument('--out')
    args = p.parse_args()
    config, settings = read_project(HERE)
    if args.checkpoint:
        model = load_checkpoint_student(args.checkpoint, config)
    elif args.teacher:
        model = load_teacher(HERE, config)
    else:
        model = load_student(HERE, config, settings['post_norm'], 'tanh').eval()
    ids = torch.tensor([[int(i) for i in args.ids.split(',')]])
    with torch.no_grad():
        logits = model(ids)[0][0].float()
    if args.out:
        logits.numpy().astype('<f4').tofile(args.out)
    else:
        print(' '.join(str(i) for i in logits.argmax(-1).tolist()))


if __name__ == '__main__':
    main()
