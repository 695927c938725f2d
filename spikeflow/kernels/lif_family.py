"""How the first/second-order LIF models map onto one generic fused run (shared by the
``cpu`` and ``triton`` backends).

Generic run, per neuron, with inp[t] = x[t] (first order) or i[t] = alpha i[t-1] + x[t]
(second order), then the membrane update, firing and reset of ``spikeflow.functional``:
    leaky / IF:   first order, beta
    lapicque:     x -> gain x, second order with alpha = 0 (i[t] = gain x[t]), decay as beta
    synaptic:     second order (alpha, beta), a zero reset clears the input
    li / cuba_li: threshold +inf, no reset: the output is the membrane trace
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from torch import Tensor

from ..functional.options import SpikeOptions
from ..functional.states import LeakyState, SynapticState
from .call import RESET_CODE
from .fused import scale_graded

MODELS = ("leaky", "lapicque", "synaptic", "li", "cuba_li")


class LIFConfig(NamedTuple):
    """Static options of a generic run (a reset code of ``RESET_CODE``)."""

    reset: int
    delayed: bool
    clears_input: bool
    second: bool
    detach: bool
    record: bool
    surrogate: Any


# (x, v0, i0, alpha, beta, thr, cfg) -> (s, v trace, i trace, v final, i final)
GenericRun = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, LIFConfig], tuple[Tensor, ...]]


def run_lif_family(
    generic: GenericRun, model: str, x: Tensor, state: NamedTuple, params: dict[str, Any],
    opts: SpikeOptions | None, record: bool,
) -> tuple[Tensor, NamedTuple]:
    """Run ``model`` (one of MODELS) over x [T, B, ...] through ``generic``; returns what
    ``spikeflow.kernels.run`` returns."""
    zero = x.new_zeros(())
    if model in ("li", "cuba_li"):
        reset, delayed, detach, surrogate = 0, True, True, None
    else:
        assert opts is not None
        reset, delayed, detach, surrogate = RESET_CODE[opts.reset], opts.reset_delay, opts.detach, opts.surrogate
    spiking = model not in ("li", "cuba_li")
    cfg = LIFConfig(
        reset, delayed, model in ("synaptic", "lapicque"), model in ("synaptic", "cuba_li", "lapicque"), detach,
        record or not spiking, surrogate,
    )
    if model == "lapicque":
        x = params["gain"] * x
        v0, i0, alpha, beta = state.v, zero, zero, params["decay"]
    elif model in ("synaptic", "cuba_li"):
        i0, v0 = state
        alpha, beta = params["alpha"], params["beta"]
    else:
        v0, i0, alpha, beta = state.v, zero, zero, params["beta"]
    thr = params["threshold"] if spiking else x.new_full((), float("inf"))
    s, v_tr, i_tr, v_fin, i_fin = generic(x, v0, i0, alpha, beta, thr, cfg)
    if not spiking:
        final = LeakyState(v_fin) if model == "li" else SynapticState(i_fin, v_fin)
        trace = LeakyState(v_tr) if model == "li" else SynapticState(i_tr, v_tr)
        return v_tr, (trace if record else final)
    out = scale_graded(s, params["graded"])
    if model == "synaptic":
        return out, (SynapticState(i_tr, v_tr) if record else SynapticState(i_fin, v_fin))
    return out, (LeakyState(v_tr) if record else LeakyState(v_fin))
