"""Reference backend: the functional step of each model looped in Python under autograd.

This is the oracle every fused backend is tested against.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from torch import Tensor

from .. import functional as F
from ..functional.options import SpikeOptions
from ..functional.resonate import ResonateParams, resonate_step

# model name -> function(x_t, state, opts, **params) -> (out_t, state)
STEPS: dict[str, Callable[..., tuple[Tensor, Any]]] = {
    "leaky": lambda x, s, opts, beta, threshold, graded: F.leaky_step(x, s, beta, threshold, graded, opts),
    "lapicque": lambda x, s, opts, decay, gain, threshold, graded: F.lapicque_step(
        x, s, decay, gain, threshold, graded, opts
    ),
    "synaptic": lambda x, s, opts, alpha, beta, threshold, graded: F.synaptic_step(
        x, s, alpha, beta, threshold, graded, opts
    ),
    "alpha": lambda x, s, opts, alpha, beta, threshold, graded: F.alpha_step(
        x, s, alpha, beta, threshold, graded, opts
    ),
    "adaptive": lambda x, s, opts, beta, rho, adaptation, threshold, graded: F.adaptive_step(
        x, s, beta, rho, adaptation, threshold, graded, opts
    ),
    "li": lambda x, s, opts, beta: F.li_step(x, s, beta),
    "cuba_li": lambda x, s, opts, alpha, beta: F.cuba_li_step(x, s, alpha, beta),
    "rleaky": lambda x, s, opts, beta, threshold, graded, weight, bias, v_scale: F.rleaky_step(
        x, s, beta, threshold, graded, opts, weight, bias, v_scale
    ),
    "rsynaptic": lambda x, s, opts, alpha, beta, threshold, graded, weight, bias, v_scale: F.rsynaptic_step(
        x, s, alpha, beta, threshold, graded, opts, weight, bias, v_scale
    ),
    "resonate": lambda x, s, opts, omega, b_offset, threshold: resonate_step(
        x, s, ResonateParams(omega, b_offset, threshold), opts
    ),
}


def supports(model: str, x: Tensor, opts: SpikeOptions | None) -> bool:
    """The reference backend runs every model, option, dtype and device."""
    return model in STEPS


def run(
    model: str, x: Tensor, state: NamedTuple, params: dict[str, Any], opts: SpikeOptions | None, record: bool
) -> tuple[Tensor, NamedTuple]:
    """Run ``model`` over x [T, B, ...] from ``state``; see ``spikeflow.kernels.run``."""
    step = STEPS[model]
    return F.run_steps(lambda xt, st: step(xt, st, opts, **params), x, state, record)
