"""Quantization-aware knowledge distillation of the OneBit student from its teacher (paper §3).

    python train.py --data tokens.bin --steps 2000                 # one process (GPU if there is one, else CPU)
    torchrun --nproc_per_node 8 train.py --data tokens.bin ...     # FSDP over every process (see launch.sh)

Adam β (0.9, 0.98), linear warm-up then cosine decay to --min-lr, gradient clipping, no weight decay.
Checkpoints go to --out (default: this folder): checkpoint-<step>/ every --save-every steps and
checkpoint-final/, each a folder `onebitc <folder> -o bundle/` compiles (see checkpoint.py), with
training_state.pt for --resume. One JSON line per step on stdout and in <out>/train_log.jsonl.
"""
import argparse
import glob
import json
import math
import os
import time

import torch
import torch.distributed as dist

from checkpoint import load_student, load_teacher, read_project, save_checkpoint
from data import TokenWindows
from kd import kd_loss
from onebit import STES

HERE = os.path.dirname(os.path.abspath(__file__))


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', help='int32 little-endian token ids (tokenize_text.py); not needed for --steps 0')
    p.add_argument('--out', default=HERE, help='folder for checkpoints and train_log.jsonl (default: the project)')
    p.add_argument('--steps', type=int, default=1000)
    p.add_argument('--batch', type=int, default=8, help='sequences per process and step')
    p.add_argument('--seq', type=int, default=512, help='tokens per sequence')
    p.add_argument('--lr', type=float, default=4e-4, help='peak learning rate (paper: 4e-4 for 1.3B/7B, 2e-4 for 13B)')
    p.add_argument('--min-lr', type=float, default=0.0)
    p.add_argument('--warmup', type=int, default=100, help='warm-up steps')
    p.add_argument('--alpha', type=float, default=1.0, help='weight of the hidden-state term')
    p.add_argument('--temperature', type=float, default=1.0, help='of the soft labels')
    p.add_argument('--clip', type=float, default=1.0, help='gradient norm clip (0: none)')
    p.add_argument('--ste', choices=STES, default='tanh')
    p.add_argument('--post-norm', dest='post_norm', action='store_true', default=None)
    p.add_argument('--no-post-norm', dest='post_norm', action='store_false', help='default: as exported')
    p.add_argument('--bf16', action='store_true', help='bfloat16 autocast (CUDA)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--save-every', type=int, default=500)
    p.add_argument('--eval-every', type=int, default=0, help='KD loss on a fixed batch every N steps (always at start and end)')
    p.add_argument('--resume', help="a checkpoint folder, or 'auto': the newest under --out")
    p.add_argument('--device', help='default: cuda when available, else cpu')
    return p.parse_args()


def lr_factor(args):
    def factor(step):
        if step < args.warmup:
            return (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return (args.min_lr + (args.lr - args.min_lr) * cosine) / args.lr
    return factor


def find_resume(args):
    if args.resume != 'auto':
        return os.path.join(args.resume, 'training_state.pt')
    found = [(torch.load(p, map_location='cpu')['step'], p) for p in glob.glob(os.path.join(args.out, 'checkpoint-*', 'training_state.pt'))]
    return max(found)[1] if found else None


class Run:
    """The process's place in the job: one process, or one rank of a torchrun job (FSDP)."""

    def __init__(self, args):
        self.distributed = int(os.environ.get('WORLD_SIZE', '1')) > 1
        if self.distributed:
            dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
            self.rank = dist.get_rank()
            local = int(os.environ.get('LOCAL_RANK', '0'))
            self.device = torch.device(f'cuda:{local}' if torch.cuda.is_available() else 'cpu')
            if self.device.type == 'cuda':
                torch.cuda.set_device(self.device)
        else:
            self.rank = 0
            self.device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))

    def wrap(self, model):
        if not self.distributed:
            return model.to(self.device)
        import functools
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        from torch.distributed.fsdp.wrap import lambda_auto_wrap_policy
        from model import DecoderLayer
        # One unit per decoder layer, and the frozen embedding and head apart: every unit is then all
        # trainable or all frozen, as FSDP's flat parameters require. The model stays on the CPU until
        # each unit is sharded onto its GPU (device_id), so no GPU ever holds the whole model.
        units = {id(model.model.embed_tokens), id(model.lm_head)}
        policy = functools.partial(lambda_auto_wrap_policy, lambda_fn=lambda m: isinstance(m, DecoderLayer) or id(m) in units)
        return FSDP(model, auto_wrap_policy=policy, device_id=self.device if self.device.type == 'cuda' else None)

    def full_state(self, model, optimizer):
        """(model state, optimizer state) gathered whole on rank 0 (None elsewhere), on the CPU."""
        if not self.distributed:
            return {k: v.detach().cpu() for k, v in model.state_dict().items()}, optimizer.state_dict()
        from torch.distributed.fsdp import FullStateDictConfig, StateDictType
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(offload_to_cpu=True, rank0_only=True)):
            state = model.state_dict()
        optim = FSDP.full_optim_state_dict(model, optimizer)
        return (state, optim) if self.rank == 0 else (None, None)

    def load_optimizer(self, model, optimizer, full):
        if self.distributed:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
            full = FSDP.shard_full_optim_state_dict(full, model)
        optimizer.load_state_dict(full)

    def mean(self, value):
        value = value.detach().float()
        if self.distributed:
            dist.all_reduce(value)
            value /= dist.get_world_size()
        return value.item()

    def barrier(self):
        if self.distributed:
            dist.barrier()


def main():
    args = parse()
    run = Run(args)
    config, settings = read_project(HERE)
    post_norm = settings['post_norm'] if args.post_norm is None else args.post_norm
    torch.manual_seed(args.seed)
    teacher = load_teacher(HERE, config)
    student = load_student(HERE, config, post_norm, args.ste)

    resume = find_resume(args) if args.resume else None
    state = torch.load(resume, map_location='cpu') if resume else None
    if state:
        student.load_state_dict(state['student'])
    teacher, student = run.wrap(teacher), run.wrap(student)
    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(args))
    step = 0
    data = eval_ids = None
    if args.steps > 0:
        if not args.data:
            raise SystemExit('train.py: --data tokens.bin is needed for training (tokenize_text.py writes one)')
        data = TokenWindows(args.data, args.seq, args.batch, args.seed * 1000 + run.rank)
        eval_ids = TokenWindows(args.data, args.seq, args.batch, args.seed * 1000 + 999_983).next().to(run.device)
    if state:
        run.load_optimizer(student, optimizer, state['optimizer'])
        schedule.load_state_dict(state['schedule'])
        step = state['step']
        data.restore(state['data'][run.rank] if run.rank < len(state['data']) else state['data'][0])
        print(f'resumed from {resume} at step {step}', flush=True)

    os.makedirs(args.out, exist_ok=True)
    log_path = os.path.join(args.out, 'train_log.jsonl')
    autocast = torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=args.bf16)

    def log(record):
        if run.rank == 0:
            line = json.dumps(record)
            print(line, flush=True)
            with open(log_path, 'a') as f:
                f.write(line + '\n')

    def losses(ids):
        with torch.no_grad(), autocast:
            t_logits, t_hidden = teacher(ids)
        with autocast:
            s_logits, s_hidden = student(ids)
        return kd_loss(s_logits, t_logits, s_hidden, t_hidden, args.alpha, args.temperature)

    def evaluate():
        with torch.no_grad():
            loss, ce, mse = losses(eval_ids)
        log({'eval': True, 'step': step, 'loss': run.mean(loss), 'ce': run.mean(ce), 'mse': run.mean(mse)})

    def save(name):
        model_state, optim_state = run.full_state(student, optimizer)
        data_states = [data.state()] if data else []
        if run.distributed and data:
            gathered = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, data.state())
            data_states = gathered
        if run.rank == 0:
            training = {'step': step, 'student': model_state, 'optimizer': optim_state,
                        'schedule': schedule.state_dict(), 'data': data_states, 'args': vars(args)}
            save_checkpoint(os.path.join(args.out, name), HERE, model_state, config, post_norm, training)
        run.barrier()

    if eval_ids is not None:
        evaluate()
    started = time.time()
    while step < args.steps:
        ids = data.next().to(run.device)
        loss, ce, mse = losses(ids)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip > 0:
            norm = student.clip_grad_norm_(args.clip) if run.distributed else torch.nn.utils.clip_grad_norm_(params, args.clip)
        else:
            norm = torch.zeros(())
        optimizer.step()
        schedule.step()
        step += 1
        tokens = (step - (state['step'] if state else 0)) * args.batch * args.seq * (dist.get_world_size() if run.distributed else 1)
        log({'step': step, 'loss': run.mean(loss), 'ce': run.mean(ce), 'mse': run.mean(mse), 'grad_norm': float(norm),
             'lr': schedule.get_last_lr()[0], 'tokens_per_s': round(tokens / (time.time() - started))})
        if args.eval_every and step % args.eval_every == 0 and step < args.steps:
            evaluate()
        if args.save_every and step % args.save_every == 0 and step < args.steps:
            save(f'checkpoint-{step}')
    if eval_ids is not None:
        evaluate()
    save('checkpoint-final')
    if run.distributed:
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
