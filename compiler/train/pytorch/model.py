"""The LLaMA teacher and its OneBit student, built from a Hugging Face config.json.

Eager PyTorch with exactly the semantics of transformers' modeling_llama.py: RMSNorm (float32 statistics),
rotate-half RoPE, grouped-query attention, SiLU-gated MLP. Module names follow Hugging Face
(`model.layers.3.self_attn.q_proj`), so state-dict keys are the checkpoint's tensor names.
The student is the same network with every q, k, v, o, gate, up, down projection a OneBitLinear.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from onebit import OneBitLinear

PROJECTIONS = ('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj',
               'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj')


class LlamaConfig:
    def __init__(self, raw):
        self.raw = raw
        self.hidden_size = raw['hidden_size']
        self.intermediate_size = raw['intermediate_size']
        self.num_layers = raw['num_hidden_layers']
        self.num_heads = raw['num_attention_heads']
        self.num_kv_heads = raw.get('num_key_value_heads') or self.num_heads
        self.head_dim = raw.get('head_dim') or self.hidden_size // self.num_heads
        self.vocab_size = raw['vocab_size']
        self.eps = raw.get('rms_norm_eps', 1e-6)
        self.rope_theta = raw.get('rope_theta', 10000.0)


class Linear(nn.Linear):
    """nn.Linear without bias or random init: every weight is loaded from a file (init of a 7B model is slow)."""

    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features, bias=False)

    def reset_parameters(self):
        pass


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(config, positions, dtype):
    """cos, sin [T, head_dim] for rotate-half RoPE."""
    d = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64, device=positions.device).float() / d))
    freqs = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


class Attention(nn.Module):
    def __init__(self, c, linear):
        super().__init__()
        self.c = c
        self.q_proj = linear(c.hidden_size, c.num_heads * c.head_dim)
        self.k_proj = linear(c.hidden_size, c.num_kv_heads * c.head_dim)
        self.v_proj = linear(c.hidden_size, c.num_kv_heads * c.head_dim)
        self.o_proj = linear(c.num_heads * c.head_dim, c.hidden_size)

    def forward(self, x, cos, sin, mask):
        c = self.c
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, c.num_heads, c.head_dim).transpose(1, 2)  # (b, heads, t, d)
        k = self.k_proj(x).view(b, t, c.num_kv_heads, c.head_dim).transpose(1, 2)  # (b, kv heads, t, d)
        v = self.v_proj(x).view(b, t, c.num_kv_heads, c.head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        groups = c.num_heads // c.num_kv_heads
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        scores = q @ k.transpose(2, 3) / math.sqrt(c.head_dim) + mask
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        context = (probs @ v).transpose(1, 2).reshape(b, t, c.num_heads * c.head_dim)
        return self.o_proj(context)


class Mlp(nn.Module):
    def __init__(self, c, linear):
        super().__init__()
        self.gate_proj = linear(c.hidden_size, c.intermediate_size)
        self.up_proj = linear(c.hidden_size, c.intermediate_size)
        self.down_proj = linear(c.intermediate_size, c.hidden_size)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c, linear):
        super().__init__()
        self.self_attn = Attention(c, linear)
        self.mlp = Mlp(c, linear)
        self.input_layernorm = RMSNorm(c.hidden_size, c.eps)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.eps)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    def __init__(self, c, linear):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(c, linear) for _ in range(c.num_layers))
        self.norm = RMSNorm(c.hidden_size, c.eps)


class LlamaForCausalLM(nn.Module):
    """forward(ids [b, t]) → (logits [b, t, vocab], hidden states: every decoder layer's output [b, t, hidden]).

    The head is never tied to the embeddings (a tied model loads the same matrix into both): both stay frozen
    in training, and FSDP cannot shard one parameter across two units.
    """

    def __init__(self, c, linear):
        super().__init__()
        self.c = c
        self.model = Backbone(c, linear)
        self.lm_head = Linear(c.hidden_size, c.vocab_size)

    def forward(self, ids):
        x = self.model.embed_tokens(ids)
        t = ids.shape[1]
        cos, sin = rope(self.c, torch.arange(t, device=ids.device), x.dtype)
        mask = torch.full((t, t), torch.finfo(x.dtype).min, device=ids.device, dtype=x.dtype).triu(1)
        hidden = []
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
            hidden.append(x)
        return self.lm_head(self.model.norm(x)), hidden


def teacher(config):
    return LlamaForCausalLM(config, Linear)


def student(config, post_norm=True, ste='tanh'):
    return LlamaForCausalLM(config, lambda i, o: OneBitLinear(i, o, post_norm=post_norm, ste=ste))


def projection_names(config):
    return [f'model.layers.{i}.{p}' for i in range(config.num_layers) for p in PROJECTIONS]
