"""Weight quantizers for quantization-aware training (QAT), with straight-through estimators.

Every quantizer is a small picklable object: ``q(w)`` returns the fake-quantized weight
(float, on the quantization grid) whose gradient is the identity (straight-through estimator,
STE: ``w + (q(w) - w).detach()``); ``q.integer(w)`` returns the integer codes and the scale
(and zero point) that a chip toolchain stores, with ``q(w) == (codes - zero_point) * scale``.

Schemes (``w``: a weight tensor; channel axis 0 = output channels when ``per_channel``):
- ``UniformQuantizer(bits, symmetric=True, narrow_range=True)``: symmetric
  ``s = max|w| / qmax``, ``qmax = 2**(bits-1) - 1``, ``codes = clamp(round(w / s), -qmax, qmax)``
  (narrow range, Brevitas' default; ``narrow_range=False`` allows ``-qmax - 1``);
  ``symmetric=False``: affine, ``s = (max - min) / (2**bits - 1)``, ``z = round(-min / s)``,
  ``codes = clamp(round(w / s) + z, 0, 2**bits - 1)``.
- ``TernaryQuantizer()``: ``gamma = mean|w|`` (BitNet b1.58's absmean), codes
  ``round(clamp(w / gamma, -1, 1))`` in {-1, 0, 1}, scale gamma.
- ``BinaryQuantizer()``: codes ``sign(w)`` in {-1, 1} (0 maps to +1), scale ``mean|w|``
  (XNOR-Net's optimal scale for sign codes).
- ``MinifloatQuantizer(exponent_bits, mantissa_bits)``: the nearest value of a small float
  format (FP4 = E2M1, FP8 = E4M3 as OCP's, no infinities) after scaling ``max|w|`` to the
  format's largest value; ``integer`` returns the format's bit patterns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor


class IntegerWeights(NamedTuple):
    """codes (integer tensor), scale and zero_point (broadcastable to codes); w = (codes - zero_point) * scale."""

    codes: Tensor
    scale: Tensor
    zero_point: Tensor
    scheme: str
    bits: int


def straight_through(w: Tensor, w_q: Tensor) -> Tensor:
    """w_q in the forward pass, identity gradient to w in the backward pass.

    Written ``w_q + (w - w.detach())`` (the added term is exactly 0) so that the forward value is w_q bit for
    bit; ``w + (w_q - w).detach()`` rounds twice and can land an ulp off the quantization grid."""
    return w_q.detach() + (w - w.detach())


def _check_weight(w: Tensor) -> None:
    if not isinstance(w, Tensor):
        raise TypeError(f"weight: expected a Tensor, got {type(w).__name__}")
    if not w.is_floating_point():
        raise TypeError(f"weight: expected a floating-point Tensor, got dtype {w.dtype}")
    if w.numel() == 0:
        raise ValueError(f"weight: expected a non-empty Tensor, got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise ValueError("weight: expected finite values, got NaN or inf")


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {value!r}")
    return value


def _reduce_abs(w: Tensor, per_channel: bool, how: str) -> Tensor:
    """max|w| or mean|w| over the whole tensor, or per output channel (axis 0), kept broadcastable."""
    a = w.detach().abs()
    if per_channel and w.dim() > 1:
        flat = a.reshape(a.shape[0], -1)
        r = flat.amax(1) if how == "max" else flat.mean(1)
        return r.reshape(-1, *([1] * (w.dim() - 1)))
    return a.amax() if how == "max" else a.mean()


_TINY = 1e-12


@dataclass(frozen=True)
class UniformQuantizer:
    """k-bit uniform quantizer: symmetric (narrow range by default) or affine."""

    bits: int
    symmetric: bool = True
    narrow_range: bool = True
    per_channel: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 2 <= self.bits <= 16:
            raise ValueError(f"bits: expected an int in 2..16 (use TernaryQuantizer/BinaryQuantizer below), "
                             f"got {self.bits!r}")
        _check_bool("symmetric", self.symmetric)
        _check_bool("narrow_range", self.narrow_range)
        _check_bool("per_channel", self.per_channel)

    @property
    def scheme(self) -> str:
        return "int-symmetric" if self.symmetric else "int-affine"

    def integer(self, w: Tensor) -> IntegerWeights:
        _check_weight(w)
        w = w.detach()
        if self.symmetric:
            qmax = 2 ** (self.bits - 1) - 1
            qmin = -qmax if self.narrow_range else -qmax - 1
            scale = (_reduce_abs(w, self.per_channel, "max") / qmax).clamp_min(_TINY)
            codes = torch.clamp(torch.round(w / scale), qmin, qmax)
            zero = torch.zeros_like(scale)
        else:
            levels = 2**self.bits - 1
            if self.per_channel and w.dim() > 1:
                flat = w.reshape(w.shape[0], -1)
                shape = (-1, *([1] * (w.dim() - 1)))
                lo, hi = flat.amin(1).reshape(shape), flat.amax(1).reshape(shape)
            else:
                lo, hi = w.amin(), w.amax()
            lo, hi = lo.clamp(max=0), hi.clamp(min=0)  # zero must be exactly representable
            scale = ((hi - lo) / levels).clamp_min(_TINY)
            zero = torch.clamp(torch.round(-lo / scale), 0, levels)
            codes = torch.clamp(torch.round(w / scale) + zero, 0, levels)
        return IntegerWeights(codes.to(torch.int32), scale, zero, self.scheme, self.bits)

    def __call__(self, w: Tensor) -> Tensor:
        iw = self.integer(w)
        w_q = ((iw.codes.to(w.dtype) - iw.zero_point) * iw.scale).to(w.dtype)
        return straight_through(w, w_q)


@dataclass(frozen=True)
class TernaryQuantizer:
    """Ternary weights {-gamma, 0, +gamma} with gamma = mean|w| (absmean, as BitNet b1.58)."""

    per_channel: bool = False
    bits = 2
    scheme = "ternary"

    def __post_init__(self) -> None:
        _check_bool("per_channel", self.per_channel)

    def integer(self, w: Tensor, check: bool = True) -> IntegerWeights:
        """codes in {-1, 0, 1} and gamma; ``check=False`` skips the input validation (hot loops)."""
        if check:
            _check_weight(w)
        w = w.detach()
        gamma = _reduce_abs(w, self.per_channel, "mean").clamp_min(1e-5)
        codes = torch.round(torch.clamp(w / gamma, -1, 1))
        return IntegerWeights(codes.to(torch.int32), gamma, torch.zeros_like(gamma), self.scheme, 2)

    def __call__(self, w: Tensor) -> Tensor:
        iw = self.integer(w)
        return straight_through(w, (iw.codes.to(w.dtype) * iw.scale).to(w.dtype))


@dataclass(frozen=True)
class BinaryQuantizer:
    """Binary weights {-alpha, +alpha}: codes sign(w) (0 -> +1), alpha = mean|w|."""

    per_channel: bool = False
    bits = 1
    scheme = "binary"

    def __post_init__(self) -> None:
        _check_bool("per_channel", self.per_channel)

    def integer(self, w: Tensor) -> IntegerWeights:
        _check_weight(w)
        w = w.detach()
        alpha = _reduce_abs(w, self.per_channel, "mean").clamp_min(_TINY)
        codes = torch.where(w >= 0, 1, -1)
        return IntegerWeights(codes.to(torch.int32), alpha, torch.zeros_like(alpha), self.scheme, 1)

    def __call__(self, w: Tensor) -> Tensor:
        iw = self.integer(w)
        return straight_through(w, (iw.codes.to(w.dtype) * iw.scale).to(w.dtype))


@dataclass(frozen=True)
class MinifloatQuantizer:
    """A small floating-point format with ``exponent_bits`` and ``mantissa_bits`` (plus a sign bit).

    Values: subnormals ``m * 2**(1 - bias - M)`` and normals ``(1 + m / 2**M) * 2**(e - bias)``
    with ``bias = 2**(E-1) - 1``; no infinities or NaNs (every code is a number, as OCP's FP4
    E2M1; for E4M3 the top mantissa of the top exponent is NaN in OCP and is excluded, giving
    max 448). The tensor (or each output channel) is scaled so that max|w| is the largest value.
    """

    exponent_bits: int
    mantissa_bits: int
    per_channel: bool = False

    def __post_init__(self) -> None:
        for name in ("exponent_bits", "mantissa_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 7:
                raise ValueError(f"{name}: expected an int in 1..7, got {v!r}")
        _check_bool("per_channel", self.per_channel)

    @property
    def bits(self) -> int:
        return 1 + self.exponent_bits + self.mantissa_bits

    @property
    def scheme(self) -> str:
        return f"fp{self.bits}-e{self.exponent_bits}m{self.mantissa_bits}"

    def grid(self) -> Tensor:
        """Every non-negative representable value, ascending (float64)."""
        e_bits, m_bits = self.exponent_bits, self.mantissa_bits
        bias = 2 ** (e_bits - 1) - 1
        values = [m * 2.0 ** (1 - bias - m_bits) for m in range(2**m_bits)]  # subnormals (incl. 0)
        for e in range(1, 2**e_bits):
            for m in range(2**m_bits):
                values.append((1 + m / 2**m_bits) * 2.0 ** (e - bias))
        if e_bits == 4 and m_bits == 3:
            values = values[:-1]  # OCP E4M3: S.1111.111 is NaN; max normal 448
        return torch.tensor(sorted(set(values)), dtype=torch.float64)

    @property
    def max_value(self) -> float:
        return float(self.grid()[-1])

    def integer(self, w: Tensor) -> IntegerWeights:
        """codes: signed indices into ``grid()`` (sign * index); scale: per tensor or per channel."""
        _check_weight(w)
        w = w.detach()
        grid = self.grid().to(w.device)
        scale = (_reduce_abs(w, self.per_channel, "max") / self.max_value).clamp_min(_TINY)
        mag = (w.abs() / scale).to(torch.float64)
        idx = torch.bucketize(mag, grid).clamp(max=len(grid) - 1)
        lower = (idx - 1).clamp(min=0)
        # nearest grid value; ties go to the even index (the even mantissa, as IEEE round-to-nearest-even)
        d_hi, d_lo = grid[idx] - mag, mag - grid[lower]
        pick_lo = (d_lo < d_hi) | ((d_lo == d_hi) & (lower % 2 == 0))
        idx = torch.where(pick_lo, lower, idx)
        codes = torch.where(w < 0, -idx, idx)
        return IntegerWeights(codes.to(torch.int32), scale, torch.zeros_like(scale), self.scheme, self.bits)

    def dequantize(self, iw: IntegerWeights) -> Tensor:
        grid = self.grid().to(iw.codes.device)
        mag = grid[iw.codes.abs().long()]
        return torch.where(iw.codes < 0, -mag, mag) * iw.scale.to(torch.float64)

    def __call__(self, w: Tensor) -> Tensor:
        iw = self.integer(w)
        return straight_through(w, self.dequantize(iw).to(w.dtype))


WeightQuantizer = UniformQuantizer | TernaryQuantizer | BinaryQuantizer | MinifloatQuantizer

SCHEMES = ("int", "affine", "ternary", "binary", "fp4", "fp8")


def weight_quantizer(bits: int, scheme: str = "int", per_channel: bool = False) -> WeightQuantizer:
    """The quantizer for a command-line style spec.

    scheme "int" (symmetric narrow range), "affine", "fp4"/"fp8" (E2M1/E4M3; bits must be 4/8);
    bits 2 with "int" means ternary (the narrow-range 2-bit grid is {-1, 0, 1}), bits 1 binary;
    scheme "ternary"/"binary" set the bits themselves.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {SCHEMES}, got {scheme!r}")
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
        raise ValueError(f"bits: expected a positive int, got {bits!r}")
    if scheme == "ternary" or (scheme == "int" and bits == 2):
        return TernaryQuantizer(per_channel=per_channel)
    if scheme == "binary" or bits == 1:
        return BinaryQuantizer(per_channel=per_channel)
    if scheme == "fp4":
        if bits != 4:
            raise ValueError(f"bits: scheme 'fp4' is 4 bits (E2M1), got {bits}")
        return MinifloatQuantizer(2, 1, per_channel=per_channel)
    if scheme == "fp8":
        if bits != 8:
            raise ValueError(f"bits: scheme 'fp8' is 8 bits (E4M3), got {bits}")
        return MinifloatQuantizer(4, 3, per_channel=per_channel)
    return UniformQuantizer(bits, symmetric=scheme == "int", per_channel=per_channel)


def quantization_error(q: WeightQuantizer, w: Tensor) -> float:
    """Relative L2 error ||q(w) - w|| / ||w|| (a quick check of a scheme on real weights)."""
    with torch.no_grad():
        return float(torch.linalg.vector_norm(q(w) - w) / max(float(torch.linalg.vector_norm(w)), math.ulp(1.0)))
