"""Firing and reset rules: the pieces every spiking model shares."""

from __future__ import annotations

import torch
from torch import Tensor

from .options import SpikeOptions


def winner_mask(v_shift: Tensor) -> Tensor:
    """One-hot mask of the largest entry of each sample (flattened over features).

    v_shift: [B, ...] -> mask [B, ...] with a single 1 per sample.
    """
    flat = v_shift.reshape(v_shift.shape[0], -1)
    mask = torch.zeros_like(flat)
    mask.scatter_(1, flat.argmax(dim=1, keepdim=True), 1.0)
    return mask.reshape(v_shift.shape)


def quantize_membrane(v: Tensor, opts: SpikeOptions) -> Tensor:
    """v rounded by opts.state_quant (identity without one): applied after the update, before firing."""
    return v if opts.state_quant is None else opts.state_quant(v)


def fire(v: Tensor, threshold: Tensor, opts: SpikeOptions) -> Tensor:
    """S = H(v - threshold) with the surrogate derivative; winner-take-all if asked."""
    shifted = v - threshold
    spikes = opts.surrogate(shifted)
    if opts.inhibition:
        spikes = spikes * winner_mask(shifted.detach())
    return spikes


def delayed_reset_signal(v_prev: Tensor, threshold: Tensor, opts: SpikeOptions) -> Tensor | None:
    """Reset signal at step t from the previous membrane: R = H(v[t-1] - threshold).

    Returns None when no delayed reset applies (reset "none" or reset_delay False).
    With detach_reset False the signal carries the surrogate derivative.
    """
    if opts.reset == "none" or not opts.reset_delay:
        return None
    if opts.detach:
        return (v_prev > threshold).to(v_prev.dtype)
    return opts.surrogate(v_prev - threshold)


def same_step_reset(v: Tensor, spikes: Tensor, threshold: Tensor, opts: SpikeOptions) -> Tensor:
    """Apply the reset in the step of the spike (reset_delay False).

    subtract: v - S * threshold;  zero: v * (1 - S);  none: v.
    """
    if opts.reset == "none" or opts.reset_delay:
        return v
    s = spikes.detach() if opts.detach else spikes
    if opts.reset == "subtract":
        return v - s * threshold
    return v * (1 - s)


def reset_fire(v: Tensor, r: Tensor | None, threshold: Tensor, opts: SpikeOptions) -> tuple[Tensor, Tensor]:
    """The end of a step whose membrane v holds the whole update: the delayed reset
    v - R thr (subtract) or v (1 - R) (zero) when r is not None, state quantization, firing and the
    same-step reset. Returns (spikes, v)."""
    if r is not None:
        v = v - r * threshold if opts.reset == "subtract" else v * (1 - r)
    v = quantize_membrane(v, opts)
    spikes = fire(v, threshold, opts)
    return spikes, same_step_reset(v, spikes, threshold, opts)
