"""The ``spikeflow`` command line.

    spikeflow train TASK [options]      train a registered task (see ``spikeflow train -h``)
    spikeflow report RUN_DIR            write RUN_DIR/report.html (curves, rasters, ops, energy)
    spikeflow generate RUN_DIR          sample text from a charlm run

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
    rep = commands.add_parser("report", help="write RUN_DIR/report.html, a self-contained page about a run",
                              description="Write one self-contained HTML page about a training run: curves, "
                                          "rasters, firing rates, operation counts and energy, configuration.")
    rep.add_argument("run_dir", metavar="RUN_DIR", help="output folder of spikeflow train (holds metrics.json)")
    rep.add_argument("--out", default=None, help="where to write the page (default RUN_DIR/report.html)")
    rep.add_argument("--samples", type=int, default=256, help="test samples for rates and energy (default 256)")
    from .train.charlm import add_generate_parser

    add_generate_parser(commands)
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
    if args.command == "report":
        from .analysis.run_report import write_run_report

        try:
            path = write_run_report(args.run_dir, args.out, args.samples)
        except (ValueError, TypeError, FileNotFoundError, KeyError) as err:
            print(f"spikeflow report: error: {err}", file=sys.stderr)
            return 1
        print(path)
        return 0
    if args.command == "generate":
        from .train.charlm import generate_from_run

        try:
            print(generate_from_run(args.run_dir, args.prompt, args.length, args.temperature, args.seed))
        except (ValueError, FileNotFoundError, KeyError) as err:
            print(f"spikeflow generate: error: {err}", file=sys.stderr)
            return 1
        return 0
    parser.error(f"unknown command {args.command!r}")  # unreachable: argparse checks choices
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
