"""The demo network: a two-layer spiking MLP of Leaky neurons."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..layers import Sequential
from ..neurons import Leaky


def spiking_mlp(
    in_features: int = 64,
    hidden: int = 128,
    num_classes: int = 10,
    population: int = 1,
    *,
    beta: float = 0.9,
    threshold: float = 1.0,
    surrogate: Any = None,
    reset: str = "subtract",
    learn_beta: bool = False,
    **leaky_kwargs: Any,
) -> Sequential:
    """Linear(in, hidden) -> Leaky -> Linear(hidden, num_classes * population) -> Leaky.

    Input spikes [T, B, in_features] -> output spikes [T, B, num_classes * population];
    output neuron j votes for class j // population (a population code when population > 1).
    ``net(x, record=True)`` returns every layer's output (index 1: hidden spikes).
    """
    for name, value in (("in_features", in_features), ("hidden", hidden), ("num_classes", num_classes),
                        ("population", population)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")

    def neuron() -> Leaky:
        return Leaky(beta=beta, threshold=threshold, surrogate=surrogate, reset=reset, learn_beta=learn_beta,
                     **leaky_kwargs)

    return Sequential(
        nn.Linear(in_features, hidden),
        neuron(),
        nn.Linear(hidden, num_classes * population),
        neuron(),
    )
