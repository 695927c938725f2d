"""nn.Modules holding the weights of EventProp layers; the dynamics live in discrete.py / event.py."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .discrete import li_discrete, lif_discrete, n_steps_for
from .event import lif_event
from .params import LIFParams

ENGINES = ("discrete", "event")


class LIFLayer(nn.Module):
    """Current-based LIF layer trained with EventProp: spike times [B, N_in, K] -> [B, N_out, max_spikes].

    engine "discrete" (dt grid, fast) or "event" (exact spike times, slow oracle);
    ``recurrent=True`` adds W_rec [N_out, N_out]. Weights are initialised N(mean, std).
    ``eps`` bounds I - threshold from below in the spike jump (near-tangential crossings).
    """

    def __init__(self, n_in: int, n_out: int, *, tau_mem: float = 20.0, tau_syn: float = 5.0,
                 threshold: float = 1.0, dt: float = 0.1, t_max: float = 50.0, max_spikes: int = 8,
                 recurrent: bool = False, engine: str = "discrete", init_mean: float = 0.0,
                 init_std: float = 1.0, rec_std: float = 0.1, eps: float = 1e-3) -> None:
        super().__init__()
        if engine not in ENGINES:
            raise ValueError(f"engine: expected one of {ENGINES}, got {engine!r}")
        self.params = LIFParams(tau_mem, tau_syn, threshold, eps)
        n_steps_for(t_max, dt)
        self.dt, self.t_max, self.max_spikes, self.engine = dt, t_max, max_spikes, engine
        self.weight = nn.Parameter(torch.randn(n_out, n_in) * init_std + init_mean)
        self.w_rec = nn.Parameter(torch.randn(n_out, n_out) * rec_std) if recurrent else None

    def forward(self, in_times: Tensor) -> Tensor:
        if self.engine == "event":
            return lif_event(in_times, self.weight, self.w_rec, params=self.params, t_max=self.t_max,
                             max_spikes=self.max_spikes)
        return lif_discrete(in_times, self.weight, self.w_rec, params=self.params, dt=self.dt,
                            t_max=self.t_max, max_spikes=self.max_spikes)


class LIReadout(nn.Module):
    """Non-spiking leaky-integrator readout: spike times [B, N_in, K] -> voltages [T, B, N_out]."""

    def __init__(self, n_in: int, n_out: int, *, tau_mem: float = 20.0, tau_syn: float = 5.0,
                 dt: float = 0.1, t_max: float = 50.0, init_mean: float = 0.0, init_std: float = 1.0) -> None:
        super().__init__()
        self.params = LIFParams(tau_mem, tau_syn, 1.0)
        n_steps_for(t_max, dt)
        self.dt, self.t_max = dt, t_max
        self.weight = nn.Parameter(torch.randn(n_out, n_in) * init_std + init_mean)

    def forward(self, in_times: Tensor) -> Tensor:
        return li_discrete(in_times, self.weight, params=self.params, dt=self.dt, t_max=self.t_max)
