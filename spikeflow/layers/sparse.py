"""Event-driven synapses: a Linear layer that only touches the weights of inputs that fired.

For spike inputs x [T, B, N_in] (or any [..., N_in]) with few non-zeros,

    y[r, :] = b + sum_{i : x[r, i] != 0} x[r, i] W[:, i]          (forward, per row r)
    dL/dW[:, i] = sum_{r : x[r, i] != 0} x[r, i] dL/dy[r, :]       (only active inputs)
    dL/dx = dL/dy @ W                                             (dense)

The work of the forward and of the weight gradient scales with the number of events.
``EventLinear`` measures the input density on every call and takes the event path when it
is below ``density_threshold`` (and the tensors are on the CPU), else the dense ``F.linear``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

try:
    from ..kernels import _event_numba as _nb
    from ..kernels._cpu_util import KERNEL_LOCK, kernel_threads
except ImportError:  # pragma: no cover - numba missing: dense path only
    _nb = None

# Below this input density the event path beats the dense GEMM on the CPUs we measured
# (benchmarks/peers.py, sparse MLP case); above it the dense BLAS product wins.
DEFAULT_DENSITY_THRESHOLD = 0.1


class _EventLinearFn(torch.autograd.Function):
    """x [R, N_in], weight [N_out, N_in], bias [N_out] or None -> y [R, N_out]."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None):  # type: ignore[override]
        xd = x.detach().contiguous()
        wt = weight.detach().t().contiguous()
        out = x.new_empty((x.shape[0], weight.shape[0]))
        b = bias.detach().contiguous().numpy() if bias is not None else np.zeros(1, dtype=wt.numpy().dtype)
        with KERNEL_LOCK:
            threads = kernel_threads()
            indptr, indices, values = _nb.kernel("to_csr", threads)(xd.numpy())
            _nb.kernel("spmm", threads)(indptr, indices, values, wt.numpy(), b, bias is not None, out.numpy())
        ctx.save_for_backward(weight, torch.from_numpy(indptr), torch.from_numpy(indices), torch.from_numpy(values))
        ctx.has_bias = bias is not None
        ctx.n_in = x.shape[1]
        return out

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        weight, indptr, indices, values = ctx.saved_tensors
        g = g.contiguous()
        gx = g @ weight if ctx.needs_input_grad[0] else None
        gw = None
        if ctx.needs_input_grad[1]:
            dwt = torch.zeros((ctx.n_in, g.shape[1]), dtype=g.dtype)
            with KERNEL_LOCK:
                threads = kernel_threads()
                cols = _nb.span(g.shape[1], threads)
                _nb.kernel("spmm_t", threads)(
                    indptr.numpy(), indices.numpy(), values.numpy(), g.numpy(), dwt.numpy(), cols
                )
            gw = dwt.t()
        gb = g.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb


def event_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Event-driven ``F.linear`` for CPU float32/float64 inputs x [..., N_in] -> [..., N_out]."""
    if _nb is None:
        raise RuntimeError("event_linear needs numba (pip install numba)")
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x: event_linear expects a CPU float32/float64 tensor, got {x.dtype} on {x.device}")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x: expected last dim {weight.shape[1]} (in_features), got shape {tuple(x.shape)}")
    lead = x.shape[:-1]
    y = _EventLinearFn.apply(x.reshape(-1, x.shape[-1]), weight.to(x.dtype), None if bias is None else bias.to(x.dtype))
    return y.reshape(*lead, weight.shape[0])


def density(x: Tensor) -> float:
    """Fraction of non-zero entries of x."""
    return float(torch.count_nonzero(x)) / max(1, x.numel())


class EventLinear(nn.Linear):
    """``nn.Linear`` for spike inputs [..., N_in] that switches to event-driven accumulation.

    Same parameters and results as ``nn.Linear`` (up to float summation order). On every call
    the input density is measured; below ``density_threshold`` (CPU, float32/64, numba present)
    the event path runs, otherwise the dense product. ``mode``: "auto", "event" or "dense".
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        density_threshold: float = DEFAULT_DENSITY_THRESHOLD,
        mode: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        if not isinstance(density_threshold, (int, float)) or not 0 <= density_threshold <= 1:
            raise ValueError(f"density_threshold: expected a number in [0, 1], got {density_threshold!r}")
        if mode not in ("auto", "event", "dense"):
            raise ValueError(f"mode: expected 'auto', 'event' or 'dense', got {mode!r}")
        self.density_threshold = float(density_threshold)
        self.mode = mode
        self.last_path = "dense"

    def _event_ok(self, x: Tensor) -> bool:
        return _nb is not None and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x: expected a Tensor [..., {self.in_features}], got {type(x).__name__}")
        use_event = self.mode == "event" or (
            self.mode == "auto" and self._event_ok(x) and density(x) < self.density_threshold
        )
        self.last_path = "event" if use_event else "dense"
        if use_event:
            return event_linear(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, density_threshold={self.density_threshold}, mode={self.mode!r}"
