"""``spikeflow train digits --method eprop|ottt|stdp``: the online rules on scikit-learn's digits,
trained by ``spikeflow.train.Trainer`` (resume, device, run-folder rules as for every task).

eprop: EPropNet (64 inputs -> ``--hidden`` recurrent LIF -> 10 leaky readouts, kappa = beta),
       per-step cross-entropy on the readout, e-prop gradients accumulated over each sequence
       (the Trainer's ``train_step`` hook), Adam (``--lr``), cosine schedule (CosineSchedule).
ottt:  sf.Sequential(Linear(64, hidden), Leaky(beta), Linear(hidden, 10), LI(beta)), per-step
       cross-entropy on the LI membrane, OTTT gradients accumulated over each sequence, Adam.
stdp:  unsupervised Diehl & Cook-style features (``spikeflow.online.diehl_cook``; the rule updates
       the weights itself, no optimizer), then a linear readout on the spike counts after training.
Prediction (eprop, ottt): the class with the largest readout averaged over time.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

import torch
from torch import Tensor, nn

ONLINE_METHODS = ("eprop", "ottt", "stdp")


def check_method_args(args: argparse.Namespace) -> None:
    """Options that only one method reads must keep their defaults under the others."""
    method = getattr(args, "method", "bptt")
    eprop_options = (getattr(args, "feedback", "symmetric"), getattr(args, "reg", 0.0))
    if method != "eprop" and eprop_options != ("symmetric", 0.0):
        raise ValueError(f"--feedback / --reg: e-prop options, but --method is {method!r}")
    if method == "stdp" and getattr(args, "lr", 1e-2) != 1e-2:
        raise ValueError("--lr: --method stdp has no optimizer (its readout is a logistic regression)")


def check_online_args(args: argparse.Namespace) -> None:
    """The BPTT-only options must keep their defaults: nothing is silently ignored."""
    if args.population != 1:
        raise ValueError(f"--population: only --method bptt has a population code, got {args.population}")
    if args.loss != "ce_count":
        raise ValueError(f"--loss: --method {args.method} uses a per-step cross-entropy; --loss is for bptt, "
                         f"got {args.loss!r}")
    quant = {"weight_bits": None, "state_bits": None, "weight_scheme": "int", "per_channel": False,
             "state_levels": "uniform", "schedule": "cosine", "periods": 3}
    changed = [f for f, default in quant.items() if hasattr(args, f) and getattr(args, f) != default]
    if changed:
        raise ValueError(f"--{changed[0].replace('_', '-')}: a --method bptt option (quantization-aware training, "
                         f"schedule); --method {args.method} uses a cosine schedule in float")
    if getattr(args, "distributed", False):
        raise ValueError(f"--distributed: not available for --method {args.method}")
    if getattr(args, "tensorboard", False):
        raise ValueError(f"--tensorboard: not available for --method {args.method}")


def _ce(out: Tensor, y: Tensor) -> Tensor:
    return nn.functional.cross_entropy(out, y)


def sequence_ce(outputs: Tensor, y: Tensor) -> Tensor:
    """(1/T) sum_t cross-entropy(outputs[t], y): the loss the online rules descend (outputs [T, B, K])."""
    return torch.stack([_ce(o, y) for o in outputs.unbind(0)]).mean()


def mean_accuracy(outputs: Tensor, y: Tensor) -> float:
    """Accuracy of the class with the largest readout averaged over time (outputs [T, B, K])."""
    return float((outputs.mean(0).argmax(1) == y).double().mean())


def _build(args: argparse.Namespace, device: torch.device) -> tuple[nn.Module, Any]:
    from .. import LI, Leaky, Sequential
    from ..online.eprop import EProp, EPropNet
    from ..online.ottt import OTTT

    if args.method == "eprop":
        net = EPropNet(64, args.hidden, 10, neuron="lif", beta=args.beta, kappa=args.beta, threshold=1.0).to(device)
        with torch.no_grad():
            net.recurrent.weight.mul_(0.5)
        return net, EProp(net, feedback=args.feedback, reg=args.reg, f_target=0.1)
    net = Sequential(nn.Linear(64, args.hidden), Leaky(beta=args.beta), nn.Linear(args.hidden, 10),
                     LI(beta=args.beta)).to(device)
    return net, OTTT(net)


def run_gradient_method(args: argparse.Namespace, encode: Callable[[Tensor], Tensor]) -> dict[str, Any]:
    """Train with e-prop or OTTT through the Trainer; returns (and writes) the metrics."""
    from torch.utils.data import DataLoader

    from ..data import digits
    from ..train import CosineSchedule, Trainer, seed_everything
    from ._common import trainer_options

    generator = seed_everything(args.seed)
    train_loader = DataLoader(digits("train", limit=args.limit), batch_size=args.batch_size, shuffle=True,
                              generator=generator)
    test_loader = DataLoader(digits("test", limit=args.limit), batch_size=256, shuffle=False)
    net, learner = _build(args, torch.device(args.device))
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)

    def train_step(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return learner.train_sequence(encode(x), y, _ce, update="accumulate")

    def forward(model: nn.Module, x: Tensor) -> Any:
        return model(encode(x)) if args.method == "eprop" else learner.forward_sequence(encode(x))

    trainer = Trainer(net, optimizer, sequence_ce, mean_accuracy, forward=forward, train_step=train_step,
                      scheduler=CosineSchedule(optimizer, args.epochs),
                      **trainer_options(args, "digits", method=args.method))
    return trainer.fit(train_loader, test_loader, epochs=args.epochs, resume=args.resume)


def run_digits(args: argparse.Namespace, encode: Callable[[Tensor], Tensor]) -> dict[str, Any]:
    """Dispatch ``--method`` (not bptt) for the digits task."""
    if args.method not in ONLINE_METHODS:
        raise ValueError(f"--method: expected one of bptt, {', '.join(ONLINE_METHODS)}, got {args.method!r}")
    check_online_args(args)
    if args.method == "stdp":
        from .stdp_digits import run_stdp_digits

        return run_stdp_digits(args)
    return run_gradient_method(args, encode)


def add_online_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the online methods (used only with --method eprop|ottt|stdp)."""
    parser.add_argument("--method", choices=("bptt", *ONLINE_METHODS), default="bptt",
                        help="learning rule: bptt (surrogate-gradient BPTT, default), eprop, ottt (online, "
                             "spikeflow.online) or stdp (unsupervised Diehl & Cook features + linear readout)")
    parser.add_argument("--feedback", choices=("symmetric", "random"), default="symmetric",
                        help="e-prop learning-signal feedback (default symmetric)")
    parser.add_argument("--reg", type=float, default=0.0, help="e-prop firing-rate regularisation (default 0)")
