"""``spikeflow train bandit``: reward-modulated STDP (MSTDPET) learns a two-armed bandit
(``spikeflow.online.bandit.Bandit``), run by ``spikeflow.train.Trainer`` so that it checkpoints,
resumes exactly and follows the run-folder rules like every task.

One epoch = ``--trials`` trials (one optimizer-free ``train_step`` each: the rule changes the
weights itself); ``--epochs`` (default 1) plays more of them. The checkpoint holds the weights,
the reward baseline, the bandit's random generator and every reward and choice so far.
Writes metrics.json (the common schema plus the reward summary) and reward.png.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..train.argtypes import positive_int


class BanditModule(nn.Module):
    """A Bandit as an nn.Module: the plastic weights are a parameter, the rest extra state."""

    def __init__(self, bandit: Any) -> None:
        super().__init__()
        self.bandit = bandit
        self.layer = bandit.layer
        self.rewards: list[float] = []
        self.choices: list[int] = []

    def get_extra_state(self) -> dict[str, Any]:
        return {"baseline": float(self.bandit.baseline), "generator": self.bandit.generator.get_state(),
                "rewards": torch.tensor(self.rewards, dtype=torch.float64),
                "choices": torch.tensor(self.choices, dtype=torch.int64)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.bandit.baseline = float(state["baseline"])
        self.bandit.generator.set_state(state["generator"])
        self.rewards = [float(r) for r in state["rewards"].tolist()]
        self.choices = [int(c) for c in state["choices"].tolist()]


class Trials:
    """``trials`` batches per pass, each the trial's number (the bandit makes its own inputs)."""

    def __init__(self, trials: int) -> None:
        self.trials = trials

    def __len__(self) -> int:
        return self.trials

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for k in range(self.trials):
            yield torch.tensor([k]), torch.zeros(1, dtype=torch.int64)


def _block_means(values: list[float], block: int) -> list[float]:
    return [sum(values[i : i + block]) / len(values[i : i + block]) for i in range(0, len(values), block)]


def _no_loss(out: Tensor, y: Tensor) -> Tensor:
    raise ValueError("loss_fn: the bandit task has no loss to evaluate")


class BanditTask:
    """``spikeflow train bandit``: R-STDP on a two-armed bandit; writes metrics.json and reward.png."""

    name = "bandit"
    help = "reward-modulated STDP (MSTDPET) learns a two-armed bandit (spikeflow.online.RewardSTDP)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--trials", type=positive_int, default=400, help="trials (default 400)")
        parser.add_argument("--p", type=float, nargs=2, default=(0.2, 0.8), metavar=("P0", "P1"),
                            help="reward probability of each arm (default 0.2 0.8)")
        parser.add_argument("--steps", type=positive_int, default=20, help="time steps per trial (default 20)")
        parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
        parser.add_argument("--out", default="runs/bandit", help="output folder (default runs/bandit)")
        parser.add_argument("--no-progress", action="store_true", help="do not print the summary")
        parser.add_argument("--epochs", type=positive_int, default=1,
                            help="rounds of --trials trials, a checkpoint after each (default 1)")
        parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
        parser.add_argument("--overwrite", action="store_true",
                            help="replace a run already in OUT (by default an existing run is refused)")

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        from ..online.bandit import Bandit
        from ..train import Trainer
        from ._common import config_of, rewrite_metrics

        bandit = Bandit(p=tuple(args.p), steps=args.steps, seed=args.seed)
        model = BanditModule(bandit)

        def train_step(module: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, None]:
            reward, arm = bandit.trial()
            model.rewards.append(reward)
            model.choices.append(arm)
            return torch.tensor([reward]), None

        def mean_reward(record: dict[str, Any]) -> None:
            trainer.history[-1]["mean_reward"] = sum(model.rewards[-args.trials:]) / args.trials

        trainer = Trainer(model, None, _no_loss, train_step=train_step, on_epoch_end=mean_reward, device="cpu",
                          out_dir=Path(args.out), seed=args.seed, progress=False if args.no_progress else None,
                          info={"task": self.name, "method": "rstdp", "config": config_of(args)})
        result = trainer.fit(Trials(args.trials), None, epochs=args.epochs, resume=args.resume)
        rewards, choices = model.rewards, model.choices
        n = len(rewards)
        block, quarter = max(1, n // 8), max(1, n // 4)
        best = int(args.p[1] > args.p[0])
        result.update({
            "trials": n, "p": list(args.p),
            "reward_first_quarter": sum(rewards[:quarter]) / quarter,
            "reward_last_quarter": sum(rewards[-quarter:]) / quarter,
            "best_arm_last_quarter": sum(c == best for c in choices[-quarter:]) / quarter,
            "reward_per_block": _block_means(rewards, block), "block": block,
        })
        from matplotlib.figure import Figure

        out = Path(args.out)
        fig = Figure(figsize=(5, 3), layout="constrained")
        ax = fig.subplots()
        ax.plot([block * (i + 0.5) for i in range(len(result["reward_per_block"]))], result["reward_per_block"], "o-")
        ax.axhline(max(args.p), ls="--", c="gray", label="best arm")
        ax.set_xlabel("trial")
        ax.set_ylabel(f"mean reward (blocks of {block})")
        ax.legend()
        fig.savefig(out / "reward.png", dpi=100)
        result["plot"] = str(out / "reward.png")
        if not args.no_progress:
            print(f"bandit: reward {result['reward_first_quarter']:.3f} (first quarter) -> "
                  f"{result['reward_last_quarter']:.3f} (last quarter); best arm chosen "
                  f"{result['best_arm_last_quarter']:.2f} of the last quarter", flush=True)
        return rewrite_metrics(args, result)


def register(tasks: dict) -> None:
    """Add the ``bandit`` task (R-STDP) to a CLI task registry."""
    tasks["bandit"] = BanditTask()
