"""Command-line options for quantization-aware training and the LR schedule, shared by tasks.

``add_quant_arguments(parser)`` adds --weight-bits, --weight-scheme, --per-channel,
--state-bits, --state-levels, --schedule and --periods; ``apply_quant(model, args)`` and
``make_schedule(optimizer, args, steps_per_epoch)`` turn them into a quantized model and a
(scheduler, interval) pair for the Trainer.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import nn

from ..train.argtypes import positive_int
from .qat import quantize
from .schedule import PeriodicCosineLR
from .weights import SCHEMES

SCHEDULES = ("cosine", "periodic", "step", "constant")


def _bits(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"expected bits in 1..16, got {text}")
    return value


#: option dest -> its default, for every option add_quant_arguments adds (the schedule's default varies)
QUANT_DEFAULTS: dict[str, Any] = {"weight_bits": None, "weight_scheme": "int", "per_channel": False,
                                  "state_bits": None, "state_levels": "uniform", "periods": 3}


def add_quant_arguments(parser: argparse.ArgumentParser, default_schedule: str = "cosine", *,
                        exponential: bool = False, tag: str = "") -> None:
    """Add the QAT and schedule options. exponential=True adds ``--schedule exponential`` (x --lr-decay per
    epoch; the parser must have --lr-decay); ``tag`` prefixes every help text (e.g. "[scnn] ")."""
    schedules = SCHEDULES + ("exponential",) if exponential else SCHEDULES
    if default_schedule not in schedules:
        raise ValueError(f"default_schedule: expected one of {schedules}, got {default_schedule!r}")
    g = parser.add_argument_group("quantization-aware training")
    g.add_argument("--weight-bits", type=_bits, default=None,
                   help=f"{tag}quantize every Linear/Conv weight to this many bits (2 = ternary, 1 = binary; "
                        "default: float)")
    g.add_argument("--weight-scheme", choices=SCHEMES, default="int",
                   help=f"{tag}int (symmetric narrow range), affine, ternary, binary, fp4 (E2M1), fp8 (E4M3) "
                        "(default int)")
    g.add_argument("--per-channel", action="store_true", help=f"{tag}one weight scale per output channel")
    g.add_argument("--state-bits", type=_bits, default=None,
                   help=f"{tag}round every neuron state to this many bits after each step (default: float)")
    g.add_argument("--state-levels", choices=("uniform", "nonuniform"), default="uniform",
                   help=f"{tag}state levels evenly spaced or clustered at the threshold (default uniform)")
    s = parser.add_argument_group("learning-rate schedule")
    s.add_argument("--schedule", choices=schedules, default=default_schedule,
                   help=f"{tag}cosine: anneal to 0 over the run (per epoch); periodic: cosine stepped every iteration "
                        "that falls and rises again (periodic boosting); step: x0.1 at 50%% and 75%% of the epochs; "
                        + ("exponential: x --lr-decay every epoch; " if exponential else "")
                        + f"constant (default {default_schedule})")
    s.add_argument("--periods", type=positive_int, default=3,
                   help=f"{tag}periodic: half-cycles over the run (odd ends at the minimum; default 3)")


def quant_options_given(args: argparse.Namespace, default_schedule: str) -> list[str]:
    """The QAT/schedule flags set away from their defaults (for tasks that must refuse them on some paths)."""
    given = [dest for dest, default in QUANT_DEFAULTS.items() if getattr(args, dest, default) != default]
    if getattr(args, "schedule", default_schedule) != default_schedule:
        given.append("schedule")
    return ["--" + d.replace("_", "-") for d in given]


def apply_quant(model: nn.Module, args: argparse.Namespace) -> nn.Module:
    """quantize(model, ...) from the parsed options (a no-op without --weight-bits/--state-bits)."""
    if args.weight_bits is None and args.state_bits is None:
        if args.weight_scheme != "int" or args.per_channel:
            raise ValueError("--weight-scheme/--per-channel: need --weight-bits")
        return model
    bits = args.weight_bits
    if bits is None and args.weight_scheme != "int":
        raise ValueError("--weight-scheme: needs --weight-bits")
    return quantize(model, weight_bits=bits, state_bits=args.state_bits, weight_scheme=args.weight_scheme,
                    per_channel=args.per_channel, state_uniform=args.state_levels == "uniform")


def make_schedule(optimizer: torch.optim.Optimizer, args: argparse.Namespace,
                  steps_per_epoch: int) -> tuple[Any, str]:
    """(scheduler or None, "epoch" | "step") for the Trainer."""
    epochs = args.epochs
    if args.schedule != "periodic" and args.periods != QUANT_DEFAULTS["periods"]:
        raise ValueError(f"--periods: applies to --schedule periodic only, not {args.schedule!r}")
    if args.schedule == "cosine":
        from ..train.schedule import CosineSchedule

        return CosineSchedule(optimizer, epochs), "epoch"  # extendable on --resume with more --epochs
    if args.schedule == "step":
        milestones = sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1), "epoch"
    if args.schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay), "epoch"
    if args.schedule == "periodic":
        period = max(1, round(epochs * steps_per_epoch / args.periods))
        return PeriodicCosineLR(optimizer, period=period), "step"
    return None, "epoch"
