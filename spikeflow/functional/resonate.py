"""Balanced resonate-and-fire (BRF) neuron (Higuchi, Kairat, Bohte, Otte, ICML 2024).

The single source of the model's dynamics: its state, parameter and option types and the
torch step (the reference every fused kernel is checked against).

The membrane is complex, z = u + i v, and rotates with angular frequency omega while it
decays with damping b. One step of length dt (the paper's explicit Euler scheme):

    b[t]   = p(omega) - b_offset - q[t-1]                 (damping, below the boundary p)
    z[t]   = (1 + dt (b[t] + i omega)) z[t-1] + dt x[t]   ("euler", the paper)
    z[t]   = exp(dt (b[t] + i omega)) z[t-1] + dt x[t]    ("exact": the exact rotation)
    s[t]   = H(u[t] - theta - q[t-1])                     (spike on the real part)
    q[t]   = gamma q[t-1] + s[t]                           (refractory term, "smooth reset")

p(omega) is the divergence boundary: the largest damping for which |z| does not grow,
p = (sqrt(1 - (dt omega)^2) - 1) / dt for Euler (the paper's sustain_osc) and 0 for the exact
rotation; b_offset >= 0 keeps each neuron below it. A spike raises both the threshold and the
damping through q, so the neuron is pulled back to rest smoothly instead of being reset.
In real arithmetic with the rotation (a, c) = (1 + dt b, dt omega) or
exp(dt b) (cos(dt omega), sin(dt omega)):

    u[t] = a u[t-1] - c v[t-1] + dt x[t],   v[t] = c u[t-1] + a v[t-1]
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .. import surrogate as _surrogate

DISCRETISATIONS = ("euler", "exact")
RESONATE_RESETS = ("refractory", "none")
# Euler needs dt * omega < 1 (beyond it no damping keeps |z| bounded); omega is clipped here
MAX_DT_OMEGA = 1.0 - 1e-6


class ResonateState(NamedTuple):
    """Resonate-and-fire state: real part u and imaginary part v of the membrane, refractory q."""

    u: Tensor
    v: Tensor
    q: Tensor


class ResonateParams(NamedTuple):
    """Per-neuron (or scalar) parameters, already made effective by the module.

    omega:     angular frequency (>= 0, rad per time unit; period 2 pi / omega time units)
    b_offset:  distance of the damping below the divergence boundary (>= 0)
    threshold: spike threshold theta on the real part
    """

    omega: Tensor
    b_offset: Tensor
    threshold: Tensor


class ResonateOptions(NamedTuple):
    """Static options: step length, scheme, refractory decay, surrogate, reset.

    reset "refractory": q follows the paper (raises threshold and damping after a spike);
    "none": q stays 0 (a resonator that fires whenever u > theta).
    detach_reset: the spike enters q without its surrogate gradient.
    """

    dt: float = 0.01
    discretisation: str = "euler"
    gamma: float = 0.9
    surrogate: _surrogate.Surrogate = _surrogate.ATan()
    reset: str = "refractory"
    detach_reset: bool = False


def make_resonate_options(
    dt: float = 0.01,
    discretisation: str = "euler",
    gamma: float = 0.9,
    surrogate: "_surrogate.Surrogate | str | None" = None,
    reset: str = "refractory",
    detach_reset: bool = False,
) -> ResonateOptions:
    """Validate and build ResonateOptions."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not dt > 0 or dt == float("inf"):
        raise ValueError(f"dt: expected a finite positive number, got {dt!r}")
    if discretisation not in DISCRETISATIONS:
        raise ValueError(f"discretisation: expected one of {DISCRETISATIONS}, got {discretisation!r}")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 <= gamma <= 1:
        raise ValueError(f"gamma: expected a refractory decay in [0, 1], got {gamma!r}")
    if reset not in RESONATE_RESETS:
        raise ValueError(f"reset: expected one of {RESONATE_RESETS}, got {reset!r}")
    if not isinstance(detach_reset, bool):
        raise TypeError(f"detach_reset: expected bool, got {type(detach_reset).__name__}")
    return ResonateOptions(float(dt), discretisation, float(gamma), _surrogate.get(surrogate), reset, detach_reset)


def divergence_boundary(omega: Tensor, opts: ResonateOptions) -> Tensor:
    """p(omega): the damping at which |z| neither grows nor decays (0 for the exact rotation)."""
    if opts.discretisation == "exact":
        return torch.zeros_like(omega)
    w = (opts.dt * omega).clamp(max=MAX_DT_OMEGA)
    return (torch.sqrt(1 - w * w) - 1) / opts.dt


def rotation(b: Tensor, omega: Tensor, opts: ResonateOptions) -> tuple[Tensor, Tensor]:
    """(a, c): real and imaginary part of the one-step factor for damping b and frequency omega."""
    if opts.discretisation == "exact":
        r = torch.exp(opts.dt * b)
        return r * torch.cos(opts.dt * omega), r * torch.sin(opts.dt * omega)
    return 1 + opts.dt * b, opts.dt * omega


def resonate_step(
    x: Tensor, state: ResonateState, params: ResonateParams, opts: ResonateOptions
) -> tuple[Tensor, ResonateState]:
    """One step of the balanced resonate-and-fire neuron; see the module docstring.

    x, state fields: [B, ...]; params broadcast to the neuron shape. Returns (spikes, state).
    """
    u_prev, v_prev, q_prev = state
    omega, b_offset, threshold = params
    b = divergence_boundary(omega, opts) - b_offset - q_prev
    a, c = rotation(b, omega, opts)
    u = a * u_prev - c * v_prev + opts.dt * x
    v = c * u_prev + a * v_prev
    spikes = opts.surrogate(u - threshold - q_prev)
    if opts.reset == "none":
        q = q_prev
    else:
        q = opts.gamma * q_prev + (spikes.detach() if opts.detach_reset else spikes)
    return spikes, ResonateState(u, v, q)
