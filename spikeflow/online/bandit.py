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

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..neurons import Leaky
from .rstdp import RewardSTDP


def play(
    trials: int = 400,
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
) -> dict[str, Any]:
    """Run the bandit; returns the per-trial rewards and choices and the final weights."""
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials: expected a positive int, got {trials!r}")
    if len(p) != 2 or not all(0.0 <= q <= 1.0 for q in p):
        raise ValueError(f"p: expected two reward probabilities in [0, 1], got {p!r}")
    gen = torch.Generator().manual_seed(seed)
    layer = nn.Linear(n_in, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(0.3 + 0.02 * torch.rand(2, n_in, generator=gen))
    neuron = Leaky(beta=0.9, threshold=1.0, inhibition=True)
    learner = RewardSTDP(layer, a_plus=a_plus, a_minus=a_minus, tau_pre=5.0, tau_post=5.0,
                         tau_eligibility=tau_eligibility, bounds="multiplicative", w_min=0.0, w_max=1.0)
    rewards, choices, baseline = [], [], 0.5
    for _ in range(trials):
        x = (torch.rand(steps, 1, n_in, generator=gen) < input_rate).float()
        state, rstate, counts = None, None, torch.zeros(2)
        with torch.no_grad():
            for t in range(steps):
                drive = layer(x[t]) + noise * torch.rand(1, 2, generator=gen)  # private noise: exploration
                z, state = neuron.step(drive, state)
                rstate = learner.step(x[t], z, rstate)
                counts += z[0]
        if counts[0] == counts[1]:
            arm = int(torch.randint(0, 2, (1,), generator=gen))
        else:
            arm = int(counts.argmax())
        r = float(torch.rand(1, generator=gen) < p[arm])
        learner.reward(rstate, r - baseline)
        baseline = baseline_decay * baseline + (1 - baseline_decay) * r
        rewards.append(r)
        choices.append(arm)
    return {"rewards": rewards, "choices": choices, "weights": layer.weight.detach().clone()}


def _block_means(values: list[float], block: int) -> list[float]:
    return [sum(values[i : i + block]) / len(values[i : i + block]) for i in range(0, len(values), block)]


class BanditTask:
    """``spikeflow train bandit``: R-STDP on a two-armed bandit; writes metrics.json and reward.png."""

    name = "bandit"
    help = "reward-modulated STDP (MSTDPET) learns a two-armed bandit (spikeflow.online.RewardSTDP)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--trials", type=int, default=400, help="trials (default 400)")
        parser.add_argument("--p", type=float, nargs=2, default=(0.2, 0.8), metavar=("P0", "P1"),
                            help="reward probability of each arm (default 0.2 0.8)")
        parser.add_argument("--steps", type=int, default=20, help="time steps per trial (default 20)")
        parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
        parser.add_argument("--out", default="runs/bandit", help="output folder (default runs/bandit)")
        parser.add_argument("--no-progress", action="store_true", help="do not print the summary")

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        from ..train.checkpoint import write_json

        started = time.perf_counter()
        res = play(args.trials, p=tuple(args.p), steps=args.steps, seed=args.seed)
        rewards, choices = res["rewards"], res["choices"]
        block = max(1, args.trials // 8)
        quarter = max(1, args.trials // 4)
        best = int(args.p[1] > args.p[0])
        result = {
            "task": "bandit", "method": "rstdp", "seed": args.seed, "trials": args.trials, "p": list(args.p),
            "reward_first_quarter": sum(rewards[:quarter]) / quarter,
            "reward_last_quarter": sum(rewards[-quarter:]) / quarter,
            "best_arm_last_quarter": sum(c == best for c in choices[-quarter:]) / quarter,
            "reward_per_block": _block_means(rewards, block), "block": block,
            "seconds": time.perf_counter() - started,
        }
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 3), layout="constrained")
        ax = fig.subplots()
        ax.plot([block * (i + 0.5) for i in range(len(result["reward_per_block"]))], result["reward_per_block"], "o-")
        ax.axhline(max(args.p), ls="--", c="gray", label="best arm")
        ax.set_xlabel("trial")
        ax.set_ylabel(f"mean reward (blocks of {block})")
        ax.legend()
        fig.savefig(out / "reward.png", dpi=100)
        result["plot"] = str(out / "reward.png")
        write_json(out / "metrics.json", result)
        if not args.no_progress:
            print(f"bandit: reward {result['reward_first_quarter']:.3f} (first quarter) -> "
                  f"{result['reward_last_quarter']:.3f} (last quarter); best arm chosen "
                  f"{result['best_arm_last_quarter']:.2f} of the last quarter", flush=True)
        return result
