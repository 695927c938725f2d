"""Learnable (fractional) axonal and synaptic delays: the one place that defines their equations.

A real delay d in [0, D] steps is spread over the integer delays k = 0..D by a kernel w_k(d):

    linear:    w_floor(d) = 1 - f,  w_floor(d)+1 = f   (f = d - floor(d); linear interpolation)
    gaussian:  w_k = exp(-(k - d)^2 / (2 sigma^2)) / sum_k' exp(-(k' - d)^2 / (2 sigma^2))   (DCLS)

    per neuron:   y_i[t] = sum_k w_k(d_i) x_i[t - k]
    per synapse:  y_j[t] = sum_i W_ji sum_k w_k(d_ji) x_i[t - k]  (+ bias_j)

Inputs before the sequence start come from the history state (the last D inputs, oldest first;
zeros from rest). With the linear kernel an integer d is an exact integer delay and the gradient
with respect to d is x[t - floor(d) - 1] - x[t - floor(d)] (the right-sided slope at integers).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

DELAY_KERNELS = ("linear", "gaussian")


class DelayState(NamedTuple):
    """The last D inputs [D, B, ...], oldest first (a shift register; D = max_delay)."""

    history: Tensor


def delay_weights(d: Tensor, max_delay: int, kernel: str = "linear", sigma: float = 1.0) -> Tensor:
    """w [D + 1, *d.shape]: the weight of each integer delay k = 0..D for real delays d.

    d is clamped to [0, D]; the gradient passes the clamp unchanged (the slope at the boundary),
    so a delay pushed past a bound can come back.
    """
    if kernel not in DELAY_KERNELS:
        raise ValueError(f"kernel: expected one of {DELAY_KERNELS}, got {kernel!r}")
    d = d + (d.clamp(0, max_delay) - d).detach()  # clamped value, gradient passed through (no dead zone)
    k = torch.arange(max_delay + 1, dtype=d.dtype, device=d.device).reshape(-1, *([1] * d.dim()))
    if kernel == "gaussian":
        return torch.softmax(-((k - d) ** 2) / (2 * sigma * sigma), dim=0)
    k0 = d.detach().floor().clamp(max=max_delay - 1)
    f = d - k0
    return torch.where(k == k0, 1 - f, torch.where(k == k0 + 1, f, torch.zeros_like(f)))


def with_history(x: Tensor, state: DelayState | None, max_delay: int) -> Tensor:
    """[D + T, B, ...]: the history followed by x [T, B, ...]."""
    if state is None:
        return torch.cat([x.new_zeros((max_delay, *x.shape[1:])), x], 0)
    return torch.cat([state.history.to(x.dtype), x], 0)


def neuron_delay(full: Tensor, w: Tensor, steps: int) -> Tensor:
    """y[t] = sum_k w[k] full[D + t - k] for the last ``steps`` steps of full [D + T, B, ...]; w [D + 1, ...]."""
    d_max = w.shape[0] - 1
    y = full[d_max : d_max + steps] * w[0]
    for k in range(1, d_max + 1):
        y = y + full[d_max - k : d_max - k + steps] * w[k]
    return y


def synapse_delay(full: Tensor, weight: Tensor, w: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_j[t] = sum_i weight_ji sum_k w[k, j, i] full_i[D + t - k] (+ bias_j).

    full [D + T, B, N_in], weight [N_out, N_in], w [D + 1, N_out, N_in] -> y [T, B, N_out].
    One grouped causal convolution over time (kernel flipped: conv1d correlates).
    """
    kern = (weight.unsqueeze(0) * w).flip(0).permute(1, 2, 0)  # [N_out, N_in, D + 1]
    y = torch.nn.functional.conv1d(full.permute(1, 2, 0), kern, bias)  # [B, N_out, T]
    return y.permute(2, 0, 1)


def next_history(full: Tensor, max_delay: int) -> DelayState:
    """The state after the sequence: the last D entries of history + input."""
    return DelayState(full[full.shape[0] - max_delay :])
