"""Alpha-kernel neuron (snnTorch ``snn.Alpha``): state, reference step and rows."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from .options import SpikeOptions
from .spec import ModelSpec, register
from .spiking import delayed_reset_signal, fire


class AlphaState(NamedTuple):
    """Alpha neuron: excitatory and inhibitory currents, membrane."""

    i_exc: Tensor
    i_inh: Tensor
    v: Tensor


def alpha_tau(alpha: Tensor, beta: Tensor) -> Tensor:
    """tau_a = log(alpha) / (log(beta) - log(alpha)) + 1."""
    return torch.log(alpha) / (torch.log(beta) - torch.log(alpha)) + 1


def alpha_step(
    x: Tensor,
    state: AlphaState,
    alpha: Tensor,
    beta: Tensor,
    threshold: Tensor,
    graded: Tensor | float,
    opts: SpikeOptions,
) -> tuple[Tensor, AlphaState]:
    """One step of the alpha neuron (snnTorch ``snn.Alpha``); needs alpha > beta, beta < 1.

        i_exc[t] = alpha i_exc[t-1] + x[t]
        i_inh[t] = beta i_inh[t-1] - x[t]
        v[t]     = tau_a (i_exc[t] + i_inh[t]),  tau_a = log(alpha) / (log(beta) - log(alpha)) + 1
    Delayed reset R[t] = H(v[t-1] - thr):
        subtract: i_exc -= R thr;  i_inh *= 1 - R;  v += R i_inh[t-1]
        zero:     i_exc, i_inh, v all *= 1 - R
    S[t] = H(v[t] - thr). Only the delayed reset is defined for this model.
    """
    r = delayed_reset_signal(state.v, threshold, opts)
    tau_a = alpha_tau(alpha, beta)
    i_exc = alpha * state.i_exc + x
    i_inh = beta * state.i_inh - x
    v = tau_a * (i_exc + i_inh)
    if r is not None:
        keep = 1 - r
        if opts.reset == "subtract":
            i_exc = i_exc - r * threshold
            i_inh = i_inh * keep
            v = v + r * state.i_inh
        else:
            i_exc, i_inh, v = i_exc * keep, i_inh * keep, v * keep
    spikes = fire(v, threshold, opts)
    return spikes * graded, AlphaState(i_exc, i_inh, v)


def alpha_row(x: Any, i_exc: Any, i_inh: Any, v: Any, r: Any, alpha: Any, beta: Any, tau: Any, threshold: Any,
              ds: Any, dz: Any, one: Any) -> Any:
    """Flag-weighted alpha_step: e' = (E - ds r thr)(1 - dz r), h' = I (1 - (ds + dz) r),
    v' = (tau (E + I) + ds r h)(1 - dz r)."""
    ee = alpha * i_exc + x
    ii = beta * i_inh - x
    rs = r * ds
    kz = one - r * dz
    vv = (tau * (ee + ii) + rs * i_inh) * kz
    return vv, threshold, (ee - rs * threshold) * kz, ii * (one - r * (ds + dz))


def alpha_row_vjp(du: Any, db: Any, de: Any, dh: Any, x: Any, i_exc: Any, i_inh: Any, v: Any, r: Any, alpha: Any,
                  beta: Any, tau: Any, threshold: Any, ds: Any, dz: Any, one: Any) -> Any:
    ee = alpha * i_exc + x
    ii = beta * i_inh - x
    rs = r * ds
    kz = one - r * dz
    ko = one - r * (ds + dz)
    a = tau * (ee + ii) + rs * i_inh
    da = du * kz
    dee = da * tau + de * kz
    dii = da * tau + dh * ko
    dr = (da * i_inh - de * kz * threshold) * ds - (du * a + de * (ee - rs * threshold)) * dz - dh * ii * (ds + dz)
    return (dee - dii, dee * alpha, dii * beta + da * rs, du - du, dr,
            dee * i_exc, dii * i_inh, da * (ee + ii), db - de * kz * rs)


def _prepare(x: Tensor, p: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
    alpha, beta = (torch.as_tensor(p[k], dtype=x.dtype, device=x.device) for k in ("alpha", "beta"))
    return x, {"alpha": alpha, "beta": beta, "tau": alpha_tau(alpha, beta), "threshold": p["threshold"]}


ALPHA = register(ModelSpec(
    "alpha", AlphaState, ("alpha", "beta", "threshold", "graded"),
    lambda x, s, opts, alpha, beta, threshold, graded: alpha_step(x, s, alpha, beta, threshold, graded, opts),
    alpha_row, alpha_row_vjp, ("alpha", "beta", "tau", "threshold"), prepare=_prepare, same_step_reset=False,
))
