"""Command-line tasks on sequence data: ``nmnist``, ``shd``, ``dvsgesture`` (tonic) and ``spoken-digits``.

All train a recurrent SNN on time-major frames [T, B, F]:

    x -> Linear(F, H) -> RLeaky(H, all-to-all recurrence) -> Linear(H, K) -> LI readout v[T, B, K]
    logits = sum_t mask[t] v[t] / length,   loss = cross-entropy(logits, label)

``spoken-digits --method eventprop`` trains spikeflow.exact's recurrent LIF layer (EventProp)
with an LI readout instead. Each writes OUT/metrics.json. Missing data is a one-line error
saying how to get it (``DataNotFoundError``, exit code 1); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..train.argtypes import positive_float, positive_int
from .base import DataNotFoundError
from .events import pad_time_major


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


class RecurrentClassifier(nn.Module):
    """Linear -> RLeaky (all-to-all) -> Linear -> LI; forward(x [T, B, F], mask [T, B]) -> logits [B, K]."""

    def __init__(self, n_in: int, hidden: int, n_out: int, *, beta: float = 0.95, readout_beta: float = 0.95,
                 in_scale: float = 1.0) -> None:
        super().__init__()
        from ..neurons import LI, RLeaky
        from ..surrogate import FastSigmoid

        self.fc_in = nn.Linear(n_in, hidden)
        with torch.no_grad():
            self.fc_in.weight.mul_(in_scale)
        self.lif = RLeaky(beta=beta, linear_features=hidden, surrogate=FastSigmoid())
        with torch.no_grad():
            self.lif.recurrent.weight.mul_(0.5)
        self.fc_out = nn.Linear(hidden, n_out)
        self.readout = LI(beta=readout_beta)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """logits [B, K] and the hidden spikes [T, B, H]."""
        spikes, _ = self.lif(self.fc_in(x.flatten(2)))
        v, _ = self.readout(self.fc_out(spikes))
        if mask is None:
            return v.mean(0), spikes
        m = mask.to(v.dtype)[..., None]
        return (v * m).sum(0) / m.sum(0).clamp_min(1.0), spikes


def _loaders(train_set: Any, test_set: Any, batch_size: int, seed: int) -> tuple[DataLoader, DataLoader]:
    g = torch.Generator().manual_seed(seed)
    train = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=g, collate_fn=pad_time_major)
    test = DataLoader(test_set, batch_size=256, shuffle=False, collate_fn=pad_time_major)
    return train, test


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """torch.set_num_threads(n) for the block (None: unchanged), restored afterwards."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _write(out: str, metrics: dict[str, Any]) -> None:
    from ..train.checkpoint import write_json

    write_json(Path(out) / "metrics.json", metrics)


def train_surrogate(train_set: Any, test_set: Any, args: argparse.Namespace, name: str) -> dict[str, Any]:
    """BPTT with a surrogate gradient on :class:`RecurrentClassifier`; returns the metrics dict."""
    from ..train.seed import seed_everything

    seed_everything(args.seed)
    device = torch.device(args.device)
    n_in, n_out = train_set.info.features, train_set.info.num_classes
    model = RecurrentClassifier(n_in, args.hidden, n_out, beta=args.beta, in_scale=args.in_scale).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    train_loader, test_loader = _loaders(train_set, test_set, args.batch_size, args.seed)
    history, t0 = [], time.perf_counter()

    def evaluate() -> float:
        model.eval()
        good = total = 0
        with torch.no_grad():
            for x, y, mask in test_loader:
                logits, _ = model(x.to(device), mask.to(device))
                good += int((logits.argmax(1).cpu() == y).sum())
                total += len(y)
        return good / max(total, 1)

    for epoch in range(args.epochs):
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        model.train()
        loss_sum = good = total = 0.0
        for x, y, mask in train_loader:
            x, y, mask = x.to(device), y.to(device), mask.to(device)
            logits, spikes = model(x, mask)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(y)
            good += float((logits.argmax(1) == y).sum())
            total += len(y)
        sched.step()
        row = {"epoch": epoch + 1, "loss": loss_sum / total, "train_accuracy": good / total,
               "test_accuracy": evaluate(), "seconds": time.perf_counter() - t0}
        history.append(row)
        if not args.no_progress:
            print(json.dumps(row), flush=True)
    return {"task": name, "method": "bptt", "seed": args.seed, "epochs": args.epochs, "hidden": args.hidden,
            "test_accuracy": history[-1]["test_accuracy"], "train_samples": len(train_set),
            "test_samples": len(test_set), "history": history, "seconds": time.perf_counter() - t0}


def _add_training(parser: argparse.ArgumentParser, *, epochs: int, out: str, hidden: int, lr: float) -> None:
    parser.add_argument("--epochs", type=positive_int, default=epochs, help=f"training epochs (default {epochs})")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and data order (default 0)")
    parser.add_argument("--out", default=out, help=f"output folder for metrics.json (default {out})")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--no-progress", action="store_true", help="do not print one line per epoch")
    parser.add_argument("--hidden", type=positive_int, default=hidden, help=f"recurrent neurons (default {hidden})")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default 64)")
    parser.add_argument("--lr", type=positive_float, default=lr, help=f"Adam learning rate (default {lr})")
    parser.add_argument("--beta", type=_fraction, default=0.95, help="membrane decay per step (default 0.95)")
    parser.add_argument("--in-scale", type=positive_float, default=1.0,
                        help="factor on the initial input weights (default 1)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch CPU threads (default: torch's choice; 1 is fastest on a busy machine)")
    parser.add_argument("--limit", type=positive_int, default=None, help=argparse.SUPPRESS)


class TonicTask:
    """Recurrent SNN on a tonic event data set read from ``--data-dir``."""

    def __init__(self, name: str, help_: str, framing: str, default_frame: float, spatial_factor: float | None,
                 two_d: bool = True) -> None:
        self.name, self.help, self.two_d = name, help_, two_d
        self.framing, self.default_frame, self.spatial_factor = framing, default_frame, spatial_factor

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data-dir", required=True,
                            help="folder holding tonic's extracted files (e.g. DIR/NMNIST/Train/...)")
        _add_training(parser, epochs=10, out=f"runs/{self.name}", hidden=256, lr=2e-3)
        if self.framing == "time_window":
            parser.add_argument("--time-window", type=positive_float, default=self.default_frame,
                                help=f"µs per frame (tonic ToFrame time_window; default {self.default_frame:g})")
        else:
            parser.add_argument("--time-bins", type=positive_int, default=int(self.default_frame),
                                help=f"frames per sample (tonic ToFrame n_time_bins; "
                                     f"default {int(self.default_frame)})")
        if self.two_d:  # tonic's Denoise and RefractoryPeriod need x and y
            parser.add_argument("--denoise", type=positive_float, default=None,
                                help="tonic Denoise filter_time in µs (default: off)")
            parser.add_argument("--refractory", type=positive_float, default=None,
                                help="tonic RefractoryPeriod delta in µs (default: off)")
        if self.spatial_factor is not None:
            parser.add_argument("--spatial-factor", type=positive_float, default=self.spatial_factor,
                                help=f"tonic Downsample spatial_factor (default {self.spatial_factor:g})")
        parser.add_argument("--cache-dir", default=None, help="cache frames on disk here (folder named by the "
                                                              "transform's hash; default: no cache)")
        parser.add_argument("--max-shift", type=int, default=0, help="augmentation: random shift in pixels/channels")
        parser.add_argument("--drop", type=_fraction, default=0.0, help="augmentation: fraction of events dropped")

    def datasets(self, args: argparse.Namespace) -> tuple[Any, Any]:
        from .events import FrameAugment, require_tonic
        from .tonic_sets import SOURCES, event_dataset

        try:
            tonic = require_tonic()
        except ImportError as err:
            raise DataNotFoundError(str(err)) from None
        cls = getattr(tonic.datasets, SOURCES[self.name].tonic_class)
        sensor = tuple(cls.sensor_size)
        transforms: list[Any] = []
        if getattr(args, "denoise", None) is not None:
            transforms.append(tonic.transforms.Denoise(filter_time=args.denoise))
        if getattr(args, "refractory", None) is not None:
            transforms.append(tonic.transforms.RefractoryPeriod(delta=args.refractory))
        factor = getattr(args, "spatial_factor", None)
        if factor is not None and factor != 1.0:
            transforms.append(tonic.transforms.Downsample(spatial_factor=factor))
            sensor = (max(1, int(sensor[0] * factor)), max(1, int(sensor[1] * factor)), sensor[2])
        framing = ({"time_window": args.time_window} if self.framing == "time_window"
                   else {"n_time_bins": args.time_bins})
        common = dict(data_dir=args.data_dir, limit=args.limit, event_transforms=transforms, sensor_size=sensor,
                      cache_dir=args.cache_dir, **framing)
        augment = FrameAugment(args.max_shift, args.drop, seed=args.seed) if args.max_shift or args.drop else None
        train = event_dataset(self.name, "train", augment=augment, **common)
        test = event_dataset(self.name, "test", **common)
        return train, test

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        train, test = self.datasets(args)
        with _threads(args.threads):
            metrics = train_surrogate(train, test, args, self.name)
        metrics["data_dir"] = str(args.data_dir)
        _write(args.out, metrics)
        return metrics


# --------------------------------------------------------------------------- spoken digits + EventProp


def raster_to_times(raster: Tensor, step_ms: float) -> Tensor:
    """Binary raster [T, B, N] -> spike times [B, N, K] in ms (step t fires at t * step_ms; +inf pads)."""
    T, B, N = raster.shape
    counts = raster.sum(0)
    K = max(int(counts.max()), 1)
    t_idx = torch.arange(T, dtype=raster.dtype, device=raster.device)[:, None, None].expand(T, B, N)
    times = torch.where(raster > 0, t_idx * step_ms, torch.full_like(raster, math.inf))
    return times.sort(0).values[:K].permute(1, 2, 0).contiguous()


def train_eventprop(train_set: Any, test_set: Any, args: argparse.Namespace) -> dict[str, Any]:
    """spikeflow.exact: recurrent LIFLayer (EventProp) -> LIReadout, sum-of-voltage cross-entropy."""
    from ..exact import LIFLayer, LIReadout
    from ..exact.losses import bump_silent, max_voltage_cross_entropy, sum_exp_voltage_cross_entropy
    from ..train.seed import seed_everything

    gen = seed_everything(args.seed)
    x_tr, y_tr = train_set.tensors
    x_te, y_te = test_set.tensors
    T = x_tr.shape[1]
    t_max = T * args.step_ms + 5.0
    n_in, n_out = x_tr.shape[2], 10
    hidden = LIFLayer(n_in, args.hidden, dt=args.dt, t_max=t_max, max_spikes=args.max_spikes, recurrent=True,
                      init_mean=args.init_mean, init_std=args.init_std, rec_std=args.rec_std, eps=0.2)
    readout = LIReadout(args.hidden, n_out, dt=args.dt, t_max=t_max, init_mean=0.0, init_std=args.readout_std)
    params = list(hidden.parameters()) + list(readout.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)

    def forward(x: Tensor) -> tuple[Tensor, Tensor]:
        h = hidden(raster_to_times(x.transpose(0, 1), args.step_ms))
        return readout(h), h

    def evaluate(x: Tensor, y: Tensor) -> float:
        good = 0
        with torch.no_grad():
            for k in range(0, len(y), 256):
                v, _ = forward(x[k : k + 256])
                score = v.max(0).values if args.ep_loss == "max" else v.sum(0)
                good += int((score.argmax(1) == y[k : k + 256]).sum())
        return good / len(y)

    history, t0 = [], time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(y_tr), generator=gen)
        loss_sum = 0.0
        for k in range(0, len(perm), args.batch_size):
            idx = perm[k : k + args.batch_size]
            v, h = forward(x_tr[idx])
            if args.ep_loss == "max":
                loss = max_voltage_cross_entropy(v, y_tr[idx])
            else:
                loss = sum_exp_voltage_cross_entropy(v, y_tr[idx], dt=args.dt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            bump_silent(hidden.weight, h, 0.01)
            loss_sum += float(loss.detach()) * len(idx)
        sched.step()
        seen = perm[:500]  # a fixed-size sample of the training set
        row = {"epoch": epoch + 1, "loss": loss_sum / len(y_tr), "train_accuracy": evaluate(x_tr[seen], y_tr[seen]),
               "test_accuracy": evaluate(x_te, y_te), "seconds": time.perf_counter() - t0}
        history.append(row)
        if not args.no_progress:
            print(json.dumps(row), flush=True)
    return {"task": "spoken-digits", "method": "eventprop", "seed": args.seed, "epochs": args.epochs,
            "hidden": args.hidden, "test_accuracy": history[-1]["test_accuracy"], "train_samples": len(y_tr),
            "test_samples": len(y_te), "history": history, "seconds": time.perf_counter() - t0}


class SpokenDigitsTask:
    """Recurrent SNN on espeak-ng spoken digits (held-out voices in test), cochlea-encoded."""

    name = "spoken-digits"
    help = "recurrent SNN on espeak-ng spoken digits (test = held-out voices), BPTT or EventProp"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from .spoken_digits import ACCENTS

        _add_training(parser, epochs=20, out="runs/spoken-digits", hidden=128, lr=2e-3)
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
        from .spoken_digits import spoken_digits

        accents = tuple(a.strip() for a in args.accents.split(",") if a.strip())
        if not accents:
            raise ValueError(f"--accents: expected at least one espeak-ng voice, got {args.accents!r}")
        opts: dict[str, Any] = {"renditions": args.renditions, "max_variants": args.max_variants, "accents": accents}
        train = spoken_digits("train", data_dir=args.data_dir, limit=args.limit, **opts)
        test = spoken_digits("test", data_dir=args.data_dir, limit=args.limit, **opts)
        with _threads(args.threads):
            if args.method == "eventprop":
                metrics = train_eventprop(train, test, args)
            else:
                metrics = train_surrogate(train, test, args, self.name)
        _write(args.out, metrics)
        return metrics


def register(tasks: dict) -> None:
    """Add nmnist, shd, dvsgesture and spoken-digits to a CLI task registry."""
    tasks["nmnist"] = TonicTask("nmnist", "recurrent SNN on N-MNIST (tonic; needs --data-dir)", "n_time_bins", 30,
                                None)
    tasks["shd"] = TonicTask("shd", "recurrent SNN on the Spiking Heidelberg Digits (tonic; needs --data-dir)",
                             "time_window", 10_000.0, None, two_d=False)
    tasks["dvsgesture"] = TonicTask("dvsgesture", "recurrent SNN on DVS Gesture (tonic; needs --data-dir)",
                                    "time_window", 50_000.0, 0.25)
    tasks["spoken-digits"] = SpokenDigitsTask()
