"""Recurrent LIF dynamics (explicit feedback of the layer's own spikes) for one time step."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .options import SpikeOptions
from .spec import ModelSpec, register
from .spiking import delayed_reset_signal, reset_fire


class RLeakyState(NamedTuple):
    """Recurrent Leaky: last output spike s (fed back), membrane v."""

    s: Tensor
    v: Tensor


class RSynapticState(NamedTuple):
    """Recurrent Synaptic: last output spike s, current i, membrane v."""

    s: Tensor
    i: Tensor
    v: Tensor


def recurrent_input(s: Tensor, weight: Tensor | None, bias: Tensor | None, v_scale: Tensor | None) -> Tensor:
    """Feedback current: s @ weight.T + bias (all-to-all) or v_scale * s (one-to-one)."""
    if weight is not None:
        return torch.nn.functional.linear(s, weight, bias)
    assert v_scale is not None, "recurrent_input needs weight or v_scale"
    return s * v_scale


def rleaky_step(
    x: Tensor,
    state: RLeakyState,
    beta: Tensor,
    threshold: Tensor,
    graded: Tensor | float,
    opts: SpikeOptions,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    v_scale: Tensor | None = None,
) -> tuple[Tensor, RLeakyState]:
    """One step of a recurrent Leaky neuron (snnTorch ``snn.RLeaky``).

        u[t] = beta v[t-1] + x[t] + rec(s[t-1])
        v[t] = u[t] - R[t] thr  (subtract)  or  u[t] (1 - R[t])  (zero),  R[t] = H(v[t-1] - thr)
        s[t] = graded H(v[t] - thr); same-step reset as in first_order_step.
    rec is ``recurrent_input``; state.s is the previous output (with its gradient).
    """
    r = delayed_reset_signal(state.v, threshold, opts)
    v = beta * state.v + x + recurrent_input(state.s, weight, bias, v_scale)
    spikes, v = reset_fire(v, r, threshold, opts)
    out = spikes * graded
    return out, RLeakyState(out, v)


def rsynaptic_step(
    x: Tensor,
    state: RSynapticState,
    alpha: Tensor,
    beta: Tensor,
    threshold: Tensor,
    graded: Tensor | float,
    opts: SpikeOptions,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    v_scale: Tensor | None = None,
) -> tuple[Tensor, RSynapticState]:
    """One step of a recurrent current-based neuron (snnTorch ``snn.RSynaptic``).

        i[t] = alpha i[t-1] + x[t] + rec(s[t-1])
        v[t] = beta v[t-1] + i[t], then the reset rules of synaptic_step.
    """
    r = delayed_reset_signal(state.v, threshold, opts)
    i = alpha * state.i + x + recurrent_input(state.s, weight, bias, v_scale)
    v = beta * state.v + i
    spikes, v = reset_fire(v, r, threshold, opts)
    out = spikes * graded
    return out, RSynapticState(out, i, v)


_REC = ("threshold", "graded", "weight", "bias", "v_scale")
RLEAKY = register(ModelSpec(
    "rleaky", RLeakyState, ("beta", *_REC),
    lambda x, s, opts, beta, threshold, graded, weight, bias, v_scale: rleaky_step(
        x, s, beta, threshold, graded, opts, weight, bias, v_scale),
))
RSYNAPTIC = register(ModelSpec(
    "rsynaptic", RSynapticState, ("alpha", "beta", *_REC),
    lambda x, s, opts, alpha, beta, threshold, graded, weight, bias, v_scale: rsynaptic_step(
        x, s, alpha, beta, threshold, graded, opts, weight, bias, v_scale),
))
