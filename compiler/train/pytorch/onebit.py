"""The OneBit linear layer (paper §3; onebitc docs ONEBIT.md §1, §3).

    y = LayerNorm_noaffine( ((x ⊙ g) · sign(W)ᵀ) ⊙ h )          sign(0) = +1

W is a latent full-precision weight [out, in]; only its sign is used forward. Gradients pass `sign` by a
straight-through estimator: 'tanh' (the reference's smooth surrogate, grad · (1.001 − tanh²(W))) or 'clip'
(identity where |W| ≤ 1, zero elsewhere).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

STES = ('tanh', 'clip')
POST_NORM_EPS = 1e-5  # nn.LayerNorm's default, as in the OneBit release's BitLinear


class SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, ste):
        ctx.save_for_backward(weight)
        ctx.ste = ste
        one = torch.ones((), dtype=weight.dtype, device=weight.device)
        return torch.where(weight >= 0, one, -one)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        if ctx.ste == 'tanh':
            return grad * (1.001 - torch.tanh(weight) ** 2), None
        return grad * (weight.abs() <= 1).to(grad.dtype), None


class OneBitLinear(nn.Module):
    def __init__(self, in_features, out_features, post_norm=True, ste='tanh'):
        super().__init__()
        if ste not in STES:
            raise ValueError(f'unknown STE {ste!r}; should be one of: {", ".join(STES)}')
        self.in_features, self.out_features = in_features, out_features
        self.post_norm, self.ste = post_norm, ste
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))  # latent, (out, in)
        self.g = nn.Parameter(torch.ones(in_features))  # input side, (in)
        self.h = nn.Parameter(torch.ones(out_features))  # output side, (out)

    def forward(self, x):
        signs = SignSTE.apply(self.weight, self.ste).to(x.dtype)
        y = F.linear(x * self.g.to(x.dtype), signs) * self.h.to(x.dtype)
        if self.post_norm:
            y = F.layer_norm(y, (self.out_features,), eps=POST_NORM_EPS)
        return y

    def extra_repr(self):
        return f'in={self.in_features}, out={self.out_features}, post_norm={self.post_norm}, ste={self.ste}'


def pack_signs(weight):
    """sign(weight) [out, in] → int8 [out, ceil(in/8)]: byte k holds columns 8k..8k+7, LSB first, bit 1 = −1."""
    out, n = weight.shape
    negative = (weight < 0).to(torch.uint8)
    negative = F.pad(negative, (0, -n % 8)).reshape(out, -1, 8)
    shifts = torch.arange(8, dtype=torch.uint8, device=weight.device)
    return (negative << shifts).sum(-1, dtype=torch.uint8).view(torch.int8)


def unpack_signs(packed, in_features):
    """int8 [out, ceil(in/8)] packed signs → float32 ±1 [out, in]."""
    bits = (packed.view(torch.uint8).unsqueeze(-1) >> torch.arange(8, dtype=torch.uint8)) & 1
    bits = bits.reshape(packed.shape[0], -1)[:, :in_features]
    return 1.0 - 2.0 * bits.to(torch.float32)
