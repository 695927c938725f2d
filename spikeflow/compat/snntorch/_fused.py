"""One fused autograd node for a Leaky step (the per-step loop's hot path).

The reference is ``spikeflow.functional.leaky_step`` (delayed reset, detached, no
inhibition); this computes the same forward with the same operations in the same order (so
the same bits) and writes its backward by hand, so a step costs one autograd node instead of
about ten. Tests compare values and gradients with the reference (float64 gradcheck).

    R = H(v[t-1] - thr)
    v[t] = beta v[t-1] + x[t] - R thr          (subtract)
    v[t] = beta (1 - R) v[t-1] + x[t]          (zero);   v[t] = beta v[t-1] + x[t]  (none)
    out  = g H(v[t] - thr), backward dH/du = surrogate.grad(u, H)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ... import surrogate as sg
from ...functional import LeakyState, SpikeOptions

#: set False to run every compat step through the plain reference step (benchmarks, debugging)
ENABLED = True
#: set False to use the torch version of the fused step instead of the one-pass numba kernel
NUMBA = True


def leaky_step_supported(module: Any, x: Tensor, state: Any) -> bool:
    """The fused step runs Leaky with the core's default delayed, detached reset, no inhibition,
    and a spikeflow surrogate (whose derivative is ``grad``)."""
    opts: SpikeOptions = module.opts
    s = opts.surrogate
    return (
        ENABLED
        and module.model == "leaky"
        and opts.reset_delay
        and opts.detach
        and not opts.inhibition
        and isinstance(s, sg.Surrogate)
        and type(s).__call__ is sg.Surrogate.__call__
        and not torch.compiler.is_compiling()
    )


def _reduce(grad: Tensor, like: Tensor) -> Tensor:
    return grad.sum_to_size(like.shape) if grad.shape != like.shape else grad


class _LeakyStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, v_prev: Tensor, beta: Tensor, threshold: Tensor, graded: Tensor,  # type: ignore[override]
                reset: str, surrogate: sg.Surrogate) -> tuple[Tensor, Tensor]:
        if reset == "none":
            r = None
            v = beta * v_prev + x
        else:
            r = (v_prev > threshold).to(v_prev.dtype)
            if reset == "subtract":
                v = beta * v_prev + x - r * threshold
            else:
                v = beta * (1 - r) * v_prev + x
        shifted = v - threshold
        spikes = (shifted > 0).to(v.dtype)
        ctx.save_for_backward(v_prev, beta, threshold, graded, shifted, spikes, r if r is not None else spikes)
        ctx.reset, ctx.surrogate = reset, surrogate
        return spikes * graded, v

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_v: Tensor):  # type: ignore[override]
        v_prev, beta, threshold, graded, shifted, spikes, r = ctx.saved_tensors
        need = ctx.needs_input_grad
        d_spike = grad_out * graded * ctx.surrogate.grad(shifted, spikes)  # dL/du through the spike
        dv = grad_v + d_spike
        reset = ctx.reset
        keep = 1 - r if reset == "zero" else None
        dv_prev = dbeta = dthr = dgraded = None
        if need[1]:
            dv_prev = dv * (beta * keep) if keep is not None else dv * beta
        if need[2]:
            dbeta = _reduce(dv * keep * v_prev if keep is not None else dv * v_prev, beta)
        if need[3]:
            dthr = _reduce(-d_spike - dv * r if reset == "subtract" else -d_spike, threshold)
        if need[4]:
            dgraded = _reduce(grad_out * spikes, graded)
        return dv if need[0] else None, dv_prev, dbeta, dthr, dgraded, None, None


try:
    from . import _step_numba
except ImportError:  # pragma: no cover - numba missing: the torch version runs
    _step_numba = None  # type: ignore[assignment]


class _LeakyStepNumba(torch.autograd.Function):
    """The same step in one pass per direction (numba); scalar parameters without gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, v_prev: Tensor, beta: float, thr: float, graded: float,  # type: ignore[override]
                reset: int, code: tuple[int, float, float]) -> tuple[Tensor, Tensor]:
        np_dtype = torch.empty(0, dtype=x.dtype).numpy().dtype.type
        v, s = torch.empty_like(x), torch.empty_like(x)
        finite = _step_numba.leaky_forward(x.reshape(-1).numpy(), v_prev.reshape(-1).numpy(), np_dtype(beta),
                                           np_dtype(thr), np_dtype(1), np_dtype(0), reset, v.view(-1).numpy(),
                                           s.view(-1).numpy())
        ok = torch.tensor(bool(finite))
        ctx.mark_non_differentiable(ok)
        ctx.save_for_backward(v, v_prev)
        ctx.cfg = (np_dtype, beta, thr, graded, reset, code)
        return (s * graded if graded != 1.0 else s), v, ok

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_v: Tensor, _grad_ok: Tensor):  # type: ignore[override]
        v, v_prev = ctx.saved_tensors
        np_dtype, beta, thr, graded, reset, (kind, c0, c1) = ctx.cfg
        go, gv = grad_out.contiguous(), grad_v.contiguous()
        dx, dvp = torch.empty_like(v), torch.empty_like(v)
        _step_numba.leaky_backward(go.view(-1).numpy(), gv.view(-1).numpy(), v.view(-1).numpy(),
                                   v_prev.reshape(-1).numpy(), np_dtype(beta), np_dtype(thr), np_dtype(graded),
                                   np_dtype(1), np_dtype(0), reset, kind, np_dtype(c0), np_dtype(c1),
                                   dx.view(-1).numpy(), dvp.view(-1).numpy())
        return dx, dvp, None, None, None, None, None


def _numba_ok(x: Tensor, v: Tensor, params: dict[str, Any], opts: SpikeOptions) -> tuple[int, float, float] | None:
    if _step_numba is None or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return None
    if not (x.is_contiguous() and v.is_contiguous() and v.dtype == x.dtype and v.shape == x.shape):
        return None
    for name in ("beta", "threshold", "graded"):
        p = params[name]
        if p.numel() != 1 or p.requires_grad:
            return None
    return _step_numba.surrogate_code(opts.surrogate)


def leaky_step_checked(x: Tensor, state: LeakyState, params: dict[str, Any],
                       opts: SpikeOptions) -> tuple[Tensor, LeakyState, bool]:
    """The fused step, and whether it verified that every new membrane is finite (numba path)."""
    code = _numba_ok(x, state.v, params, opts) if NUMBA else None
    if code is not None:
        out, v, ok = _LeakyStepNumba.apply(x, state.v, float(params["beta"]), float(params["threshold"]),
                                           float(params["graded"]), _step_numba.RESET_CODE[opts.reset], code)
        return out, LeakyState(v), bool(ok)
    out, v = _LeakyStep.apply(x, state.v, params["beta"], params["threshold"], params["graded"],
                              opts.reset, opts.surrogate)
    return out, LeakyState(v), False


def leaky_step(x: Tensor, state: LeakyState, params: dict[str, Any], opts: SpikeOptions) -> tuple[Tensor, LeakyState]:
    out, st, _ = leaky_step_checked(x, state, params, opts)
    return out, st
