"""Pieces every command-line task shares: options, the Trainer's run-folder settings, threads.

The application layer: it imports the library (``spikeflow.train``, ``spikeflow.exact``, ...),
never the reverse. ``spikeflow.train.tasks`` imports these modules to register their tasks, so
the imports of ``spikeflow.train.tasks`` here happen inside functions (no import cycle).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn


def add_common(parser: argparse.ArgumentParser, *, epochs: int, out: str) -> None:
    """--epochs --seed --out --device --resume --overwrite --no-progress (--limit, hidden)."""
    from ..train.tasks import add_common_arguments

    add_common_arguments(parser, epochs=epochs, out=out)


def config_of(args: argparse.Namespace) -> dict[str, Any]:
    """The options of a run, as metrics.json and the checkpoint record them (checked on resume)."""
    return {k: v for k, v in vars(args).items() if k not in ("func", "command")}


def trainer_options(args: argparse.Namespace, task: str, **info: Any) -> dict[str, Any]:
    """The Trainer keywords every task passes: device, run folder, seed, progress bar, info."""
    from pathlib import Path

    return dict(device=args.device, out_dir=Path(args.out), seed=args.seed,
                progress=False if args.no_progress else None,
                info={"task": task, **info, "config": config_of(args)})


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """torch.set_num_threads(n) for the block (None: unchanged), restored afterwards."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def rewrite_metrics(args: argparse.Namespace, metrics: dict[str, Any]) -> dict[str, Any]:
    """Write OUT/metrics.json again after a task added entries to the Trainer's metrics."""
    from pathlib import Path

    from ..train.checkpoint import write_json

    write_json(Path(args.out) / "metrics.json", metrics)
    return metrics


def accuracy_of(scores: Tensor, y: Tensor) -> Tensor:
    """Fraction of rows of ``scores`` [B, K] whose argmax is the label ``y`` [B]."""
    return (scores.argmax(1) == y).double().mean()


class EventPropNet(nn.Module):
    """``hidden`` then ``readout`` (spikeflow.exact layers); forward returns (readout output, hidden spikes).

    ``prepare`` (optional) turns the batch inputs into the hidden layer's spike times first.
    """

    def __init__(self, hidden: nn.Module, readout: nn.Module, prepare: Any = None) -> None:
        super().__init__()
        self.hidden, self.readout, self.prepare = hidden, readout, prepare

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.hidden(x if self.prepare is None else self.prepare(x))
        return self.readout(h), h
