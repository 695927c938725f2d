"""Event-driven synapses: a Conv2d that only touches the weights of input pixels that fired.

For spike maps x [N, C, H, W] (N = T * B when time is folded into the batch) with few
non-zeros, and groups = 1,

    y[n, :, oy, ox] = b + sum over events (n, c, iy, ix) reaching (oy, ox) through tap (ky, kx)
                          of x[n, c, iy, ix] W[:, c, ky, kx]
    dL/dW[:, c, ky, kx] = sum over the same events of x[n, c, iy, ix] dL/dy[n, :, oy, ox]
    dL/dx = conv2d_input(dL/dy, W)   (dense: the surrogate gradient upstream needs all of it)
    dL/db = dL/dy summed over n, oy, ox

with the usual geometry: event (iy, ix) reaches (oy, ox) through (ky, kx) when
oy * stride_h = iy + pad_top - ky * dil_h and ox * stride_w = ix + pad_left - kx * dil_w.
The forward and the weight gradient cost O(nnz * KH * KW * C_out) plus one pass over x and y.
``EventConv2d`` measures the input density on every call and takes the event path below
``density_threshold`` (CPU, float32/float64, numba present), else the dense ``F.conv2d``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from .sparse import density

try:
    from ..kernels import _event_conv_numba as _nbc
    from ..kernels._cpu_util import KERNEL_LOCK, big_buffer, kernel_threads
    from ..kernels._event_numba import kernel as event_kernel
except ImportError:  # pragma: no cover - numba missing: dense path only
    _nbc = None

# Below this input density the event path beat the dense (oneDNN) convolution in forward + backward
# for every layer shape in benchmarks/event_conv.py (1 thread, CPU time; crossovers: 32->64 ch 16x16
# 3x3 N=256: ~13 % forward, ~18 % forward + backward; 64->128 ch 8x8: ~21 %, > 20 %; 16->32 ch
# 32x32 stride 2: ~5 %, ~10 %). Strided layers with few output channels gain less: lower it there.
DEFAULT_DENSITY_THRESHOLD = 0.1

IntPair = int | tuple[int, int]


class _Geometry(NamedTuple):
    """Resolved convolution geometry for one input size (pads are top/left and bottom/right)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad_lo: tuple[int, int]
    pad_hi: tuple[int, int]
    out: tuple[int, int]

    def tap_tables(self, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Per input row / column: the kernel taps that reach an output and where (``tap_table``)."""
        dims = zip(size, self.kernel, self.pad_lo, self.dilation, self.stride, self.out, strict=True)
        return tuple(_nbc.tap_table(n, k, p, d, s, o) for n, k, p, d, s, o in dims)  # type: ignore[return-value]


def _pair(name: str, value: IntPair, minimum: int) -> tuple[int, int]:
    v = (value, value) if isinstance(value, int) else tuple(value)
    if len(v) != 2 or not all(isinstance(a, int) and a >= minimum for a in v):
        raise ValueError(f"{name}: expected an int or a pair of ints >= {minimum}, got {value!r}")
    return v  # type: ignore[return-value]


def _geometry(size: tuple[int, int], kernel: tuple[int, int], stride: IntPair, padding: str | IntPair,
              dilation: IntPair) -> _Geometry:
    s, d = _pair("stride", stride, 1), _pair("dilation", dilation, 1)
    if isinstance(padding, str):
        if padding == "valid":
            lo = hi = (0, 0)
        elif padding == "same":
            if s != (1, 1):
                raise ValueError(f"padding: 'same' needs stride 1, got stride {s}")
            total = tuple(di * (k - 1) for di, k in zip(d, kernel, strict=True))
            lo = tuple(t // 2 for t in total)
            hi = tuple(t - t // 2 for t in total)
        else:
            raise ValueError(f"padding: expected an int, a pair of ints, 'same' or 'valid', got {padding!r}")
    else:
        lo = hi = _pair("padding", padding, 0)
    out = tuple(
        (n + a + b - di * (k - 1) - 1) // si + 1
        for n, a, b, di, k, si in zip(size, lo, hi, d, kernel, s, strict=True)
    )
    if min(out) < 1:
        raise ValueError(
            f"x: spatial size {tuple(size)} is too small for kernel {kernel} with dilation {d} and padding "
            f"{lo}/{hi} (output size would be {out})"
        )
    return _Geometry(kernel, s, d, lo, hi, out)  # type: ignore[arg-type]


def _input_grad(shape: torch.Size, weight: Tensor, g: Tensor, geo: _Geometry) -> Tensor:
    """dL/dx of the convolution (dense), including asymmetric 'same' padding."""
    extra = tuple(b - a for a, b in zip(geo.pad_lo, geo.pad_hi, strict=True))
    if extra == (0, 0) and geo.stride != (1, 1):
        # oneDNN's strided backward-data is 2-4x faster on channels-last tensors (measured, CPU)
        dims = zip(shape[2:], geo.out, geo.stride, geo.pad_lo, geo.dilation, geo.kernel, strict=True)
        out_pad = tuple(n - ((o - 1) * s - 2 * p + d * (k - 1) + 1) for n, o, s, p, d, k in dims)
        cl = torch.channels_last
        gx = F.conv_transpose2d(g.contiguous(memory_format=cl), weight.contiguous(memory_format=cl), None,
                                geo.stride, geo.pad_lo, out_pad, 1, geo.dilation)
        return gx.contiguous()
    if extra == (0, 0):
        return torch.nn.grad.conv2d_input(shape, weight, g, geo.stride, geo.pad_lo, geo.dilation)
    # pad the extra bottom/right rows as if they were input, then drop their gradient
    padded = (shape[0], shape[1], shape[2] + extra[0], shape[3] + extra[1])
    gx = torch.nn.grad.conv2d_input(padded, weight, g, geo.stride, geo.pad_lo, geo.dilation)
    return gx[:, :, : shape[2], : shape[3]]


class _EventConv2dFn(torch.autograd.Function):
    """x [N, C, H, W], weight [O, C, KH, KW], bias [O] or None -> y [N, O, OH, OW]."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, geo: _Geometry):  # type: ignore[override]
        n, c, h, w = x.shape
        o = weight.shape[0]
        xd = x.detach().contiguous()
        wt = weight.detach().permute(1, 2, 3, 0).reshape(-1, o).contiguous()  # [C * KH * KW, O]
        npdt = np.float32 if x.dtype == torch.float32 else np.float64
        b = bias.detach().contiguous().numpy() if bias is not None else np.zeros(1, dtype=npdt)
        out = big_buffer((n, o, geo.out[0] * geo.out[1]), x.dtype)  # huge pages: few first-touch faults
        ytab, xtab = geo.tap_tables((h, w))
        with KERNEL_LOCK:
            threads = kernel_threads()
            indptr, indices, values = event_kernel("to_csr", threads)(xd.reshape(n * c, h * w).numpy())
            _nbc.forward(indptr, indices, values, wt.numpy(), b, bias is not None, out.numpy(), c, w, ytab, xtab,
                         geo.kernel[1], geo.out[1], threads)
        ctx.save_for_backward(weight, torch.from_numpy(indptr), torch.from_numpy(indices), torch.from_numpy(values))
        ctx.geo, ctx.x_shape, ctx.has_bias, ctx.tables = geo, x.shape, bias is not None, (ytab, xtab)
        return out.reshape(n, o, *geo.out)

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor):  # type: ignore[override]
        weight, indptr, indices, values = ctx.saved_tensors
        geo: _Geometry = ctx.geo
        n, c, h, w = ctx.x_shape
        o, kh, kw = weight.shape[0], weight.shape[2], weight.shape[3]
        gx = _input_grad(ctx.x_shape, weight, g, geo) if ctx.needs_input_grad[0] else None
        gw = None
        if ctx.needs_input_grad[1]:
            gf = g.contiguous().reshape(n, o, -1)  # [N, O, OH * OW]
            dwt = torch.zeros((c, kh * kw, o), dtype=g.dtype)
            with KERNEL_LOCK:
                _nbc.weight_grad(indptr.numpy(), indices.numpy(), values.numpy(), gf.numpy(), dwt.numpy(), w,
                                 *ctx.tables, kw, geo.out[1], kernel_threads())
            gw = dwt.reshape(c, kh, kw, o).permute(3, 0, 1, 2).contiguous()
        gb = g.sum((0, 2, 3)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb, None


def event_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
                 padding: str | IntPair = 0, dilation: IntPair = 1) -> Tensor:
    """Event-driven ``F.conv2d`` (groups = 1, zero padding) for CPU float32/float64 spike maps.

    x [N, C, H, W] or [C, H, W]; weight [O, C, KH, KW]; bias [O] -> y [N, O, OH, OW] (or [O, OH, OW]).
    """
    if _nbc is None:
        raise RuntimeError("event_conv2d needs numba (pip install numba)")
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a Tensor [N, C, H, W] or [C, H, W], got {type(x).__name__}")
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x: event_conv2d expects a CPU float32/float64 tensor, got {x.dtype} on {x.device}")
    if weight.dim() != 4 or weight.dtype != x.dtype or weight.device != x.device:
        raise TypeError(
            f"weight: expected a 4-d {x.dtype} tensor [O, C, KH, KW] on {x.device}, got "
            f"{weight.dtype} of shape {tuple(weight.shape)} on {weight.device}"
        )
    if bias is not None and (bias.shape != (weight.shape[0],) or bias.dtype != x.dtype):
        raise TypeError(f"bias: expected a {x.dtype} tensor of shape ({weight.shape[0]},), got "
                        f"{bias.dtype} of shape {tuple(bias.shape)}")
    if x.dim() not in (3, 4) or x.shape[-3] != weight.shape[1]:
        raise ValueError(
            f"x: expected [N, {weight.shape[1]}, H, W] or [{weight.shape[1]}, H, W] (in_channels = "
            f"{weight.shape[1]}), got shape {tuple(x.shape)}"
        )
    unbatched = x.dim() == 3
    xb = x.unsqueeze(0) if unbatched else x
    geo = _geometry((xb.shape[2], xb.shape[3]), (weight.shape[2], weight.shape[3]), stride, padding, dilation)
    if xb.shape[0] == 0:
        return F.conv2d(x, weight, bias, stride, padding, dilation)
    y = _EventConv2dFn.apply(xb, weight, bias, geo)
    return y.squeeze(0) if unbatched else y


class EventConv2d(nn.Conv2d):
    """``nn.Conv2d`` (groups = 1, padding_mode "zeros") for spike maps that switches to event-driven
    accumulation when the input is sparse.

    Same parameters, state_dict and results as ``nn.Conv2d`` (up to float summation order).
    x: [N, C, H, W] or [C, H, W]; inside ``sf.Sequential`` N is the time-folded T * B. On every call
    the input density is measured; below ``density_threshold`` (CPU, float32/64, numba present) the
    event path runs, otherwise ``F.conv2d``. ``mode``: "auto", "event" or "dense". ``last_path``
    tells which path the last call took; ``event_calls`` / ``dense_calls`` count them.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: str | IntPair = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        density_threshold: float = DEFAULT_DENSITY_THRESHOLD,
        mode: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if groups != 1:
            raise ValueError(f"groups: EventConv2d supports groups=1 only, got {groups!r}")
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode: EventConv2d supports 'zeros' only, got {padding_mode!r}")
        if not isinstance(density_threshold, (int, float)) or not 0 <= density_threshold <= 1:
            raise ValueError(f"density_threshold: expected a number in [0, 1], got {density_threshold!r}")
        if mode not in ("auto", "event", "dense"):
            raise ValueError(f"mode: expected 'auto', 'event' or 'dense', got {mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)
        self.density_threshold = float(density_threshold)
        self.mode = mode
        self.last_path = "dense"
        self.event_calls = 0
        self.dense_calls = 0

    def _event_ok(self, x: Tensor) -> bool:
        return (
            _nbc is not None and x.device.type == "cpu" and self.weight.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64) and self.weight.dtype == x.dtype
        )

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x: expected a Tensor [N, {self.in_channels}, H, W], got {type(x).__name__}")
        if x.dim() not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ValueError(
                f"x: expected [N, {self.in_channels}, H, W] or [{self.in_channels}, H, W] (in_channels), "
                f"got shape {tuple(x.shape)}"
            )
        use_event = self.mode == "event" or (
            self.mode == "auto" and self._event_ok(x) and density(x) < self.density_threshold
        )
        self.last_path = "event" if use_event else "dense"
        if use_event:
            self.event_calls += 1
            return event_conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
        self.dense_calls += 1
        return self._conv_forward(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, density_threshold={self.density_threshold}, mode={self.mode!r}"
