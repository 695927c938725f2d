"""Firing rates and activation sparsity of recorded spikes [T, B, ...].

    rate per layer    r = nnz(s) / numel(s)                  (fraction of (t, b, n) that spiked)
    rate per neuron   r[n] = mean over t, b of (s[t, b, n] != 0)   -> [...] (the neuron shape)
    rate per step     r[t] = mean over b, n of (s[t, b, n] != 0)   -> [T]
    sparsity          1 - r                                   (NeuroBench's ActivationSparsity)

A "spike" is any nonzero entry, so graded spikes count once per event. Rates are fractions
per time step (multiply by 1/dt for Hz).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .monitor import Monitor


def _check(spikes: Any, name: str = "spikes") -> Tensor:
    if not isinstance(spikes, Tensor):
        raise TypeError(f"{name}: expected a Tensor [T, B, ...], got {type(spikes).__name__}")
    if spikes.dim() < 2:
        raise ValueError(f"{name}: expected a time-major Tensor [T, B, ...] (at least 2 dims), got shape "
                         f"{tuple(spikes.shape)}")
    return spikes.detach()


def layer_rate(spikes: Tensor) -> float:
    """Fraction of nonzero entries of spikes [T, B, ...]."""
    s = _check(spikes)
    return float(torch.count_nonzero(s)) / max(1, s.numel())


def neuron_rates(spikes: Tensor) -> Tensor:
    """Per-neuron firing rate: spikes [T, B, ...] -> [...] (mean over time and batch)."""
    s = _check(spikes)
    return (s != 0).to(torch.float64).mean(dim=(0, 1))


def step_rates(spikes: Tensor) -> Tensor:
    """Per-step firing rate: spikes [T, B, ...] -> [T] (mean over batch and neurons)."""
    s = _check(spikes)
    return (s != 0).to(torch.float64).reshape(s.shape[0], -1).mean(dim=1)


def activation_sparsity(spikes: Tensor) -> float:
    """1 - layer_rate: the fraction of zero entries."""
    return 1.0 - layer_rate(spikes)


def firing_stats(source: Monitor | dict[str, Tensor]) -> dict[str, dict[str, Any]]:
    """Per layer: {"rate", "sparsity", "per_neuron" [...], "per_step" [T], "spikes", "numel"}.

    source: a Monitor that recorded, or a dict {layer name: spikes [T, B, ...]}.
    """
    records = source.outputs() if isinstance(source, Monitor) else source
    if not isinstance(records, dict):
        raise TypeError(f"source: expected a Monitor or a dict of Tensors, got {type(source).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for name, spikes in records.items():
        s = _check(spikes, f"spikes[{name!r}]")
        nnz = int(torch.count_nonzero(s))
        out[name] = {
            "rate": nnz / max(1, s.numel()),
            "sparsity": 1.0 - nnz / max(1, s.numel()),
            "per_neuron": neuron_rates(s),
            "per_step": step_rates(s),
            "spikes": nnz,
            "numel": s.numel(),
        }
    return out


def overall_sparsity(records: Monitor | dict[str, Tensor]) -> float:
    """Activation sparsity over every recorded layer, step and sample together (NeuroBench's
    definition: zeros / entries, summed over layers)."""
    stats = firing_stats(records)
    numel = sum(v["numel"] for v in stats.values())
    if numel == 0:
        raise ValueError("records: nothing recorded")
    return 1.0 - sum(v["spikes"] for v in stats.values()) / numel
