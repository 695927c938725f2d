"""BitLinear: the ternary-weight projection of the MatMul-free language model (Zhu et al. 2024).

    x_hat = RMSNorm(x)                                       (own learnable gain, eps 1e-8)
    x_q   = round(clamp(x_hat * 127 / max|x_hat|, -128, 127)) * max|x_hat| / 127   (8 bit, per token)
    W_q   = round(clamp(W / gamma, -1, 1)) * gamma,  gamma = mean|W| (>= 1e-5, per tensor)
    y     = x_q @ W_q^T                                      (no bias)

Both quantizers use straight-through gradients. Shapes: x [..., in_features] -> y [..., out_features].
The forward multiplies the integer codes (exact in floating point while |sum| < 2**24) and
scales once, ``y = (codes_x @ codes_W^T) * s_x * gamma``, so it equals the integer inference path
of spikeflow.quant.ternary exactly and a zero pre-activation is exactly zero on every path; the
backward is the straight-through one, ``dx_hat = dy @ W_q``, ``dW = dy^T @ x_q``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..quant.weights import TernaryQuantizer, straight_through


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x**2, -1) + eps) * weight."""

    def __init__(self, features: int, eps: float = 1e-8) -> None:
        super().__init__()
        if isinstance(features, bool) or not isinstance(features, int) or features < 1:
            raise ValueError(f"features: expected a positive int, got {features!r}")
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(features))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def activation_codes(x: Tensor, bits: int = 8) -> tuple[Tensor, Tensor]:
    """Per-token absmax codes: (codes in [-2**(b-1), 2**(b-1) - 1] as float, scale [..., 1]); x ~ codes * scale."""
    qmax = 2 ** (bits - 1) - 1
    scale = x.detach().abs().amax(-1, keepdim=True).clamp_min(1e-5) / qmax
    codes = torch.clamp(torch.round(x.detach() / scale), -qmax - 1, qmax)
    return codes, scale


def quantize_activations(x: Tensor, bits: int = 8) -> Tensor:
    codes, scale = activation_codes(x, bits)
    return straight_through(x, codes * scale)


class _TernaryProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_hat: Tensor, weight: Tensor, bits: int, quantizer: TernaryQuantizer) -> Tensor:  # type: ignore[override]
        codes_x, scale_x = activation_codes(x_hat, bits)
        iw = quantizer.integer(weight, check=False)
        codes_w = iw.codes.to(x_hat.dtype)
        ctx.save_for_backward(codes_x, scale_x, codes_w, iw.scale.to(x_hat.dtype))
        return F.linear(codes_x, codes_w) * (scale_x * iw.scale.to(x_hat.dtype))

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        codes_x, scale_x, codes_w, gamma = ctx.saved_tensors
        grad_x = grad.matmul(codes_w * gamma) if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            x_q = (codes_x * scale_x).reshape(-1, codes_x.shape[-1])
            grad_w = grad.reshape(-1, grad.shape[-1]).t().matmul(x_q)
        return grad_x, grad_w, None, None


class BitLinear(nn.Module):
    """Linear layer with RMSNorm, 8-bit per-token activations and ternary weights (no bias)."""

    def __init__(self, in_features: int, out_features: int, activation_bits: int = 8, norm: bool = True) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        if isinstance(activation_bits, bool) or not isinstance(activation_bits, int) or not 2 <= activation_bits <= 16:
            raise ValueError(f"activation_bits: expected an int in 2..16, got {activation_bits!r}")
        self.in_features, self.out_features, self.activation_bits = in_features, out_features, activation_bits
        self.norm = RMSNorm(in_features) if norm else nn.Identity()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.quantizer = TernaryQuantizer()

    def quantized_weight(self) -> Tensor:
        return self.quantizer(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected last dim {self.in_features}, got shape {tuple(x.shape)}")
        return _TernaryProduct.apply(self.norm(x), self.weight, self.activation_bits, self.quantizer)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"activation_bits={self.activation_bits}")
