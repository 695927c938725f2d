"""``spikeflow train nmnist|shd|dvsgesture --data-dir DIR``: a recurrent SNN on tonic event data,
trained by ``spikeflow.train.Trainer`` on time-major frames [T, B, F]:

    x -> Linear(F, H) -> RLeaky(H, all-to-all recurrence) -> Linear(H, K) -> LI readout v[T, B, K]
    logits = sum_t mask[t] v[t] / length,   loss = cross-entropy(logits, label)

Adam with a cosine schedule over ``--epochs`` (``spikeflow.train.CosineSchedule``: re-planned,
never restarted, when ``--resume`` asks for more epochs). Missing data is a one-line error
saying how to get it (``DataNotFoundError``, exit code 1); nothing is downloaded.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..train.argtypes import positive_float, positive_int
from ._common import accuracy_of, threads, trainer_options


def fraction(text: str) -> float:
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


def add_training(parser: argparse.ArgumentParser, *, epochs: int, out: str, hidden: int, lr: float) -> None:
    """The options of the sequence tasks (the common ones, then the recurrent network's)."""
    from ..train.tasks import add_common_arguments

    add_common_arguments(parser, epochs=epochs, out=out)
    parser.add_argument("--hidden", type=positive_int, default=hidden, help=f"recurrent neurons (default {hidden})")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default 64)")
    parser.add_argument("--lr", type=positive_float, default=lr, help=f"Adam learning rate (default {lr})")
    parser.add_argument("--beta", type=fraction, default=0.95, help="membrane decay per step (default 0.95)")
    parser.add_argument("--in-scale", type=positive_float, default=1.0,
                        help="factor on the initial input weights (default 1)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch CPU threads (default: torch's choice; 1 is fastest on a busy machine)")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the processes torchrun starts (gloo on CPU, nccl on GPU); "
                             "--batch-size is the global batch")


def _padded_pairs(batch: Sequence[tuple[Tensor, Tensor]]) -> tuple[tuple[Tensor, Tensor], Tensor]:
    """pad_time_major, as the Trainer's ((frames [T, B, ...], mask [T, B]), labels [B])."""
    from ..data.events import pad_time_major

    x, y, mask = pad_time_major(batch)
    return (x, mask), y


def _with_mask(model: nn.Module, inputs: tuple[Tensor, Tensor]) -> Any:
    return model(*inputs)


def train_surrogate(train_set: Any, test_set: Any, args: argparse.Namespace, name: str, *, ctx: Any = None,
                    **info: Any) -> dict[str, Any]:
    """BPTT with a surrogate gradient on :class:`RecurrentClassifier` through the Trainer; the metrics.

    With ``args.distributed`` (under torchrun): DDP, each rank padding its own share of every global
    batch (the mask keeps the logits those of the unpadded sequences), metrics and files on rank 0.
    ``ctx``: the distributed session's Context when the caller opened it (else opened here).
    """
    from ..train import distributed as sfd

    if ctx is not None:
        return _train_surrogate(train_set, test_set, args, name, ctx, **info)
    with sfd.session(getattr(args, "distributed", False), args.device) as ctx:
        return _train_surrogate(train_set, test_set, args, name, ctx, **info)


def _train_surrogate(train_set: Any, test_set: Any, args: argparse.Namespace, name: str, ctx: Any,
                     **info: Any) -> dict[str, Any]:
    from ..train import CosineSchedule, Trainer, seed_everything
    from ..train import distributed as sfd

    generator = seed_everything(args.seed)
    model = RecurrentClassifier(train_set.info.features, args.hidden, train_set.info.num_classes, beta=args.beta,
                                in_scale=args.in_scale)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    trainer = Trainer(model, optimizer, F.cross_entropy, accuracy_of, forward=_with_mask,
                      scheduler=CosineSchedule(optimizer, args.epochs), distributed=ctx.distributed,
                      **trainer_options(args, name, method="bptt", train_samples=len(train_set),
                                        test_samples=len(test_set), **info))
    train, test = sfd.task_loaders(train_set, test_set, args.batch_size, ctx, seed=args.seed, generator=generator,
                                   collate_fn=_padded_pairs)
    with threads(args.threads):
        return trainer.fit(train, test, epochs=args.epochs, resume=args.resume)


class TonicTask:
    """Recurrent SNN on a tonic event data set read from ``--data-dir``."""

    def __init__(self, name: str, help_: str, framing: str, default_frame: float, spatial_factor: float | None,
                 two_d: bool = True) -> None:
        self.name, self.help, self.two_d = name, help_, two_d
        self.framing, self.default_frame, self.spatial_factor = framing, default_frame, spatial_factor

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data-dir", required=True,
                            help="folder holding tonic's extracted files (e.g. DIR/NMNIST/Train/...)")
        add_training(parser, epochs=10, out=f"runs/{self.name}", hidden=256, lr=2e-3)
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
        parser.add_argument("--drop", type=fraction, default=0.0, help="augmentation: fraction of events dropped")

    def datasets(self, args: argparse.Namespace) -> tuple[Any, Any]:
        from ..data.base import DataNotFoundError
        from ..data.events import FrameAugment, require_tonic
        from ..data.tonic_sets import SOURCES, event_dataset

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
        if args.max_shift < 0:
            raise ValueError(f"--max-shift: expected an int >= 0, got {args.max_shift}")
        from ..train import distributed as sfd

        with sfd.session(args.distributed, args.device) as ctx:
            # rank 0 opens the data first (and the --cache-dir folder); tonic caches each sample's frames
            # when first read, and within an epoch the ranks read different samples
            with sfd.main_first(ctx):
                train, test = self.datasets(args)
            return train_surrogate(train, test, args, self.name, ctx=ctx, data_dir=str(args.data_dir))


def register(tasks: dict) -> None:
    """Add nmnist, shd and dvsgesture to a CLI task registry."""
    tasks["nmnist"] = TonicTask("nmnist", "recurrent SNN on N-MNIST (tonic; needs --data-dir)", "n_time_bins", 30,
                                None)
    tasks["shd"] = TonicTask("shd", "recurrent SNN on the Spiking Heidelberg Digits (tonic; needs --data-dir)",
                             "time_window", 10_000.0, None, two_d=False)
    tasks["dvsgesture"] = TonicTask("dvsgesture", "recurrent SNN on DVS Gesture (tonic; needs --data-dir)",
                                    "time_window", 50_000.0, 0.25)
