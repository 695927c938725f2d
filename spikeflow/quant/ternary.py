"""Ternary inference without a floating-point matrix product: packed 2-bit weights, integer adds.

``pack_ternary(codes)`` stores codes in {-1, 0, 1} four to a byte (2 bits each: 0 -> 00,
+1 -> 01, -1 -> 10), 16x smaller than float32. ``ternary_matmul_int(x_codes, packed, n_in)``
computes ``y[b, o] = sum_i code[o, i] * x[b, i]`` for int8 activation codes by adding and
subtracting them into int32 accumulators (a compiled loop over the packed bytes; no floating
point). ``TernaryLinearInt.from_bitlinear(layer)`` runs a trained BitLinear this way:
    y = (gamma * s_x[b]) * y_int[b, o]
with s_x the per-token activation scale; it equals BitLinear's float path up to float32
rounding of the final product (the integer sum itself is exact).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor, nn

from ..layers.bitlinear import BitLinear, activation_codes


def pack_ternary(codes: Tensor) -> Tensor:
    """codes [out, in] in {-1, 0, 1} -> uint8 [out, ceil(in / 4)]."""
    if codes.dim() != 2:
        raise ValueError(f"codes: expected [out, in], got shape {tuple(codes.shape)}")
    c = codes.to(torch.int64)
    if not bool(((c == -1) | (c == 0) | (c == 1)).all()):
        raise ValueError("codes: expected values in {-1, 0, 1}")
    out_f, in_f = c.shape
    pad = (-in_f) % 4
    bits = torch.where(c == 1, 1, torch.where(c == -1, 2, 0))
    if pad:
        bits = torch.cat([bits, bits.new_zeros(out_f, pad)], 1)
    bits = bits.reshape(out_f, -1, 4)
    packed = bits[..., 0] | (bits[..., 1] << 2) | (bits[..., 2] << 4) | (bits[..., 3] << 6)
    return packed.to(torch.uint8)


def unpack_ternary(packed: Tensor, in_features: int) -> Tensor:
    """The inverse of pack_ternary: int8 codes [out, in_features]."""
    p = packed.to(torch.int64)
    bits = torch.stack([(p >> s) & 3 for s in (0, 2, 4, 6)], -1).reshape(p.shape[0], -1)[:, :in_features]
    return torch.where(bits == 1, 1, torch.where(bits == 2, -1, 0)).to(torch.int8)


# the four codes of every byte value: LUT[byte, j] = code of weight 4k + j
_LUT = np.array([[(1 if (v >> (2 * j)) & 3 == 1 else -1 if (v >> (2 * j)) & 3 == 2 else 0) for j in range(4)]
                 for v in range(256)], dtype=np.int32)


@numba.njit(cache=True, nogil=True, inline="always")
def _ternary_row(x: np.ndarray, packed: np.ndarray, lut: np.ndarray, out: np.ndarray,
                 b: int) -> None:  # pragma: no cover - compiled
    n_out, n_bytes = packed.shape
    for o in range(n_out):
        acc = np.int32(0)
        for k in range(n_bytes):
            codes = lut[packed[o, k]]
            base = 4 * k
            # codes are -1, 0 or +1: each product is an add, a subtract or nothing
            acc += x[b, base] * codes[0] + x[b, base + 1] * codes[1] + x[b, base + 2] * codes[2] \
                + x[b, base + 3] * codes[3]
        out[b, o] = acc


@numba.njit(parallel=True, cache=True, nogil=True)
def _ternary_mm_parallel(x: np.ndarray, packed: np.ndarray, lut: np.ndarray,
                         out: np.ndarray) -> None:  # pragma: no cover - compiled
    for b in numba.prange(out.shape[0]):
        _ternary_row(x, packed, lut, out, b)


@numba.njit(cache=True, nogil=True)
def _ternary_mm_serial(x: np.ndarray, packed: np.ndarray, lut: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    for b in range(out.shape[0]):
        _ternary_row(x, packed, lut, out, b)


def ternary_matmul_int(x_codes: Tensor, packed: Tensor, in_features: int) -> Tensor:
    """int8 x_codes [B, in] and packed weights [out, ceil(in/4)] -> int32 [B, out] (adds and subtracts only)."""
    if x_codes.dtype != torch.int8 or x_codes.dim() != 2 or x_codes.shape[1] != in_features:
        raise ValueError(f"x_codes: expected int8 [B, {in_features}], got {x_codes.dtype} {tuple(x_codes.shape)}")
    if packed.dtype != torch.uint8 or packed.dim() != 2 or packed.shape[1] != -(-in_features // 4):
        raise ValueError(f"packed: expected uint8 [out, {-(-in_features // 4)}], got {packed.dtype} "
                         f"{tuple(packed.shape)}")
    out = np.zeros((x_codes.shape[0], packed.shape[0]), dtype=np.int32)
    n_pad = 4 * packed.shape[1]
    x = np.zeros((x_codes.shape[0], n_pad), dtype=np.int32)  # int32 lanes; the padding weights are 0
    x[:, :in_features] = x_codes.cpu().numpy()
    kernel = _ternary_mm_parallel if x_codes.shape[0] >= 8 and torch.get_num_threads() > 1 else _ternary_mm_serial
    kernel(x, np.ascontiguousarray(packed.cpu().numpy()), _LUT, out)
    return torch.from_numpy(out)


class TernaryLinearInt(nn.Module):
    """Inference-only BitLinear with packed 2-bit weights and integer accumulation."""

    def __init__(self, norm: nn.Module, packed: Tensor, gamma: Tensor, in_features: int, activation_bits: int) -> None:
        super().__init__()
        if activation_bits > 8:
            raise ValueError(f"activation_bits: the integer path takes int8 activations, got {activation_bits}")
        self.norm = norm
        self.register_buffer("packed", packed)
        self.register_buffer("gamma", gamma.detach().reshape(()))
        self.in_features, self.out_features, self.activation_bits = in_features, packed.shape[0], activation_bits

    @classmethod
    def from_bitlinear(cls, layer: BitLinear) -> "TernaryLinearInt":
        iw = layer.quantizer.integer(layer.weight)
        return cls(layer.norm, pack_ternary(iw.codes), iw.scale, layer.in_features, layer.activation_bits)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        codes, scale = activation_codes(self.norm(x).reshape(-1, self.in_features), self.activation_bits)
        y_int = ternary_matmul_int(codes.to(torch.int8), self.packed, self.in_features)
        return (y_int.to(x.dtype) * (scale * self.gamma).to(x.dtype)).reshape(*lead, self.out_features)

    def weight_bytes(self) -> int:
        return int(self.packed.numel())
