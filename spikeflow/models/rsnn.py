"""A recurrent SNN for the Spiking Heidelberg Digits (SHD): adaptive (ALIF) recurrent layers."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from ..layers import RecurrentNeuron, Sequential
from ..neurons import LI, AdaptiveLeaky, RLeaky

NeuronFactory = Callable[[int], nn.Module]


def shd_rsnn(in_features: int = 700, hidden: int = 256, num_classes: int = 20, layers: int = 1, *,
             neuron: str | NeuronFactory = "alif", beta: float = 0.95, rho: float = 0.995,
             adaptation: float = 0.1, threshold: float = 1.0, readout_beta: float = 0.95,
             **neuron_kwargs: Any) -> Sequential:
    """Linear(in, hidden) -> recurrent spiking layer, ``layers`` times -> Linear(hidden, classes) -> LI.

    Input spikes [T, B, 700] (SHD's 700 channels binned in time) -> readout membrane [T, B, 20]
    (decode with the max or the mean over time, e.g. ``losses.CEMaxMembraneLoss``).
    neuron: "alif" (default: AdaptiveLeaky, v decay ``beta``, threshold decay ``rho``, jump
    ``adaptation`` per spike, with a trained all-to-all feedback ``RecurrentNeuron``), "lif"
    (the fused RLeaky), or a factory ``f(features) -> neuron module`` with a ``step`` method,
    which gets the same all-to-all feedback (the hook for resonate-and-fire or other models).
    Defaults follow common SHD setups with 4-10 ms bins: tau_mem ~ 20 steps (beta 0.95),
    tau_adapt ~ 200 steps (rho 0.995).
    """
    for name, value in (("in_features", in_features), ("hidden", hidden), ("num_classes", num_classes),
                        ("layers", layers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")

    def recurrent_layer() -> nn.Module:
        if neuron == "alif":
            core = AdaptiveLeaky(beta=beta, rho=rho, adaptation=adaptation, threshold=threshold, **neuron_kwargs)
            return RecurrentNeuron(core, hidden)
        if neuron == "lif":
            return RLeaky(beta=beta, threshold=threshold, linear_features=hidden, **neuron_kwargs)
        if callable(neuron) and not isinstance(neuron, str):
            if neuron_kwargs:
                raise ValueError(f"neuron_kwargs {sorted(neuron_kwargs)} only apply to 'alif' and 'lif'; "
                                 "configure a neuron factory yourself")
            return RecurrentNeuron(neuron(hidden), hidden)
        raise ValueError(f"neuron: expected 'alif', 'lif' or a callable features -> neuron module, got {neuron!r}")

    mods: list[nn.Module] = []
    width = in_features
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), recurrent_layer()]
        width = hidden
    mods += [nn.Linear(width, num_classes), LI(beta=readout_beta)]
    return Sequential(*mods)
