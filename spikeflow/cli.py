"""The ``spikeflow`` command line.

    spikeflow train TASK [options]      train a registered task (see ``spikeflow train -h``)

Each task writes OUT/metrics.json (and its plots). ``main`` returns the exit code:
0 on success, 2 for a usage error (unknown task or bad option), 1 for a failed run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    from .train.tasks import TASKS

    parser = argparse.ArgumentParser(prog="spikeflow", description="Spiking neural networks on PyTorch.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train = commands.add_parser("train", help="train a task and write OUT/metrics.json",
                                description="Train a task and write OUT/metrics.json.")
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True,
                                 help="one of: " + ", ".join(sorted(TASKS)))
    for name in sorted(TASKS):
        task = TASKS[name]
        sub = tasks.add_parser(name, help=getattr(task, "help", None), description=getattr(task, "help", None))
        task.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: sys.argv[1:]); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return int(exit_.code) if isinstance(exit_.code, int) else 2
    if args.command == "train":
        from .train.tasks import TASKS

        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
        try:
            if getattr(args, "out", None) is not None:  # before any work: writable, no run replaced by accident
                from .train.rundir import prepare_run_dir

                prepare_run_dir(args.out, resume=bool(getattr(args, "resume", False)),
                                overwrite=bool(getattr(args, "overwrite", False)))
            metrics = TASKS[args.task].run(args)
        except (ValueError, TypeError, FileNotFoundError) as err:
            print(f"spikeflow train {args.task}: error: {err}", file=sys.stderr)
            return 1
        summary = {k: metrics.get(k) for k in ("test_accuracy", "epochs", "seconds") if k in metrics}
        if os.environ.get("RANK", "0") == "0":  # under torchrun, one summary line (rank 0)
            print(json.dumps(summary))
        return 0
    parser.error(f"unknown command {args.command!r}")  # unreachable: argparse checks choices
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
