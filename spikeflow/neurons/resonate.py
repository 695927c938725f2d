"""Balanced resonate-and-fire neuron module (thin: parameters in, dynamics in functional.resonate)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..dynamics.options import make_options
from ..dynamics.resonate import MAX_DT_OMEGA, ResonateState
from .base import NeuronBase, ParamLike, _as_tensor

InitLike = ParamLike | tuple[float, float]


def _init(name: str, value: InitLike, features: int | tuple[int, ...] | None) -> Tensor:
    """A number, a tensor, or (low, high): uniform per-neuron initialisation (needs ``features``)."""
    if isinstance(value, tuple):
        if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{name}: expected a (low, high) pair of numbers, got {value!r}")
        if features is None:
            raise ValueError(f"{name}: a (low, high) range needs features= (the neuron count or shape)")
        low, high = float(value[0]), float(value[1])
        if not low <= high:
            raise ValueError(f"{name}: expected low <= high, got {value!r}")
        shape = (features,) if isinstance(features, int) else tuple(features)
        return torch.empty(shape).uniform_(low, high)
    t = _as_tensor(name, value)
    if features is not None:
        shape = (features,) if isinstance(features, int) else tuple(features)
        t = t.expand(shape).clone()
    return t


class ResonateFire(NeuronBase):
    """Balanced resonate-and-fire neuron (BRF, Higuchi et al. 2024).

        q[t] = gamma q[t-1] + s[t-1],   b[t] = p(omega) - b_offset - q[t]
        m[t] = (1 + dt (b[t] + i omega)) m[t-1] + dt x[t]      (m = u + i v)
        s[t] = H(u[t] - threshold - q[t])

    See ``spikeflow.dynamics.resonate`` for the exact-rotation variant and p(omega).
    ``omega`` (angular frequency, rad per time unit) and ``b_offset`` (damping below the
    divergence boundary) are per neuron and learnable by default; the paper's SHD setup is
    ``ResonateFire(features, omega=(5, 10), b_offset=(2, 3), dt=0.01)``. The module uses
    |omega| and |b_offset| (as the paper does). x: [T, B, ...] -> spikes [T, B, ...];
    state: ResonateState(u, v, q, z) (z: last spike). Fused on CPU (numba, from the model's
    declared rows) for the Euler scheme; the exact rotation runs on the reference.
    """

    model = "resonate"
    state_type = ResonateState
    DISCRETISATIONS = ("euler", "exact")
    RESETS = ("refractory", "none")

    def __init__(
        self,
        features: int | tuple[int, ...] | None = None,
        omega: InitLike = 10.0,
        b_offset: InitLike = 1.0,
        threshold: ParamLike = 1.0,
        *,
        dt: float = 0.01,
        gamma: float = 0.9,
        discretisation: str = "euler",
        reset: str = "refractory",
        detach_reset: bool = False,
        learn_omega: bool = True,
        learn_b_offset: bool = True,
        learn_threshold: bool = False,
        surrogate: Any = None,
        graded_spikes: ParamLike = 1.0,
        learn_graded_spikes: bool = False,
        backend: str | None = None,
    ) -> None:
        super().__init__(backend)
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not 0 < dt < float("inf"):
            raise ValueError(f"dt: expected a finite positive number, got {dt!r}")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 <= gamma <= 1:
            raise ValueError(f"gamma: expected a refractory decay in [0, 1], got {gamma!r}")
        if discretisation not in self.DISCRETISATIONS:
            raise ValueError(f"discretisation: expected one of {self.DISCRETISATIONS}, got {discretisation!r}")
        if reset not in self.RESETS:
            raise ValueError(f"reset: expected one of {self.RESETS}, got {reset!r}")
        # the refractory term is the model's delayed reset: "subtract" routes the last spike into q
        self.opts = make_options("subtract" if reset == "refractory" else "none", True, detach_reset, surrogate)
        self.model = "resonate" if discretisation == "euler" else "resonate_exact"  # type: ignore[misc]
        self.dt, self.gamma, self.discretisation, self.reset = float(dt), float(gamma), discretisation, reset
        omega_t = _init("omega", omega, features)
        if discretisation == "euler" and (omega_t.abs() * dt > MAX_DT_OMEGA).any():
            raise ValueError(
                f"omega: the Euler scheme needs |omega| * dt < 1 (dt={dt}), got max |omega| "
                f"{float(omega_t.abs().max())}; lower dt or use discretisation='exact'"
            )
        self._register("omega", omega_t, learn_omega)
        self._register("b_offset", _init("b_offset", b_offset, features), learn_b_offset)
        self._register("threshold", _as_tensor("threshold", threshold), learn_threshold)
        self._register("graded_spikes", _as_tensor("graded_spikes", graded_spikes), learn_graded_spikes)

    def params(self, like: Tensor) -> dict[str, Any]:
        return {
            "omega": self._cast(self.omega, like).abs(),
            "b_offset": self._cast(self.b_offset, like).abs(),
            "threshold": self._cast(self.threshold, like),
            "graded": self._cast(self.graded_spikes, like),
            "dt": self.dt,
            "gamma": self.gamma,
        }

    def extra_repr(self) -> str:
        return (f"features={tuple(self.omega.shape)}, dt={self.dt}, discretisation={self.discretisation!r}, "
                f"gamma={self.gamma}, reset={self.reset!r}")


__all__ = ["ResonateFire"]
