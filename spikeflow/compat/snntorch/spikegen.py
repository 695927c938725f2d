"""snnTorch's ``spikegen``: rate, latency and delta codes with snnTorch's formulas.

``rate`` and ``delta`` call spikeflow's encoders (same random draws as snnTorch for the same
seed); ``latency`` keeps snnTorch's time formulas (which spikeflow's own ``encoding.latency``
changes on purpose, see its docstring). Outputs keep the input's dtype.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ... import encoding as _enc

__all__ = ["rate", "latency", "delta", "rate_conv", "latency_code", "to_one_hot", "from_one_hot", "targets_convert"]


def _steps(num_steps: Any) -> int | None:
    if num_steps is False or num_steps is None:
        return None
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps: expected a positive int (or False), got {num_steps!r}")
    return num_steps


def rate_conv(data: Tensor) -> Tensor:
    """Bernoulli spikes with p = clamp(data, 0, 1)."""
    return _enc.rate(data, time_varying=True) if data.dim() else torch.bernoulli(data.clamp(0, 1))


def rate(data: Tensor, num_steps: Any = False, gain: float = 1, offset: float = 0,
         first_spike_time: int = 0, time_var_input: bool = False) -> Tensor:
    """Rate code [num_steps, ...] (or [T + first_spike_time, ...] for time-varying input)."""
    steps = _steps(num_steps)
    if not isinstance(first_spike_time, int) or isinstance(first_spike_time, bool) or first_spike_time < 0:
        raise ValueError(f"first_spike_time: expected an int >= 0, got {first_spike_time!r}")
    if not isinstance(time_var_input, bool):
        raise TypeError(f"time_var_input: expected True or False, got {type(time_var_input).__name__}")
    if time_var_input:
        if steps is not None:
            raise ValueError(
                "num_steps: not an argument for time-varying input (time_var_input=True); T comes from data")
        spikes = _enc.rate(data, time_varying=True)  # snnTorch applies no gain/offset here
        if first_spike_time:
            pad = torch.zeros((first_spike_time, *spikes.shape[1:]), dtype=spikes.dtype, device=spikes.device)
            spikes = torch.cat((pad, spikes))
        return spikes
    if steps is None:
        raise ValueError("num_steps: expected a positive int for static input (or set time_var_input=True)")
    if first_spike_time > steps - 1:
        raise ValueError(f"first_spike_time: expected <= num_steps - 1 = {steps - 1}, got {first_spike_time}")
    spikes = _enc.rate(data, steps, gain=gain, offset=offset)
    if first_spike_time:
        spikes[:first_spike_time] = 0
    return spikes


def latency_code(data: Tensor, num_steps: Any = False, threshold: float = 0.01, tau: float = 1,
                 first_spike_time: int = 0, normalize: bool = False, linear: bool = False,
                 epsilon: float = 1e-7) -> tuple[Tensor, Tensor]:
    """snnTorch's (continuous) spike times and the below-threshold mask ``data < threshold``.

    linear:  t = min(tau (1 - x), tau (1 - thr)) + s, with tau = L - s when normalize;
    log:     t = tau ln(x' / (x' - thr)) + s, x' = max(x, thr + epsilon); normalize rescales
             t - s by (L - s) / max(t - s).
    """
    _enc._tensor("data", data)
    steps = _steps(num_steps)
    if normalize and steps is None:
        raise ValueError("num_steps: expected a positive int with normalize=True")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold: expected a value in [0, 1], got {threshold!r}")
    below = data < threshold
    s = first_spike_time
    if linear:
        if normalize:
            tau = steps - 1 - s  # type: ignore[operator]
        t = torch.clamp_max(-tau * (data - 1), -tau * (threshold - 1)) + s
        if normalize and float(t.min()) < 0:
            t = (t - t.min()) / (t.max() - t.min()) * (steps - 1)  # type: ignore[operator]
        return t, below
    x = torch.clamp(data, min=threshold + epsilon)
    t = tau * torch.log(x / (x - threshold))
    if s > 0:
        t = t + s
    if normalize:
        t = (t - s) * (steps - s - 1) / torch.max(t - s) + s  # type: ignore[operator]
    return t, below


def latency(data: Tensor, num_steps: Any = False, threshold: float = 0.01, tau: float = 1,
            first_spike_time: int = 0, on_target: float = 1, off_target: float = 0, clip: bool = False,
            normalize: bool = False, linear: bool = False, interpolate: bool = False, bypass: bool = False,
            epsilon: float = 1e-7) -> Tensor:
    """One spike per element at round(t) of ``latency_code`` -> [num_steps, ...]."""
    _enc._tensor("data", data)
    _enc._no_nan("data", data)
    if data.numel() and (float(data.min()) < 0 or float(data.max()) > 1):
        raise ValueError(f"data: expected values in [0, 1], got [{float(data.min())}, {float(data.max())}]")
    if interpolate:
        raise ValueError("interpolate: snnTorch's interpolated latency targets are not provided by the compat layer")
    steps = _steps(num_steps)
    if steps is None and not bypass:
        raise ValueError("num_steps: expected a positive int (or bypass=True to size the window)")
    t, below = latency_code(data, num_steps, threshold, tau, first_spike_time, normalize, linear, epsilon)
    t_round = torch.round(t).long()
    if steps is None:
        steps = int(t_round.max()) + 1
    if int(t_round.max()) > steps - 1 and not bypass:
        raise ValueError(
            f"num_steps: spike times reach step {int(t_round.max())} beyond num_steps - 1 = {steps - 1}; "
            "decrease tau, set normalize=True or bypass=True"
        )
    keep = ~(t_round > steps - 1)
    out = torch.zeros((steps, *data.shape), dtype=data.dtype, device=data.device)
    out = out.scatter(0, torch.round(torch.clamp_max(t, steps - 1)).long().unsqueeze(0), 1.0) * keep
    if clip:
        out = out * ~below
    return torch.clamp(out * on_target, off_target)


def delta(data: Tensor, threshold: float = 0.1, padding: bool = False, off_spike: bool = False) -> Tensor:
    """+1 where data rises by >= threshold from the previous step (-1 for falls with off_spike)."""
    return _enc.delta(data, threshold=threshold, off_spikes=off_spike, padding=padding)


def to_one_hot(targets: Tensor, num_classes: int) -> Tensor:
    return _enc.to_one_hot(targets, num_classes)


def from_one_hot(one_hot_label: Tensor) -> Tensor:
    return torch.where(one_hot_label == 1)[0]


def targets_convert(targets: Tensor, num_classes: int, on_target: float = 1, off_target: float = 0) -> Tensor:
    """[B] labels -> [B, num_classes]: clamp(one_hot * on_target, min=off_target), as snnTorch
    (so a negative off_target leaves the off entries at 0)."""
    return torch.clamp(_enc.to_one_hot(targets, num_classes) * on_target, min=off_target)


