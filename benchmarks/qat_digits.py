"""Quantization-aware training on scikit-learn's digits: accuracy per weight precision and schedule.

Runs ``spikeflow train digits`` in this process for every configuration and seed and prints a
table of final test accuracy (mean +- std over seeds) and the gap to full precision.

    python benchmarks/qat_digits.py --seeds 0 1 2 --epochs 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from spikeflow.cli import main

CONFIGS = {
    "float, cosine": [],
    "float, periodic": ["--schedule", "periodic"],
    "4-bit w, 8-bit state, periodic": ["--weight-bits", "4", "--state-bits", "8", "--schedule", "periodic"],
    "4-bit w, 8-bit state, step": ["--weight-bits", "4", "--state-bits", "8", "--schedule", "step"],
    "ternary w, 8-bit state, periodic": ["--weight-bits", "2", "--state-bits", "8", "--schedule", "periodic"],
    "binary w, 8-bit state, periodic": ["--weight-bits", "1", "--state-bits", "8", "--schedule", "periodic"],
}


def run(config: list[str], seed: int, epochs: int, folder: Path) -> dict:
    out = folder / f"run{abs(hash((tuple(config), seed)))}"
    code = main(["train", "digits", "--epochs", str(epochs), "--seed", str(seed), "--no-progress", "--out", str(out),
                 *config])
    if code != 0:
        raise SystemExit(f"run failed: {config} seed {seed}")
    return json.loads((out / "metrics.json").read_text())


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), help="subset of the configurations")
    args = parser.parse_args()
    import logging

    logging.disable(logging.INFO)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs:
            accs, t0 = [], time.perf_counter()
            for seed in args.seeds:
                accs.append(run(CONFIGS[name], seed, args.epochs, Path(tmp))["test_accuracy"])
            rows[name] = (accs, time.perf_counter() - t0)
            print(f"{name}: {[round(a, 4) for a in accs]}", flush=True)
    ref = statistics.mean(rows["float, cosine"][0]) if "float, cosine" in rows else None
    print(f"\n| configuration | test accuracy (mean +- std, seeds {args.seeds}) | gap to float | seconds |")
    print("|---|---|---|---|")
    for name, (accs, secs) in rows.items():
        mean = statistics.mean(accs)
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        gap = "" if ref is None else f"{100 * (mean - ref):+.1f} pt"
        print(f"| {name} | {mean:.4f} +- {std:.4f} | {gap} | {secs:.0f} |")


if __name__ == "__main__":
    main_()
