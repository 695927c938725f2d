"""Losses for EventProp networks (all averaged over the batch).

- ``ttfs_cross_entropy``: Wunderlich & Pehle's first-spike loss
      L = -1/B sum_b [ log softmax(-t_b / tau0)_y - alpha (e^{t_{b,y}/tau1} - 1) ]
  (Yin-Yang constants tau0 = 0.5 ms, tau1 = 6.4 ms, alpha = 3e-3).
  Silent outputs enter the softmax at the constant time ``t_silent`` (mlGeNN's convention), so
  they get no gradient; a silent label neuron is counted wrong. A sample whose label neuron is
  silent gives no gradient at all (as in Wunderlich & Pehle's loss layer): otherwise its CE term
  only pushes the other outputs later, more label neurons fall silent and training collapses.
  The remedy that gives silent neurons a gradient is ``bump_silent`` (weight bumping).
- ``max_voltage_cross_entropy``: CE of softmax(max_t V_k) for a leaky-integrator readout.
- ``sum_voltage_cross_entropy``: CE of softmax(dt sum_t V_k)          (mlGeNN L_sum).
- ``sum_exp_voltage_cross_entropy``: CE of softmax(dt/T sum_t e^{-t/T} V_k) (loss shaping, SHD).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_labels(labels: Tensor, batch: int) -> None:
    if not isinstance(labels, Tensor) or labels.dtype not in (torch.int64, torch.int32) or labels.shape != (batch,):
        raise ValueError(f"labels: expected an integer tensor of shape ({batch},), got "
                         f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}")


def first_spike_times(times: Tensor) -> Tensor:
    """[B, N, K] spike times -> [B, N] first spike time (+inf when silent)."""
    if times.dim() != 3:
        raise ValueError(f"times: expected [B, N, K], got shape {tuple(times.shape)}")
    return times[..., 0]


def ttfs_cross_entropy(times: Tensor, labels: Tensor, *, tau0: float = 0.5, tau1: float = 6.4,
                       alpha: float = 3e-3, t_silent: float = 50.0) -> Tensor:
    """Time-to-first-spike cross-entropy with the exponential late-spike regulariser.

    Mean over the batch B; the terms of samples whose label neuron is silent are detached (their
    value still counts, they give no gradient), so the gradient is (1/B) sum over samples whose
    label neuron fired.
    """
    first = first_spike_times(times)
    _check_labels(labels, first.shape[0])
    silent = ~torch.isfinite(first)
    t = torch.where(silent, torch.full_like(first, t_silent), first)
    y = labels.long()
    ce = F.cross_entropy(-t / tau0, y, reduction="none")
    t_y = t.gather(1, y[:, None]).squeeze(1)
    per_sample = ce + alpha * (torch.exp(t_y / tau1) - 1.0)
    label_fired = ~silent.gather(1, y[:, None]).squeeze(1)
    return torch.where(label_fired, per_sample, per_sample.detach()).mean()


def ttfs_predict(times: Tensor) -> Tensor:
    """Index of the earliest-firing output per sample (-1 if all are silent)."""
    first = first_spike_times(times)
    pred = first.argmin(1)
    return torch.where(torch.isfinite(first).any(1), pred, torch.full_like(pred, -1))


def ttfs_correct(times: Tensor, labels: Tensor) -> Tensor:
    """Bool[B]: label neuron fired and no other neuron fired strictly earlier (Wunderlich & Pehle)."""
    first = first_spike_times(times)
    t_y = first.gather(1, labels.long()[:, None]).squeeze(1)
    return torch.isfinite(t_y) & (first.min(1).values >= t_y)


def max_voltage_cross_entropy(v: Tensor, labels: Tensor) -> Tensor:
    """v[T, B, N] leaky-integrator voltages: CE(softmax(max_t v), labels)."""
    _check_labels(labels, v.shape[1])
    return F.cross_entropy(v.max(0).values, labels.long())


def sum_voltage_cross_entropy(v: Tensor, labels: Tensor, dt: float = 1.0) -> Tensor:
    """CE(softmax(dt * sum_t v), labels)  (integral of V over the trial)."""
    _check_labels(labels, v.shape[1])
    return F.cross_entropy(dt * v.sum(0), labels.long())


def exp_weights(n_steps: int, dt: float, like: Tensor) -> Tensor:
    """e^{-t/T} at t = (n+1) dt, T = n_steps dt, shaped [T, 1, 1]."""
    t = (torch.arange(n_steps, dtype=like.dtype, device=like.device) + 1) * dt
    return torch.exp(-t / (n_steps * dt))[:, None, None]


def sum_exp_voltage_cross_entropy(v: Tensor, labels: Tensor, dt: float = 1.0) -> Tensor:
    """Loss shaping (mlGeNN ``AvgVarExpWeight``): CE(softmax(dt/T sum_t e^{-t/T} v), labels)."""
    _check_labels(labels, v.shape[1])
    n = v.shape[0]
    logits = dt / (n * dt) * (exp_weights(n, dt, v) * v).sum(0)
    return F.cross_entropy(logits, labels.long())


@torch.no_grad()
def bump_silent(weight: Tensor, times: Tensor, amount: float = 0.1) -> int:
    """Silent-neuron remedy: add ``amount`` to every input weight of a neuron that did not spike
    for any sample of ``times[B, N, K]`` (the layer's output). Returns how many were bumped."""
    silent = ~torch.isfinite(times[..., 0]).any(0)
    if silent.any():
        weight[silent] += amount
    return int(silent.sum())


@torch.no_grad()
def bump_silent_labels(weight: Tensor, times: Tensor, labels: Tensor, amount: float = 1e-3) -> int:
    """Silent-label remedy for TTFS readouts: add ``amount`` to every input weight of an output
    neuron that stayed silent on at least one sample of ``times[B, N, K]`` whose label it is
    (those samples give no gradient, so without this the neuron could stay silent for good).
    Returns how many neurons were bumped."""
    first = first_spike_times(times)
    _check_labels(labels, first.shape[0])
    y = labels.long()
    silent_label = ~torch.isfinite(first.gather(1, y[:, None]).squeeze(1))
    hit = torch.zeros(first.shape[1], dtype=torch.bool, device=first.device)
    hit[y[silent_label]] = True
    if hit.any():
        weight[hit] += amount
    return int(hit.sum())


def accuracy_from_voltage(v: Tensor, labels: Tensor, mode: str = "max") -> Tensor:
    """Fraction correct from readout voltages v[T, B, N] (mode 'max' or 'sum')."""
    if mode not in ("max", "sum"):
        raise ValueError(f"mode: expected 'max' or 'sum', got {mode!r}")
    score = v.max(0).values if mode == "max" else v.sum(0)
    return (score.argmax(1) == labels).float().mean()


