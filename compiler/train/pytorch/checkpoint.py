"""Loading the exported weights into the teacher and the student, and writing checkpoints onebitc compiles.

init/model.safetensors (written by `onebitc export-training`): embeddings, norms, lm_head (untied only) as the
teacher has them; per projection `<p>.weight` (the latent weight), `<p>.g`, `<p>.h` (SVID), and
`<p>.teacher_weight` when the latent weight is not the teacher's own (`--latent-init sign`).

A checkpoint folder is the OneBit release's format (BitLlamaForCausalLMInf, model_type bitllama): per
projection `<p>.weight` int8 [out, ceil(in/8)] packed signs, `<p>.weight_scale` = h, `<p>.input_factor` = g,
all float32 but the signs; lm_head written (untied); tokenizer files copied. A student without the
post-LayerNorm does not fit that format: its checkpoint is a plain LlamaForCausalLM with the dequantized
weights h ⊙ sign(W) ⊙ g, which onebitc's SVID decomposes back into the same signs (g, h then rounded to fp16).
`training_state.pt` beside it holds the latent weights and the optimizer for resuming.
"""
import json
import os
import shutil

import torch

import safetensors_io
from model import LlamaConfig, projection_names, student, teacher
from onebit import pack_signs, unpack_signs

TOKENIZER_FILES = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model',
                   'generation_config.json')


def read_project(project):
    with open(os.path.join(project, 'config.json')) as f:
        raw = json.load(f)
    with open(os.path.join(project, 'onebit.json')) as f:
        settings = json.load(f)
    return LlamaConfig(raw), settings


def fill(model, path, rename):
    """Copies the tensors of `path` into the model's parameters one at a time (never a second copy of the model).
    `rename(name, names)` gives the parameter a tensor goes to, or None to skip it; every parameter must be filled.
    A tied model's head is its embedding matrix, which the export wrote once."""
    names = set(safetensors_io.read_header(path)[0])
    params = dict(model.named_parameters())
    unfilled = set(params)
    for name, value in safetensors_io.tensors(path):
        target = rename(name, names)
        if target is None:
            continue
        targets = [target] + (['lm_head.weight'] if target == 'model.embed_tokens.weight' and 'lm_head.weight' not in names else [])
        for t in targets:
            if t not in params or params[t].shape != value.shape:
                raise ValueError(f'{path}: tensor {name!r} {list(value.shape)} does not fit the model')
            with torch.no_grad():
                params[t].copy_(value)
            unfilled.discard(t)
    if unfilled:
        raise ValueError(f'{path}: no tensor for {", ".join(sorted(unfilled))}')


def load_teacher(project, config):
    def rename(name, names):
        prefix, kind = name.rsplit('.', 1)
        if kind in ('g', 'h') or (kind == 'weight' and f'{prefix}.teacher_weight' in names):
            return None
        return f'{prefix}.weight' if kind == 'teacher_weight' else name
    model = teacher(config)
    fill(model, os.path.join(project, 'init', 'model.safetensors'), rename)
    model.requires_grad_(False)
    return model.eval()


def load_student(project, config, post_norm, ste):
    model = student(config, post_norm=post_norm, ste=ste)
    fill(model, os.path.join(project, 'init', 'model.safetensors'), lambda name, _: None if name.endswith('.teacher_weight') else name)
    # Trained: the latent weights, g, h and the norms; embeddings and the LM head stay the teacher's.
    model.model.embed_tokens.requires_grad_(False)
    model.lm_head.requires_grad_(False)
    return model


def bitllama_tensors(state, config, post_norm):
    """A student state dict (CPU, full) → the tensors of a checkpoint, in Hugging Face order."""
    out = {}
    projections = set(projection_names(config))
    for name, value in state.items():
        prefix = name.rsplit('.', 1)[0]
        if prefix not in projections:
            out[name] = value.float()
        elif name.endswith('.weight'):
            g, h = state[f'{prefix}.g'].float(), state[f'{prefix}.h'].float()
            if post_norm:
                out[name] = pack_signs(value)
                out[f'{prefix}.weight_scale'] = h
                out[f'{prefix}.input_factor'] = g
            else:
                signs = torch.where(value >= 0, 1.0, -1.0)
                out[name] = h[:, None] * signs * g[None, :]
    return out


def checkpoint_config(config, post_norm):
    raw = dict(config.raw)
    raw['tie_word_embeddings'] = False
    raw['torch_dtype'] = 'float32'
    if post_norm:
        raw['model_type'] = 'bitllama'
        raw['architectures'] = ['BitLlamaForCausalLMInf']
    return raw


def save_checkpoint(directory, project, state, config, post_norm, training_state=None):
    """Writes `directory` (replacing an earlier one) via a temporary folder renamed at the end."""
    temporary = directory.rstrip('/') + '.partial'
    shutil.rmtree(temporary, ignore_errors=True)
    os.makedirs(temporary)
    safetensors_io.save(os.path.join(temporary, 'model.safetensors'), bitllama_tensors(state, config, post_norm),
                        metadata={'format': 'pt'})
    with open(os.path.join(temporary, 'config.json'), 'w') as f:
        json.dump(checkpoint_config(config, post_norm), f, indent=2)
    for name in TOKENIZER_FILES:
        if os.path.exists(os.path.join(project, name)):
            shutil.copy(os.path.join(project, name), temporary)
    if training_state is not None:
        torch.save(training_state, os.path.join(temporary, 'training_state.pt'))
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(temporary, directory)


def load_checkpoint_student(directory, config, ste='tanh'):
    """A checkpoint folder → the student it was written from: OneBit layers with latent weights ±1 (BitLlama),
    or plain linears holding h ⊙ sign(W) ⊙ g (a student without the post-LayerNorm: the same function)."""
    weights = safetensors_io.load(os.path.join(directory, 'model.safetensors'))
    with open(os.path.join(directory, 'config.json')) as f:
        post_norm = json.load(f).get('model_type') == 'bitllama'
    if not post_norm:
        model = teacher(config)
        model.load_state_dict(weights)
        return model.eval()
    state = {}
    projections = set(projection_names(config))
    for name, value in weights.items():
        prefix, kind = name.rsplit('.', 1)
        if prefix not in projections:
            state[name] = value
        elif kind == 'weight':
            in_features = weights[f'{prefix}.input_factor'].shape[0]
            state[name] = unpack_signs(value, in_features)
            state[f'{prefix}.g'] = weights[f'{prefix}.input_factor']
            state[f'{prefix}.h'] = weights[f'{prefix}.weight_scale']
    model = student(config, post_norm=True, ste=ste)
    model.load_state_dict(state)
    return model.eval()
