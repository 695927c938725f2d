"""``spikeflow train digits --method eprop|ottt|stdp``: the online rules on scikit-learn's digits.

eprop: EPropNet (64 inputs -> ``--hidden`` recurrent LIF -> 10 leaky readouts, kappa = beta),
       per-step cross-entropy on the readout, e-prop gradients accumulated over each sequence,
       Adam (``--lr``), cosine schedule.
ottt:  sf.Sequential(Linear(64, hidden), Leaky(beta), Linear(hidden, 10), LI(beta)), per-step
       cross-entropy on the LI membrane, OTTT gradients accumulated over each sequence, Adam.
stdp:  unsupervised Diehl & Cook-style features (``spikeflow.online.diehl_cook``) and a linear
       readout on the spike counts.
Prediction: the class with the largest readout averaged over time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

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
    if args.resume:
        raise ValueError(f"--resume: not available for --method {args.method} (runs are short; rerun)")


def _ce(out: Tensor, y: Tensor) -> Tensor:
    return nn.functional.cross_entropy(out, y)


def _accuracy(outputs: Tensor, y: Tensor) -> float:
    return float((outputs.mean(0).argmax(1) == y).float().mean())


def _build(args: argparse.Namespace, device: torch.device) -> tuple[nn.Module, Any]:
    from .. import LI, Leaky, Sequential
    from .eprop import EProp, EPropNet
    from .ottt import OTTT

    if args.method == "eprop":
        net = EPropNet(64, args.hidden, 10, neuron="lif", beta=args.beta, kappa=args.beta, threshold=1.0).to(device)
        with torch.no_grad():
            net.recurrent.weight.mul_(0.5)
        return net, EProp(net, feedback=args.feedback, reg=args.reg, f_target=0.1)
    net = Sequential(nn.Linear(64, args.hidden), Leaky(beta=args.beta), nn.Linear(args.hidden, 10),
                     LI(beta=args.beta)).to(device)
    return net, OTTT(net)


def _evaluate(forward: Callable[[Tensor], Tensor], loader: DataLoader, encode: Callable, device: torch.device) -> float:
    correct, count = 0.0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            out = forward(encode(x))
            correct += _accuracy(out, y) * len(y)
            count += len(y)
    return correct / count


def run_gradient_method(args: argparse.Namespace, encode: Callable[[Tensor], Tensor]) -> dict[str, Any]:
    """Train with e-prop or OTTT; returns (and writes) the metrics."""
    from ..data import digits
    from ..train.checkpoint import write_json
    from ..train.seed import seed_everything

    started = time.perf_counter()
    device = torch.device(args.device)
    generator = seed_everything(args.seed)
    train_set, test_set = digits("train", limit=args.limit), digits("test", limit=args.limit)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=generator)
    test_loader = DataLoader(test_set, batch_size=256, shuffle=False)
    net, learner = _build(args, device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    forward = (lambda s: net(s)[0]) if args.method == "eprop" else (lambda s: learner.forward_sequence(s)[0])
    history = []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        total_loss, total_acc, count = 0.0, 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            out, loss = learner.train_sequence(encode(x), y, _ce, update="accumulate")
            optimizer.step()
            total_loss += float(loss) * len(y)
            total_acc += _accuracy(out, y) * len(y)
            count += len(y)
        scheduler.step()
        net.eval()
        record = {"epoch": epoch, "train_loss": total_loss / count, "train_accuracy": total_acc / count,
                  "test_accuracy": _evaluate(forward, test_loader, encode, device),
                  "seconds": time.perf_counter() - t0}
        history.append(record)
        if not args.no_progress:
            print(f"epoch {epoch}: train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.3f} | "
                  f"test acc {record['test_accuracy']:.3f}", flush=True)
    result = {"task": "digits", "method": args.method,
              "config": {k: v for k, v in vars(args).items() if k not in ("func", "command")},
              "test_accuracy": history[-1]["test_accuracy"], "train_accuracy": history[-1]["train_accuracy"],
              "train_loss": history[-1]["train_loss"], "epochs": args.epochs, "seed": args.seed,
              "history": history, "seconds": time.perf_counter() - started}
    write_json(Path(args.out) / "metrics.json", result)
    return result


def run_digits(args: argparse.Namespace, encode: Callable[[Tensor], Tensor]) -> dict[str, Any]:
    """Dispatch ``--method`` (not bptt) for the digits task."""
    if args.method not in ONLINE_METHODS:
        raise ValueError(f"--method: expected one of bptt, {', '.join(ONLINE_METHODS)}, got {args.method!r}")
    check_online_args(args)
    if args.method == "stdp":
        from .diehl_cook import run_stdp_digits

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
