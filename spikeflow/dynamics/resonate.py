"""Balanced resonate-and-fire (BRF) neuron (Higuchi, Kairat, Bohte, Otte, ICML 2024): its state,
reference step (torch) and the per-neuron row and row adjoint the fused kernels compile.

The membrane is complex, z = u + i v; it rotates with angular frequency omega and decays with
damping b. One step of length dt (the paper's explicit Euler scheme), q the refractory term in
effect at step t and s the spike:

    q[t] = gamma q[t-1] + s[t-1]                      (refractory, "smooth reset")
    b[t] = p(omega) - b_offset - q[t]                 (damping, below the divergence boundary p)
    z[t] = (1 + dt (b[t] + i omega)) z[t-1] + dt x[t]    model "resonate" (Euler, the paper)
    z[t] = exp(dt (b[t] + i omega)) z[t-1] + dt x[t]     model "resonate_exact" (exact rotation)
    s[t] = H(u[t] - (threshold + q[t]))               (spike on the real part); output graded s[t]

p(omega) = (sqrt(1 - (dt omega)^2) - 1) / dt is the Euler scheme's divergence boundary (the
paper's sustain_osc; 0 for the exact rotation): at b_offset = 0 and q = 0, |z| neither grows nor
decays. A spike raises threshold and damping through q, pulling the neuron back to rest instead
of resetting it. The refractory term is the model's delayed reset: reset "none" keeps spikes out
of q (it only decays from its initial value), detach_reset stops their gradient. In real
arithmetic, with a = 1 + dt (p - b_offset) - dt q[t] and c = dt omega (Euler):

    u[t] = a u[t-1] - c v[t-1] + dt x[t],   v[t] = c u[t-1] + a v[t-1]

State: ResonateState(u, v, q, z) with z the last spike (0/1).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from .options import SpikeOptions
from .spec import ModelSpec, register
from .spiking import fire

# Euler needs dt * omega < 1 (beyond it no damping keeps |z| bounded); dt omega is clipped here
MAX_DT_OMEGA = 1.0 - 1e-6


class ResonateState(NamedTuple):
    """Real part u and imaginary part v of the membrane, refractory term q, last spike z."""

    u: Tensor
    v: Tensor
    q: Tensor
    z: Tensor


def divergence_boundary(omega: Tensor, dt: float) -> Tensor:
    """p(omega) of the Euler scheme: |1 + dt (p + i omega)| = 1."""
    w = (dt * omega).clamp(max=MAX_DT_OMEGA)
    return (torch.sqrt(1 - w * w) - 1) / dt


def _refractory(state: ResonateState, gamma: Any, opts: SpikeOptions) -> Tensor:
    if opts.reset == "none" or not opts.reset_delay:
        return gamma * state.q
    r = state.z.detach() if opts.detach else state.z
    return gamma * state.q + r


def resonate_step(
    x: Tensor, state: ResonateState, omega: Tensor, b_offset: Tensor, threshold: Tensor, graded: Tensor | float,
    dt: float, gamma: float, opts: SpikeOptions,
) -> tuple[Tensor, ResonateState]:
    """One Euler step of the balanced resonate-and-fire neuron (see the module docstring).

    x, state fields: [B, ...]; omega, b_offset, threshold: scalars or per-neuron tensors.
    """
    q = _refractory(state, gamma, opts)
    a = (1 + dt * (divergence_boundary(omega, dt) - b_offset)) - dt * q
    c = dt * omega
    u = a * state.u - c * state.v + dt * x
    v = c * state.u + a * state.v
    spikes = fire(u, threshold + q, opts)
    return spikes * graded, ResonateState(u, v, q, spikes)


def resonate_exact_step(
    x: Tensor, state: ResonateState, omega: Tensor, b_offset: Tensor, threshold: Tensor, graded: Tensor | float,
    dt: float, gamma: float, opts: SpikeOptions,
) -> tuple[Tensor, ResonateState]:
    """One step with the exact rotation exp(dt (b + i omega)), b = -b_offset - q (boundary 0)."""
    q = _refractory(state, gamma, opts)
    decay = torch.exp(-dt * (b_offset + q))
    a, c = decay * torch.cos(dt * omega), decay * torch.sin(dt * omega)
    u = a * state.u - c * state.v + dt * x
    v = c * state.u + a * state.v
    spikes = fire(u, threshold + q, opts)
    return spikes * graded, ResonateState(u, v, q, spikes)


def resonate_prepare(x: Tensor, params: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
    """Kernel inputs (differentiable): dt x, a0 = 1 + dt (p - b_offset), c = dt omega, dt, gamma, threshold."""
    dt = params["dt"]
    a0 = 1 + dt * (divergence_boundary(params["omega"], dt) - params["b_offset"])
    return dt * x, {"a0": a0, "c": dt * params["omega"], "dt": dt, "gamma": params["gamma"],
                    "threshold": params["threshold"]}


def resonate_row(x: Any, u: Any, v: Any, q: Any, z: Any, r: Any, a0: Any, c: Any, dt: Any, gamma: Any,
                 threshold: Any, ds: Any, dz: Any, one: Any) -> Any:
    """q' = gamma q + (ds + dz) r;  a = a0 - dt q';  u' = a u - c v + x;  v' = c u + a v;  b = thr + q'."""
    qn = gamma * q + (ds + dz) * r
    a = a0 - dt * qn
    un = a * u - c * v + x
    vn = c * u + a * v
    return un, threshold + qn, vn, qn


def resonate_row_vjp(du: Any, db: Any, dvn: Any, dqn: Any, x: Any, u: Any, v: Any, q: Any, z: Any, r: Any,
                     a0: Any, c: Any, dt: Any, gamma: Any, threshold: Any, ds: Any, dz: Any, one: Any) -> Any:
    qn = gamma * q + (ds + dz) * r
    a = a0 - dt * qn
    da = du * u + dvn * v
    dq_all = dqn + db - dt * da
    return (du, du * a + dvn * c, dvn * a - du * c, gamma * dq_all, z - z, (ds + dz) * dq_all,
            da, dvn * u - du * v, -(qn * da), q * dq_all, db)


_PARAMS = ("omega", "b_offset", "threshold", "graded", "dt", "gamma")

RESONATE = register(ModelSpec(
    "resonate", ResonateState, _PARAMS,
    lambda x, s, opts, omega, b_offset, threshold, graded, dt, gamma: resonate_step(
        x, s, omega, b_offset, threshold, graded, dt, gamma, opts),
    resonate_row, resonate_row_vjp, ("a0", "c", "dt", "gamma", "threshold"), prepare=resonate_prepare,
    same_step_reset=False, membrane="u", spike_field="z",
))
RESONATE_EXACT = register(ModelSpec(  # exp / cos / sin of the state-dependent damping: reference only
    "resonate_exact", ResonateState, _PARAMS,
    lambda x, s, opts, omega, b_offset, threshold, graded, dt, gamma: resonate_exact_step(
        x, s, omega, b_offset, threshold, graded, dt, gamma, opts),
    same_step_reset=False, membrane="u", spike_field="z",
))
