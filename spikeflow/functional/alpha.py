"""Alpha-kernel neuron dynamics for one time step."""

from __future__ import annotations

import torch
from torch import Tensor

from .options import SpikeOptions
from .spiking import quantize_membrane, delayed_reset_signal, fire
from .states import AlphaState


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
    tau_a = torch.log(alpha) / (torch.log(beta) - torch.log(alpha)) + 1
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
    v = quantize_membrane(v, opts)
    spikes = fire(v, threshold, opts)
    return spikes * graded, AlphaState(i_exc, i_inh, v)
