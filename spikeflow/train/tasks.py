"""Command-line training tasks: a registry name -> Task.

A task adds its options to an argparse sub-parser (``add_arguments``) and trains from the
parsed options (``run(args) -> metrics dict``). ``spikeflow train NAME`` dispatches here.
Other packages add tasks with :func:`register_task`; the modules of ``spikeflow.tasks`` (the
application layer) register theirs through a ``register(TASKS)`` function.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import time
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from .argtypes import device, positive_float, positive_int

logger = logging.getLogger("spikeflow.train")


class Task(Protocol):
    """What the command line needs from a task."""

    name: str
    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> dict[str, Any]: ...


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task`` to the registry under ``task.name`` (replacing any task of that name)."""
    for attr in ("name", "add_arguments", "run"):
        if not hasattr(task, attr):
            raise TypeError(f"task: expected an object with {attr!r} (see spikeflow.train.tasks.Task), got {task!r}")
    TASKS[task.name] = task
    return task




def add_common_arguments(parser: argparse.ArgumentParser, *, epochs: int, out: str) -> None:
    """Options every training task shares: epochs, seed, output folder, device, resume."""
    parser.add_argument("--epochs", type=positive_int, default=epochs, help=f"training epochs (default {epochs})")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, spike coding and data order (default 0)")
    parser.add_argument("--out", default=out, help=f"output folder for metrics.json, plots, checkpoint (default {out})")
    parser.add_argument("--device", type=device, default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a run already in OUT (by default an existing run is refused)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    # For tests: train and evaluate on the first N samples of each split only.
    parser.add_argument("--limit", type=positive_int, default=None, help=argparse.SUPPRESS)


def write_raster(path: Path, hidden: Tensor, output: Tensor, labels: Tensor, population: int) -> Path:
    """Save a grid of rasters: hidden (top) and output (bottom) spikes, one column per sample.

    hidden: [T, S, H], output: [T, S, K*population], labels: [S].
    """
    from matplotlib.figure import Figure

    from ..plot import raster

    samples = hidden.shape[1]
    fig = Figure(figsize=(3.2 * samples, 5.0), layout="constrained")
    axes = fig.subplots(2, samples, squeeze=False)
    for j in range(samples):
        raster(hidden, ax=axes[0][j], sample=j, marker_size=2.0, title=f"hidden, label {int(labels[j])}")
        raster(output, ax=axes[1][j], sample=j, marker_size=2.0 if population > 1 else 40.0, title="output")
        if population > 1:
            axes[1][j].set_ylabel(f"neuron (class = n // {population})")
        else:
            axes[1][j].set_yticks(range(output.shape[-1]))
            axes[1][j].set_ylabel("class")
    fig.savefig(path, dpi=100)
    return path


LOSSES = ("ce_count", "ce_rate", "mse_count")


def make_loss(name: str, num_classes: int | None) -> torch.nn.Module:
    """The output loss called ``name`` (one of LOSSES); num_classes enables the population code."""
    from .. import losses

    if name == "ce_count":
        return losses.CECountLoss(num_classes=num_classes)
    if name == "ce_rate":
        return losses.CERateLoss(num_classes=num_classes)
    if name == "mse_count":
        return losses.MSECountLoss(0.8, 0.2, num_classes=num_classes)
    raise ValueError(f"loss: expected one of {LOSSES}, got {name!r}")


class DigitsTask:
    """A spiking MLP on scikit-learn's 8x8 digits, rate- or latency-coded."""

    name = "digits"
    help = "spiking MLP on scikit-learn's 8x8 digits (1797 images, stratified 80/20 split)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_common_arguments(parser, epochs=10, out="runs/digits")
        parser.add_argument("--steps", type=positive_int, default=10, help="time steps per image (default 10)")
        parser.add_argument("--encoding", choices=("rate", "latency"), default="rate", help="spike code (default rate)")
        parser.add_argument("--population", type=positive_int, default=1,
                            help="output neurons per class (population code; default 1)")
        parser.add_argument("--hidden", type=positive_int, default=128, help="hidden Leaky neurons (default 128)")
        parser.add_argument("--beta", type=float, default=0.9, help="membrane decay of every neuron (default 0.9)")
        parser.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default 64)")
        parser.add_argument("--loss", choices=LOSSES, default="ce_count",
                            help="loss on the output spikes (default ce_count)")
        parser.add_argument("--lr", type=positive_float, default=1e-2, help="Adam learning rate (default 1e-2)")
        parser.add_argument("--tensorboard", action="store_true",
                            help="also log scalars and firing-rate histograms to OUT/tensorboard (needs tensorboard)")
        from ..tasks.online_digits import add_online_arguments  # --method eprop|ottt|stdp (spikeflow.online)

        add_online_arguments(parser)
        from ..quant.cli import add_quant_arguments

        add_quant_arguments(parser)
        parser.add_argument("--distributed", action="store_true",
                            help="data-parallel over the processes torchrun starts (gloo on CPU, nccl on GPU); "
                                 "--batch-size is the global batch")

    def encoder(self, args: argparse.Namespace):  # type: ignore[no-untyped-def]
        from .. import encoding

        steps = args.steps
        if args.encoding == "rate":
            return lambda x: encoding.rate(x, num_steps=steps)
        return lambda x: encoding.latency(x, num_steps=steps, tau=5.0, threshold=0.01, linear=True,
                                          normalize=True, clip=True)

    def build_model(self, args: argparse.Namespace) -> torch.nn.Module:
        """The network this task trains (``spikeflow report`` rebuilds it from the run's config)."""
        from ..models import spiking_mlp
        from ..quant.cli import apply_quant

        model = spiking_mlp(64, args.hidden, 10, args.population, beta=args.beta)
        if getattr(args, "weight_bits", None) is None and getattr(args, "state_bits", None) is None:
            return model
        return apply_quant(model, args)

    def test_data(self, args: argparse.Namespace) -> Any:
        """The test split (a Dataset of (image, label) pairs)."""
        from ..data import digits

        return digits("test", limit=args.limit)

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        from . import distributed as sfd

        if hasattr(args, "method"):
            from ..tasks.online_digits import check_method_args, run_digits

            check_method_args(args)
            if args.method != "bptt":
                return run_digits(args, self.encoder(args))
        started = time.perf_counter()
        out_dir = Path(args.out)
        with sfd.session(args.distributed, args.device) as ctx:
            return self._train(args, ctx, started, out_dir)

    def _train(self, args: argparse.Namespace, ctx: Any, started: float, out_dir: Path) -> dict[str, Any]:
        from .. import metrics
        from ..data import digits
        from . import distributed as sfd
        from .seed import seed_everything
        from .trainer import Trainer

        generator = seed_everything(args.seed)
        train_set = digits("train", limit=args.limit)
        test_set = digits("test", limit=args.limit)
        train_loader, test_loader = sfd.task_loaders(train_set, test_set, args.batch_size, ctx, seed=args.seed,
                                                     generator=generator)
        num_classes = 10
        pop_classes = num_classes if args.population > 1 else None
        from ..quant.cli import make_schedule

        if args.weight_bits is None and args.state_bits is None and (args.weight_scheme != "int" or args.per_channel):
            raise ValueError("--weight-scheme/--per-channel: need --weight-bits")
        model = self.build_model(args)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        scheduler, interval = make_schedule(optimizer, args, len(train_loader))
        encode = self.encoder(args)
        config = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
        trainer = Trainer(
            model, optimizer, make_loss(args.loss, pop_classes),
            lambda out, y: metrics.accuracy_rate(out, y, num_classes=pop_classes),
            scheduler=scheduler, scheduler_interval=interval, encode=encode, device=args.device, out_dir=out_dir,
            seed=args.seed,
            progress=False if args.no_progress else None, info={"task": self.name, "config": config},
            tensorboard=getattr(args, "tensorboard", False),
            distributed=args.distributed,
        )
        result = trainer.fit(train_loader, test_loader, epochs=args.epochs, resume=args.resume)
        if not ctx.is_main:
            return result
        # The raster of a few test samples, after training.
        x, y = next(iter(DataLoader(test_set, batch_size=4)))
        with torch.no_grad():
            model.eval()
            _, outputs = model(encode(x.to(trainer.device)), record=True)
        raster_path = write_raster(out_dir / "raster.png", outputs[1].cpu(), outputs[3].cpu(), y, args.population)
        result["raster"] = str(raster_path)
        result["total_seconds"] = time.perf_counter() - started
        from .checkpoint import write_json

        write_json(out_dir / "metrics.json", result)
        return result


register_task(DigitsTask())


def _register_optional(module_name: str) -> None:
    """Let an optional module add tasks through ``register(TASKS)``; a missing module is fine."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        parts = module_name.split(".")
        if err.name in {".".join(parts[:i]) for i in range(1, len(parts) + 1)}:
            return  # the optional module (or its package) is not there; anything else is a real error
        raise
    register = getattr(module, "register", None)
    if callable(register):
        register(TASKS)


_register_optional("spikeflow.tasks.yinyang")
_register_optional("spikeflow.tasks.mnist5k_eventprop")
_register_optional("spikeflow.tasks.bandit")
_register_optional("spikeflow.train.charlm")
_register_optional("spikeflow.tasks.tonic_tasks")
_register_optional("spikeflow.tasks.spoken_digits")
_register_optional("spikeflow.tasks.mnist5k_models")  # adds --model scnn|cnn to mnist5k
