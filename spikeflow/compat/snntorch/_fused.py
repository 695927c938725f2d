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


def leaky_step(x: Tensor, state: LeakyState, params: dict[str, Any], opts: SpikeOptions) -> tuple[Tensor, LeakyState]:
    out, v = _LeakyStep.apply(x, state.v, params["beta"], params["threshold"], params["graded"],
                              opts.reset, opts.surrogate)
    return out, LeakyState(v)
