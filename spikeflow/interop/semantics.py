"""The one place that defines how NIR's continuous-time neurons map to discrete steps.

With step dt, a first-order stage ``tau dy/dt = -y + u`` becomes ``y[t] = d y[t-1] + (1 - d) u[t]``:

    euler:  d = 1 - dt / tau            (forward Euler; what snnTorch, Norse, SpikingJelly do)
    exp:    d = exp(-dt / tau)          (exact for an input held constant over the step)

LIF/LI then read ``v[t] = d v[t-1] + (1 - d) (v_leak + r x[t])``; CubaLI(F) apply the stage
twice (current first, the membrane sees the *updated* current); IF/I: ``v[t] = v[t-1] + g r x[t]``
with g = dt (euler/exp) or 1 (``if_gain="unit"``, the dt-free reading of Sinabs and Norse).
All arithmetic here is float64 numpy; callers cast once to the module dtype.
"""

from __future__ import annotations

import numpy as np

SCHEMES = ("euler", "exp")


def check_scheme(discretization: str) -> str:
    if discretization not in SCHEMES:
        raise ValueError(f"discretization: expected one of {SCHEMES}, got {discretization!r}")
    return discretization


def check_dt(dt: float) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: expected a finite positive number of seconds, got {dt!r}")
    return float(dt)


def tau_to_decay(tau: np.ndarray, dt: float, scheme: str, where: str) -> np.ndarray:
    """Decay per step from a time constant (tau = inf means no leak: decay 1)."""
    tau = np.asarray(tau, dtype=np.float64)
    if (tau < 0).any() or np.isnan(tau).any():
        raise ValueError(f"{where}: expected non-negative time constants, got {tau.ravel()[:4]}")
    with np.errstate(divide="ignore"):
        ratio = np.where(tau == 0, np.inf, dt / np.where(tau == 0, 1.0, tau))
    if scheme == "exp":
        return np.exp(-ratio)
    decay = 1.0 - ratio
    if (decay < 0).any():
        bad = float(tau.ravel()[np.argmin(decay.ravel())])
        raise ValueError(
            f"{where}: forward Euler needs tau >= dt, got tau={bad!r} with dt={dt!r} (decay "
            f"{1 - dt / bad if bad else -np.inf:.3g} < 0); choose a smaller dt or discretization='exp'"
        )
    return decay


def decay_to_tau(decay: np.ndarray, dt: float, scheme: str, where: str) -> np.ndarray:
    """Inverse of tau_to_decay: the time constant that reproduces ``decay`` exactly."""
    d = np.asarray(decay, dtype=np.float64)
    if ((d < 0) | (d > 1)).any() or np.isnan(d).any():
        raise ValueError(f"{where}: expected decays in [0, 1], got {d.ravel()[:4]}")
    with np.errstate(divide="ignore"):
        if scheme == "exp":
            if (d == 0).any():
                raise ValueError(f"{where}: a decay of 0 needs tau = 0 under discretization='exp'; use 'euler'")
            return np.where(d == 1, np.inf, -dt / np.log(d))
        return np.where(d == 1, np.inf, dt / (1.0 - d))


def r_for_unit_gain(tau: np.ndarray, dt: float, scheme: str) -> np.ndarray:
    """r such that the input gain (1 - decay) r is 1 (a spikeflow neuron adds x unscaled)."""
    d = tau_to_decay(tau, dt, scheme, "tau")
    return 1.0 / (1.0 - d)
