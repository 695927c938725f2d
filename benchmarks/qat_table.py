"""Quantization-aware training table: accuracy per weight precision and schedule, one process per run.

Runs ``spikeflow train TASK --seed S [options]`` in a fresh Python process for every
configuration and seed (so no run inherits another's state), appends each run's metrics to
``--log`` as a JSON line (a killed sweep keeps what it finished; ``--resume-log`` skips runs
already there) and prints a table of final test accuracy (mean +- std over seeds), the gap to
the float baseline and the wall seconds per run.

    python benchmarks/qat_table.py --task digits --epochs 10
    nice python benchmarks/qat_table.py --task mnist5k --epochs 6 --log runs/qat_mnist5k.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

Q = ["--state-bits", "8"]
CONFIGS = {
    "float": [],
    "float, periodic": ["--schedule", "periodic"],
    "4-bit w, 8-bit state, periodic": ["--weight-bits", "4", *Q, "--schedule", "periodic"],
    "4-bit w, 8-bit state, step": ["--weight-bits", "4", *Q, "--schedule", "step"],
    "ternary w, 8-bit state, periodic": ["--weight-bits", "2", *Q, "--schedule", "periodic"],
    "binary w, 8-bit state, periodic": ["--weight-bits", "1", *Q, "--schedule", "periodic"],
}
TASK_ARGS = {"digits": [], "mnist5k": ["--model", "scnn"]}
DEFAULT_CONFIGS = {
    "digits": list(CONFIGS),
    "mnist5k": ["float", "4-bit w, 8-bit state, periodic", "4-bit w, 8-bit state, step",
                "ternary w, 8-bit state, periodic", "binary w, 8-bit state, periodic"],
}


_counter = itertools.count()


def run(task: str, config: list[str], seed: int, epochs: int, folder: Path, timeout: float,
        extra: list[str]) -> dict:
    out = folder / f"{task}-{next(_counter)}"
    cmd = [sys.executable, "-m", "spikeflow", "train", task, *TASK_ARGS[task], "--epochs", str(epochs),
           "--seed", str(seed), "--no-progress", "--out", str(out), *config, *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"test_accuracy": metrics["test_accuracy"], "wall_seconds": time.perf_counter() - t0,
            "history": [h.get("test_accuracy") for h in metrics.get("history", [])]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASK_ARGS), default="digits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: 10 for digits, 6 for mnist5k")
    parser.add_argument("--configs", nargs="*", default=None, choices=list(CONFIGS),
                        help="subset of the configurations (default: all for digits, no float periodic for mnist5k)")
    parser.add_argument("--log", type=Path, default=None, help="append each run as a JSON line to this file")
    parser.add_argument("--resume-log", action="store_true", help="skip runs already in --log")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run before it is killed")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (default 1; with --threads 1 on a busy "
                                                           "machine, 2 jobs use the CPU of one 2-thread run)")
    args, extra = parser.parse_known_args()  # the rest goes to every run (e.g. --threads 1 for mnist5k)
    epochs = args.epochs or (10 if args.task == "digits" else 6)
    names = args.configs or DEFAULT_CONFIGS[args.task]
    done: dict[tuple[str, int], dict] = {}
    if args.log and args.resume_log and args.log.exists():
        for line in args.log.read_text().splitlines():
            rec = json.loads(line)
            if rec["task"] == args.task and rec["epochs"] == epochs and rec["args"] == CONFIGS[rec["config"]] + extra:
                done[(rec["config"], rec["seed"])] = rec
    todo = [(name, seed) for seed in args.seeds for name in names]  # seed-major: a cut sweep has every config

    def one(job: tuple[str, int]) -> dict:
        name, seed = job
        rec = done.get(job)
        if rec is None:
            rec = {"task": args.task, "config": name, "args": CONFIGS[name] + extra, "seed": seed, "epochs": epochs,
                   **run(args.task, CONFIGS[name], seed, epochs, Path(tmp), args.timeout, extra)}
            if args.log:
                args.log.parent.mkdir(parents=True, exist_ok=True)
                with args.log.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
        print(f"{name} seed {seed}: {rec['test_accuracy']:.4f} ({rec['wall_seconds']:.0f} s)", flush=True)
        return rec

    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(one, todo))
    rows: dict[str, list[dict]] = {name: [] for name in names}
    for (name, _), rec in zip(todo, results, strict=True):
        rows[name].append(rec)
    ref = statistics.mean(r["test_accuracy"] for r in rows["float"]) if "float" in rows else None
    print(f"\n{args.task}, {epochs} epochs, seeds {args.seeds}, extra options {extra} (one process per run)\n")
    print("| configuration | test accuracy (mean +- std) | per seed | gap to float | s per run |")
    print("|---|---|---|---|---|")
    for name, recs in rows.items():
        accs = [r["test_accuracy"] for r in recs]
        mean, std = statistics.mean(accs), statistics.stdev(accs) if len(accs) > 1 else 0.0
        gap = "" if ref is None or name == "float" else f"{100 * (mean - ref):+.1f} pt"
        secs = statistics.mean(r["wall_seconds"] for r in recs)
        print(f"| {name} | {mean:.4f} +- {std:.4f} | {' / '.join(f'{a:.3f}' for a in accs)} | {gap} | {secs:.0f} |")


if __name__ == "__main__":
    main()
