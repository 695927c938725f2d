"""``spikeflow train spoken-digits``: a recurrent SNN on espeak-ng spoken digits (held-out voices
in test), cochlea-encoded, trained by ``spikeflow.train.Trainer``.

bptt (default):  the recurrent surrogate-gradient network of ``spikeflow.tasks.tonic_tasks``.
eventprop:       spikeflow.exact's recurrent LIFLayer (EventProp) -> LIReadout on the frames as spike
                 times (frame t fires at t * ``--step-ms``), cross-entropy on max_t V (or on
                 sum_t e^(-t/T) V); silent hidden neurons get their input weights bumped after every step.
Both: Adam with a cosine schedule over ``--epochs`` (``CosineSchedule``: extendable on ``--resume``).
"""

from __future__ import annotations

import argparse
import math
from functools import partial
from typing import Any

import torch
from torch import Tensor

from ..train.argtypes import positive_float, positive_int
from ._common import EventPropNet, accuracy_of, threads, trainer_options
from .tonic_tasks import add_training, train_surrogate


def raster_to_times(raster: Tensor, step_ms: float) -> Tensor:
    """Binary raster [T, B, N] -> spike times [B, N, K] in ms (step t fires at t * step_ms; +inf pads)."""
    T, B, N = raster.shape
    counts = raster.sum(0)
    K = max(int(counts.max()), 1)
    t_idx = torch.arange(T, dtype=raster.dtype, device=raster.device)[:, None, None].expand(T, B, N)
    times = torch.where(raster > 0, t_idx * step_ms, torch.full_like(raster, math.inf))
    return times.sort(0).values[:K].permute(1, 2, 0).contiguous()


def _frames_to_times(step_ms: float, x: Tensor) -> Tensor:
    """Frames [B, T, N] (batch-first, as stored) -> spike times [B, N, K]."""
    return raster_to_times(x.transpose(0, 1), step_ms)


def _call(model: torch.nn.Module, x: Tensor) -> Any:
    return model(x)


def train_eventprop(train_set: Any, test_set: Any, args: argparse.Namespace, ctx: Any = None) -> dict[str, Any]:
    """spikeflow.exact: recurrent LIFLayer (EventProp) -> LIReadout, V cross-entropy, through the Trainer.

    With ``args.distributed`` (under torchrun): DDP on each rank's share of every global batch; the
    silent-neuron bump sees the spikes of the whole global batch (the same bump on every rank).
    ``ctx``: the distributed session's Context when the caller opened it (else opened here)."""
    from ..train import distributed as sfd

    if ctx is not None:
        return _train_eventprop(train_set, test_set, args, ctx)
    with sfd.session(getattr(args, "distributed", False), args.device) as ctx:
        return _train_eventprop(train_set, test_set, args, ctx)


def _train_eventprop(train_set: Any, test_set: Any, args: argparse.Namespace, ctx: Any) -> dict[str, Any]:
    from ..exact import LIFLayer, LIReadout
    from ..exact.losses import bump_silent, max_voltage_cross_entropy, sum_exp_voltage_cross_entropy
    from ..train import CosineSchedule, Step, TensorBatches, Trainer, seed_everything
    from ..train import distributed as sfd

    generator = seed_everything(args.seed)
    x_tr, y_tr = train_set.tensors
    x_te, y_te = test_set.tensors
    t_max = x_tr.shape[1] * args.step_ms + 5.0
    model = EventPropNet(
        LIFLayer(x_tr.shape[2], args.hidden, dt=args.dt, t_max=t_max, max_spikes=args.max_spikes, recurrent=True,
                 init_mean=args.init_mean, init_std=args.init_std, rec_std=args.rec_std, eps=0.2),
        LIReadout(args.hidden, 10, dt=args.dt, t_max=t_max, init_mean=0.0, init_std=args.readout_std),
        prepare=partial(_frames_to_times, args.step_ms))

    def loss_fn(v: Tensor, y: Tensor) -> Tensor:
        if args.ep_loss == "max":
            return max_voltage_cross_entropy(v, y)
        return sum_exp_voltage_cross_entropy(v, y, dt=args.dt)

    def metric_fn(v: Tensor, y: Tensor) -> Tensor:
        return accuracy_of(v.max(0).values if args.ep_loss == "max" else v.sum(0), y)

    def after_step(step: Step) -> None:
        bump_silent(model.hidden.weight, sfd.all_gather_cat(step.result[1], math.inf), 0.01)

    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    trainer = Trainer(model, optimizer, loss_fn, metric_fn, forward=_call, after_step=after_step,
                      scheduler=CosineSchedule(optimizer, args.epochs), distributed=ctx.distributed,
                      **trainer_options(args, "spoken-digits", method="eventprop", train_samples=len(y_tr),
                                        test_samples=len(y_te)))
    train: Any
    test: Any
    if ctx.distributed:
        from torch.utils.data import TensorDataset

        train, test = sfd.task_loaders(TensorDataset(x_tr, y_tr), TensorDataset(x_te, y_te), args.batch_size, ctx,
                                       seed=args.seed)
    else:
        train = TensorBatches(x_tr, y_tr, batch_size=args.batch_size, shuffle=True, generator=generator)
        test = TensorBatches(x_te, y_te, batch_size=256)
    with threads(args.threads):
        return trainer.fit(train, test, epochs=args.epochs, resume=args.resume)


class SpokenDigitsTask:
    """Recurrent SNN on espeak-ng spoken digits (held-out voices in test), cochlea-encoded."""

    name = "spoken-digits"
    help = "recurrent SNN on espeak-ng spoken digits (test = held-out voices), BPTT or EventProp"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from ..data.spoken_digits import ACCENTS

        add_training(parser, epochs=20, out="runs/spoken-digits", hidden=128, lr=2e-3)
        parser.add_argument("--method", choices=("bptt", "eventprop"), default="bptt",
                            help="bptt (surrogate gradient, RLeaky; default) or eventprop (spikeflow.exact, "
                                 "recurrent LIFLayer)")
        parser.add_argument("--data-dir", default=None,
                            help="cache folder for the generated data (default ~/.cache/spikeflow)")
        parser.add_argument("--renditions", type=positive_int, default=2,
                            help="utterances per voice, accent and digit (default 2)")
        parser.add_argument("--max-variants", type=positive_int, default=None,
                            help="use only the first N espeak-ng voice variants (default: all)")
        parser.add_argument("--accents", default=",".join(ACCENTS),
                            help=f"comma-separated espeak-ng English voices (default {','.join(ACCENTS)})")
        # EventProp options
        parser.add_argument("--dt", type=positive_float, default=1.0, help="eventprop: grid step in ms (default 1)")
        parser.add_argument("--step-ms", type=positive_float, default=2.0,
                            help="eventprop: ms per input frame (default 2)")
        parser.add_argument("--max-spikes", type=positive_int, default=16,
                            help="eventprop: spikes kept per hidden neuron (default 16)")
        parser.add_argument("--init-mean", type=float, default=0.06, help="eventprop: input weight mean (default 0.06)")
        parser.add_argument("--init-std", type=positive_float, default=0.06,
                            help="eventprop: input weight std (default 0.06)")
        parser.add_argument("--rec-std", type=positive_float, default=0.02, help="eventprop: recurrent weight std")
        parser.add_argument("--ep-loss", choices=("max", "sum-exp"), default="max",
                            help="eventprop: cross-entropy on max_t V (default) or on sum_t e^(-t/T) V")
        parser.add_argument("--readout-std", type=positive_float, default=0.5,
                            help="eventprop: readout weight std (default 0.5)")

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        from ..data.spoken_digits import spoken_digits

        accents = tuple(a.strip() for a in args.accents.split(",") if a.strip())
        if not accents:
            raise ValueError(f"--accents: expected at least one espeak-ng voice, got {args.accents!r}")
        if args.method == "bptt":
            eventprop_only = {"dt": 1.0, "step_ms": 2.0, "max_spikes": 16, "init_mean": 0.06, "init_std": 0.06,
                              "rec_std": 0.02, "ep_loss": "max", "readout_std": 0.5}
            changed = [k for k, v in eventprop_only.items() if getattr(args, k) != v]
            if changed:
                raise ValueError(f"--{changed[0].replace('_', '-')}: an eventprop option, but --method is bptt")
        elif args.beta != 0.95 or args.in_scale != 1.0:
            raise ValueError("--beta / --in-scale: options of --method bptt, but --method is eventprop")
        opts: dict[str, Any] = {"renditions": args.renditions, "max_variants": args.max_variants, "accents": accents}
        from ..train import distributed as sfd

        with sfd.session(args.distributed, args.device) as ctx:
            with sfd.main_first(ctx):  # rank 0 generates the cached data, the other ranks then read it
                train = spoken_digits("train", data_dir=args.data_dir, limit=args.limit, **opts)
                test = spoken_digits("test", data_dir=args.data_dir, limit=args.limit, **opts)
            if args.method == "eventprop":
                return train_eventprop(train, test, args, ctx)
            return train_surrogate(train, test, args, self.name, ctx=ctx)


def register(tasks: dict) -> None:
    """Add the ``spoken-digits`` task to a CLI task registry."""
    tasks["spoken-digits"] = SpokenDigitsTask()
