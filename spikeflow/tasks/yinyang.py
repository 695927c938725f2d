"""``spikeflow train yinyang``: Yin-Yang 5-200-3 (Wunderlich & Pehle 2021) with EventProp, or a
surrogate-gradient BPTT baseline, trained by ``spikeflow.train.Trainer``.

eventprop: spike times [B, 5, 1] -> LIFLayer(5, H) -> LIFLayer(H, 3, one spike) -> TTFS cross-entropy;
           after every step the silent-neuron remedies (``--bump*``) nudge weights up.
bptt:      the same times as a raster [T, B, 5] -> ScaledLinear -> Synaptic -> ScaledLinear ->
           non-spiking Synaptic readout; cross-entropy on max_t V.
Both: Adam, the learning rate times ``--lr-decay`` after every epoch (ExponentialLR, continued on
``--resume``), validation and test accuracy after every epoch.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch
from torch import Tensor, nn

from ..train.argtypes import positive_float, positive_int
from ._common import EventPropNet, accuracy_of, add_common, threads, trainer_options

METHODS = ("eventprop", "bptt")
TAU_MEM, TAU_SYN = 20.0, 5.0
INIT = ((1.5, 0.78), (0.93, 0.1))  # (mean, std) of the input and output weights


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
    non-spiking sf.Synaptic readout (threshold never reached); raster [T, B, N] -> V [T, B, K]."""

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


def max_voltage_accuracy(v: Tensor, y: Tensor) -> Tensor:
    """Accuracy of the class with the largest max_t V (v [T, B, K])."""
    return accuracy_of(v.max(0).values, y)


class YinYangTask:
    """5-200-3 LIF network on Yin-Yang (Wunderlich & Pehle 2021 setup)."""

    name = "yinyang"
    help = "Yin-Yang 5-200-3 with EventProp (TTFS loss) or a surrogate-BPTT baseline"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_common(parser, epochs=30, out="runs/yinyang")
        parser.add_argument("--method", choices=METHODS, default="eventprop", help="eventprop (default) or bptt")
        parser.add_argument("--batch-size", type=positive_int, default=32, help="batch size (default 32)")
        parser.add_argument("--lr", type=positive_float, default=5e-3, help="Adam learning rate (default 5e-3)")
        parser.add_argument("--lr-decay", type=positive_float, default=0.9,
                            help="lr factor per epoch (default 0.9; the paper's 100-epoch schedule uses 0.95)")
        parser.add_argument("--dt", type=positive_float, default=0.5, help="grid step in ms (default 0.5)")
        parser.add_argument("--t-max", type=positive_float, default=40.0, help="trial length in ms (default 40)")
        parser.add_argument("--hidden", type=positive_int, default=200, help="hidden neurons (default 200)")
        parser.add_argument("--bump", type=float, default=0.01,
                            help="silent-neuron remedy: add this to the input weights of hidden neurons silent "
                                 "for a whole batch")
        parser.add_argument("--bump-output", type=float, default=0.0,
                            help="the same remedy for output neurons (default 0: off)")
        parser.add_argument("--bump-label", type=float, default=1e-3,
                            help="add this to the input weights of an output neuron silent on a sample of its own "
                                 "label (default 1e-3; such samples give no gradient)")
        parser.add_argument("--threads", type=positive_int, default=2, help="torch CPU threads (default 2)")
        parser.add_argument("--eps", type=float, default=0.2,
                            help="lower bound on I - threshold in spike jumps (default 0.2: near-tangential "
                                 "crossings, whose dt-grid jump 1/(I - threshold) is mostly error, otherwise "
                                 "destabilise training)")
        parser.add_argument("--clip", type=float, default=0.0, help="gradient-norm clipping (default 0: off)")
        parser.add_argument("--distributed", action="store_true",
                            help="data-parallel over the processes torchrun starts (gloo on CPU, nccl on GPU); "
                                 "--batch-size is the global batch (eventprop's bumps see the global batch)")

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        if args.clip < 0:
            raise ValueError(f"--clip: expected a norm >= 0 (0: off), got {args.clip}")
        from ..train import distributed as sfd

        with sfd.session(args.distributed, args.device) as ctx, threads(args.threads):
            return self._run(args, ctx)

    def _run(self, args: argparse.Namespace, ctx: Any) -> dict[str, Any]:
        from ..data.yinyang import encode_raster, encode_times, yinyang
        from ..exact import LIFLayer
        from ..exact.losses import (
            bump_silent,
            bump_silent_labels,
            max_voltage_cross_entropy,
            ttfs_correct,
            ttfs_cross_entropy,
        )
        from ..train import Step, Trainer
        from ..train import distributed as sfd

        torch.manual_seed(args.seed)
        splits = {s: yinyang(s, limit=args.limit).tensors for s in ("train", "validation", "test")}
        data = {s: (encode_times(x), y) for s, (x, y) in splits.items()}
        after_step = None
        if args.method == "eventprop":
            layer = dict(tau_mem=TAU_MEM, tau_syn=TAU_SYN, dt=args.dt, t_max=args.t_max, eps=args.eps)
            model: nn.Module = EventPropNet(
                LIFLayer(5, args.hidden, max_spikes=10, init_mean=INIT[0][0], init_std=INIT[0][1], **layer),
                LIFLayer(args.hidden, 3, max_spikes=1, init_mean=INIT[1][0], init_std=INIT[1][1], **layer))

            def loss_fn(out: Tensor, y: Tensor) -> Tensor:
                return ttfs_cross_entropy(out, y, tau0=0.5, tau1=6.4, alpha=3e-3, t_silent=args.t_max)

            def metric_fn(out: Tensor, y: Tensor) -> Tensor:
                return ttfs_correct(out, y).double().mean()

            def after_step(step: Step) -> None:  # the silent-neuron remedies, on the global batch
                hidden_times, outputs = sfd.all_gather_cat(step.result[1], math.inf), sfd.all_gather_cat(
                    step.outputs, math.inf)
                if args.bump > 0:
                    bump_silent(model.hidden.weight, hidden_times, args.bump)
                if args.bump_output > 0:
                    bump_silent(model.readout.weight, outputs, args.bump_output)
                if args.bump_label > 0:
                    bump_silent_labels(model.readout.weight, outputs, sfd.all_gather_cat(step.targets),
                                       args.bump_label)

            forward = _call
        else:
            n_steps = int(math.ceil(args.t_max / args.dt - 1e-9))
            model = BPTTNet((5, args.hidden, 3), INIT, TAU_MEM, TAU_SYN, args.dt)
            # rasters stored [B, T, N] so that batches index dim 0; the model sees [T, B, N]
            data = {s: (encode_raster(t, args.dt, n_steps).transpose(0, 1), y) for s, (t, y) in data.items()}
            loss_fn, metric_fn, forward = max_voltage_cross_entropy, max_voltage_accuracy, _time_major
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        trainer = Trainer(
            model, optimizer, loss_fn, metric_fn, forward=forward, after_step=after_step,
            scheduler=torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay),
            grad_clip=args.clip if args.clip > 0 else None, distributed=ctx.distributed,
            **trainer_options(args, self.name, method=args.method, threads=args.threads))
        train, val, test = batches(data, args.batch_size, ctx, args.seed)
        return trainer.fit(train, test, epochs=args.epochs, resume=args.resume, val_loader=val)


def batches(data: dict[str, tuple[Tensor, Tensor]], batch_size: int, ctx: Any, seed: int) -> tuple[Any, Any, Any]:
    """(train, validation, test) batches. One process: TensorBatches (train shuffled by a generator the
    Trainer checkpoints). Under a process group: each rank's share of every global batch of
    ``batch_size`` (a DistributedSampler seeded by ``seed``), validation and test split across ranks."""
    from torch.utils.data import TensorDataset

    from ..train import TensorBatches
    from ..train import distributed as sfd

    if not ctx.distributed:
        return (TensorBatches(*data["train"], batch_size=batch_size, shuffle=True, generator=torch.Generator()),
                TensorBatches(*data["validation"], batch_size=500), TensorBatches(*data["test"], batch_size=500))
    train = sfd.loader(TensorDataset(*data["train"]), batch_size, ctx, shuffle=True, seed=seed)
    val, test = (sfd.loader(TensorDataset(*data[s]), 500 * ctx.world_size, ctx, shuffle=False)
                 for s in ("validation", "test"))
    return train, val, test


def _call(model: nn.Module, x: Tensor) -> Any:
    return model(x)


def _time_major(model: nn.Module, x: Tensor) -> Any:
    return model(x.transpose(0, 1))


def register(tasks: dict) -> None:
    """Add the ``yinyang`` task to a CLI task registry."""
    tasks["yinyang"] = YinYangTask()
