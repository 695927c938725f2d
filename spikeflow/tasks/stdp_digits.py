"""``spikeflow train digits --method stdp``: unsupervised Diehl & Cook-style STDP features
(``spikeflow.online.diehl_cook``) trained by ``spikeflow.train.Trainer`` (the rule changes the
weights itself: ``train_step`` with no optimizer), then two readouts on the spike counts.

``--hidden`` excitatory neurons, ``--steps`` Poisson steps per image, ``--epochs`` unsupervised
passes, ``--batch-size`` images learned together. The Poisson spikes come from the data-order
generator, so a resumed run sees the same spikes. After training: a logistic regression and
Diehl & Cook's vote on the counts, next to the same readouts of the untrained network.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import Tensor, nn

RATE = 1.0  # spike probability per step of a white pixel


class DiehlCookModule(nn.Module):
    """A DiehlCook network as an nn.Module: its weights are a parameter, its thresholds extra state."""

    def __init__(self, network: Any) -> None:
        super().__init__()
        self.network = network
        self.weight = network.weight  # the plastic nn.Linear (registered: saved in the checkpoint)

    def get_extra_state(self) -> dict[str, Tensor]:
        return {"theta": self.network.theta}

    def set_extra_state(self, state: dict[str, Tensor]) -> None:
        self.network.theta = state["theta"].clone()


def run_stdp_digits(args: argparse.Namespace) -> dict[str, Any]:
    """Train, then report the readouts of the trained and the untrained features; writes metrics.json."""
    from ..data import digits_tensors
    from ..online.diehl_cook import DiehlCook, features, linear_readout_accuracy, poisson, vote_accuracy
    from ..train import TensorBatches, Trainer, seed_everything
    from ._common import rewrite_metrics, trainer_options

    if args.encoding != "rate":
        raise ValueError(f"--encoding: --method stdp uses Poisson rate coding, got {args.encoding!r}")
    if args.device != "cpu":
        raise ValueError(f"--device: --method stdp runs on the CPU, got {args.device!r}")
    gen = seed_everything(args.seed)  # data order and Poisson spikes (the Trainer seeds it again at the start)
    init = torch.Generator().manual_seed(2 * args.seed + 1)  # initial weights: a stream of their own
    x_train, y_train, x_test, y_test = digits_tensors()
    if args.limit is not None:
        n = args.limit
        x_train, y_train, x_test, y_test = x_train[:n], y_train[:n], x_test[:n], y_test[:n]
    network = DiehlCook(64, args.hidden, beta=args.beta, generator=init)
    before = features(network, x_train, args.steps, RATE, init), features(network, x_test, args.steps, RATE, init)
    batches = TensorBatches(x_train, y_train, batch_size=args.batch_size, shuffle=True, generator=gen)

    def train_step(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, None]:
        return network.run(poisson(x, args.steps, RATE, gen), learn=True), None

    def threshold_rise(record: dict[str, Any]) -> None:
        trainer.history[-1]["mean_threshold_rise"] = float(network.theta.mean())

    trainer = Trainer(DiehlCookModule(network), None, _no_loss, train_step=train_step, on_epoch_end=threshold_rise,
                      **trainer_options(args, "digits", method="stdp"))
    result = trainer.fit(batches, None, epochs=args.epochs, resume=args.resume)
    train_f = features(network, x_train, args.steps, RATE, gen)
    test_f = features(network, x_test, args.steps, RATE, gen)
    result.update({
        "test_accuracy": linear_readout_accuracy(train_f, y_train, test_f, y_test, args.seed),
        "vote_test_accuracy": vote_accuracy(train_f, y_train, test_f, y_test),
        "untrained_test_accuracy": linear_readout_accuracy(before[0], y_train, before[1], y_test, args.seed),
        "untrained_vote_test_accuracy": vote_accuracy(before[0], y_train, before[1], y_test),
        "mean_spikes_per_image": float(test_f.sum(1).mean()),
    })
    if not args.no_progress:
        print(f"stdp features: linear readout test acc {result['test_accuracy']:.3f}, vote "
              f"{result['vote_test_accuracy']:.3f} (untrained weights: {result['untrained_test_accuracy']:.3f}, "
              f"vote {result['untrained_vote_test_accuracy']:.3f})", flush=True)
    return rewrite_metrics(args, result)


def _no_loss(out: Tensor, y: Tensor) -> Tensor:
    raise ValueError("loss_fn: --method stdp is unsupervised (it has no loss to evaluate)")
