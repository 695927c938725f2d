"""Per-synapse delay kernels: the reference (a grouped causal convolution under autograd) and the
event-driven numba kernel for the linear kernel on CPU, behind one call.

    run(full, weight, delay, bias, max_delay, kernel, sigma, backend) -> y [T, B, N_out]

``backend``: "auto" (numba where it applies, else reference), "reference" or "cpu". An explicit
"cpu" that cannot serve the call raises with every reason; nothing falls back silently.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..functional.delay import delay_weights, synapse_delay
from . import _delay_numba as _nb
from ._cpu_util import kernel_threads

BACKENDS = ("auto", "reference", "cpu")


def not_supported_reasons(full: Tensor, kernel: str) -> list[str]:
    """Why the numba kernel cannot run this call (empty when it can)."""
    reasons = []
    if _nb.numba is None:
        reasons.append("numba is not installed")
    if kernel != "linear":
        reasons.append(f"kernel {kernel!r} (only 'linear' is fused)")
    if full.device.type != "cpu":
        reasons.append(f"device {full.device} (CPU only)")
    if full.dtype not in (torch.float32, torch.float64):
        reasons.append(f"dtype {full.dtype} (float32/float64 only)")
    if torch.compiler.is_compiling():
        reasons.append("torch.compile tracing")
    return reasons


class _SynapseDelayFunction(torch.autograd.Function):
    """y = synapse_delay(full, weight, linear kernel of delay) + bias, event-driven on CPU."""

    @staticmethod
    def forward(ctx: Any, full: Tensor, weight: Tensor, delay: Tensor, max_delay: int) -> Tensor:  # type: ignore[override]
        d = delay.detach().clamp(0, max_delay)
        k0 = d.floor().clamp(max=max_delay - 1)
        fr = (d - k0).T.contiguous()
        k0i = k0.to(torch.int64).T.contiguous()
        wt = weight.detach().T.contiguous()
        t_len = full.shape[0] - max_delay
        y = full.new_zeros(t_len, full.shape[1], weight.shape[0])
        parallel = kernel_threads() > 1
        _nb.kernel("forward", parallel)(_nb.as_np(full), wt.numpy(), k0i.numpy(), fr.numpy(), max_delay, y.numpy())
        ctx.save_for_backward(full, wt, k0i, fr, delay)
        ctx.max_delay = max_delay
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        full, wt, k0i, fr, delay = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0]
        gfull = torch.zeros_like(full)
        gw = torch.zeros_like(wt)
        gf = torch.zeros_like(wt)
        parallel = kernel_threads() > 1
        _nb.kernel("backward", parallel)(
            _nb.as_np(full), wt.numpy(), k0i.numpy(), fr.numpy(), ctx.max_delay, _nb.as_np(gy), need_x,
            gfull.numpy(), gw.numpy(), gf.numpy(),
        )
        # the clamp of the delay to [0, D] passes the gradient unchanged (as delay_weights does)
        return (gfull if need_x else None, gw.T if ctx.needs_input_grad[1] else None,
                gf.T if ctx.needs_input_grad[2] else None, None)


def run(full: Tensor, weight: Tensor, delay: Tensor, bias: Tensor | None, max_delay: int, kernel: str,
        sigma: float, backend: str = "auto") -> Tensor:
    """y [T, B, N_out] from full [D + T, B, N_in] (history then input); see functional.delay."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    reasons = not_supported_reasons(full, kernel) if backend != "reference" else ["reference asked"]
    if backend == "cpu" and reasons:
        raise ValueError("backend 'cpu' cannot run this delay: " + "; ".join(reasons))
    if reasons:
        w = delay_weights(delay.to(full.dtype), max_delay, kernel, sigma)
        return synapse_delay(full, weight.to(full.dtype), w, None if bias is None else bias.to(full.dtype))
    dtype = full.dtype
    y = _SynapseDelayFunction.apply(full, weight.to(dtype), delay.to(dtype), max_delay)
    return y if bias is None else y + bias.to(dtype)


__all__ = ["BACKENDS", "not_supported_reasons", "run"]
