"""A two-armed bandit learned by reward-modulated STDP with an eligibility trace (MSTDPET).

Each trial: ``n_in`` Poisson inputs (probability ``input_rate`` per step) drive two Leaky
output neurons (one per arm) through a plastic nn.Linear for ``steps`` steps (the weights start
nearly equal; each neuron also gets private uniform noise in [0, ``noise``), so early choices are
close to a coin flip); the outputs
inhibit each other (winner-take-all: at most one spikes per step). The arm whose neuron
spikes more is pulled (ties: a fair coin); it pays 1 with probability ``p[arm]``, else 0.
At the end of the trial the learner applies dW = eta (r - rbar) e, with e the eligibility
accumulated over the trial and rbar a running mean of the reward (the baseline).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..neurons import Leaky
from .rstdp import RewardSTDP


class Bandit:
    """The two-armed bandit and its learner; ``trial()`` plays one trial and learns from its reward.

    State carried from trial to trial: the plastic weights ``layer.weight``, the reward baseline
    and ``generator`` (inputs, noise, ties and rewards all come from it).
    """

    def __init__(
        self,
        *,
        p: tuple[float, float] = (0.2, 0.8),
        n_in: int = 20,
        steps: int = 20,
        input_rate: float = 0.2,
        a_plus: float = 0.0002,
        a_minus: float = 0.0001,
        tau_eligibility: float = 20.0,
        baseline_decay: float = 0.9,
        noise: float = 0.6,
        seed: int = 0,
    ) -> None:
        if len(p) != 2 or not all(0.0 <= q <= 1.0 for q in p):
            raise ValueError(f"p: expected two reward probabilities in [0, 1], got {p!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps: expected a positive int, got {steps!r}")
        self.p, self.n_in, self.steps, self.input_rate = tuple(p), n_in, steps, input_rate
        self.baseline_decay, self.noise = baseline_decay, noise
        self.generator = torch.Generator().manual_seed(seed)
        self.layer = nn.Linear(n_in, 2, bias=False)
        with torch.no_grad():
            self.layer.weight.copy_(0.3 + 0.02 * torch.rand(2, n_in, generator=self.generator))
        self.neuron = Leaky(beta=0.9, threshold=1.0, inhibition=True)
        self.learner = RewardSTDP(self.layer, a_plus=a_plus, a_minus=a_minus, tau_pre=5.0, tau_post=5.0,
                                  tau_eligibility=tau_eligibility, bounds="multiplicative", w_min=0.0, w_max=1.0)
        self.baseline = 0.5

    def trial(self) -> tuple[float, int]:
        """Play one trial, apply dW = eta (r - rbar) e; returns (reward, chosen arm)."""
        gen = self.generator
        x = (torch.rand(self.steps, 1, self.n_in, generator=gen) < self.input_rate).float()
        state, rstate, counts = None, None, torch.zeros(2)
        with torch.no_grad():
            for t in range(self.steps):
                drive = self.layer(x[t]) + self.noise * torch.rand(1, 2, generator=gen)  # private noise: exploration
                z, state = self.neuron.step(drive, state)
                rstate = self.learner.step(x[t], z, rstate)
                counts += z[0]
        if counts[0] == counts[1]:
            arm = int(torch.randint(0, 2, (1,), generator=gen))
        else:
            arm = int(counts.argmax())
        r = float(torch.rand(1, generator=gen) < self.p[arm])
        self.learner.reward(rstate, r - self.baseline)
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * r
        return r, arm


def play(trials: int = 400, **kwargs: Any) -> dict[str, Any]:
    """Run the bandit (options of :class:`Bandit`); returns the per-trial rewards and choices and the final weights."""
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials: expected a positive int, got {trials!r}")
    bandit = Bandit(**kwargs)
    rewards, choices = [], []
    for _ in range(trials):
        r, arm = bandit.trial()
        rewards.append(r)
        choices.append(arm)
    return {"rewards": rewards, "choices": choices, "weights": bandit.layer.weight.detach().clone()}


def _block_means(values: list[float], block: int) -> list[float]:
    return [sum(values[i : i + block]) / len(values[i : i + block]) for i in range(0, len(values), block)]
