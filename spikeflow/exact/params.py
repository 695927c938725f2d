"""Current-based LIF constants and the exact propagators shared by both EventProp engines.

Continuous model (Wunderlich & Pehle 2021, Table 1), reset to zero, no refractory period:

    tau_mem dV/dt = -V + I,     tau_syn dI/dt = -I,
    spike when V crosses threshold from below, then V <- 0; a presynaptic spike adds w to I.

Exact propagation over a time s (kappa = tau_syn / (tau_mem - tau_syn)):

    V(s) = e^{-s/tau_mem} V + kappa (e^{-s/tau_mem} - e^{-s/tau_syn}) I,    I(s) = e^{-s/tau_syn} I
    (tau_mem == tau_syn: V(s) = e^{-s/tau} (V + s I / tau)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class LIFParams:
    """tau_mem, tau_syn (ms), threshold; ``eps`` bounds |I - threshold| in the spike jump."""

    tau_mem: float = 20.0
    tau_syn: float = 5.0
    threshold: float = 1.0
    eps: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("tau_mem", "tau_syn", "threshold", "eps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}: expected a finite positive number, got {value!r}")

    @property
    def equal_taus(self) -> bool:
        return abs(self.tau_mem - self.tau_syn) < 1e-12 * self.tau_mem

    def kernel_v(self, s: Tensor) -> Tensor:
        """V(s) produced by a unit current jump s ms ago (V and I zero before)."""
        tm, ts = self.tau_mem, self.tau_syn
        if self.equal_taus:
            return (s / tm) * torch.exp(-s / tm)
        return ts / (tm - ts) * (torch.exp(-s / tm) - torch.exp(-s / ts))

    def kernel_v_ds(self, s: Tensor) -> Tensor:
        """d kernel_v / ds."""
        tm, ts = self.tau_mem, self.tau_syn
        if self.equal_taus:
            return torch.exp(-s / tm) * (1.0 - s / tm) / tm
        return ts / (tm - ts) * (torch.exp(-s / ts) / ts - torch.exp(-s / tm) / tm)

    def step_consts(self, dt: float) -> tuple[float, float, float]:
        """(alpha, beta, c) with V <- alpha V + c I, I <- beta I over a step dt (exact)."""
        alpha, beta = math.exp(-dt / self.tau_mem), math.exp(-dt / self.tau_syn)
        if self.equal_taus:
            c = dt / self.tau_mem * alpha
        else:
            c = self.tau_syn / (self.tau_mem - self.tau_syn) * (alpha - beta)
        return alpha, beta, c


DEFAULT_PARAMS = LIFParams()
