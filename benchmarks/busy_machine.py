"""Training time on a busy machine: one short Yin-Yang EventProp run per variant, with and without
extra busy loops, variants visited in alternation so that both see the same ambient load.

    python benchmarks/busy_machine.py --variants before=/work/main,after=. --load 0,3 --reps 2
    python benchmarks/busy_machine.py --variants "after=.,spin=.:SPIKEFLOW_OMP_WAIT=keep"

A variant is NAME=PATH[:VAR=VALUE[:VAR=VALUE...]]: the child runs ``python -m spikeflow train
yinyang --method eventprop --epochs 1 --limit N`` with PYTHONPATH=PATH and the given variables
(OMP_WAIT_POLICY / GOMP_SPINCOUNT are removed from the child's environment unless given).
Prints the median training seconds per variant and load, and ratios to the first variant.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def parse_variant(spec: str) -> tuple[str, str, dict[str, str], list[str]]:
    """NAME=PATH[:VAR=VALUE...] -> (name, path, env, extra CLI args); VAR "ARGS" adds CLI args."""
    name, _, rest = spec.partition("=")
    path, *pairs = rest.split(":")
    env: dict[str, str] = {}
    args: list[str] = []
    for pair in pairs:
        k, _, v = pair.partition("=")
        if k == "ARGS":
            args += v.split()
        else:
            env[k] = v
    return name, os.path.abspath(path), env, args


TORCH_HOG = "import torch\ntorch.set_num_threads(2)\na = torch.randn(192, 192)\nwhile True:\n    a = torch.tanh(a @ a)"


def run_once(variant: tuple[str, str, dict[str, str], list[str]], limit: int, load: int,
             timeout: float, hog_kind: str = "yes") -> tuple[float, float, float]:
    """(train seconds, wall seconds, load average at the end) of one child run."""
    name, path, env_extra, args = variant
    drop = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "SPIKEFLOW_OMP_WAIT", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra)
    env["PYTHONPATH"] = path
    # each busy loop is bounded in time, so that none outlives an interrupted benchmark; "torch" hogs
    # are other OpenMP programs (2-thread matmuls, the runtime's default wait policy)
    hog = ["yes"] if hog_kind == "yes" else [sys.executable, "-c", TORCH_HOG]
    hog_env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    hogs = [subprocess.Popen(["timeout", str(int(timeout)), *hog], stdout=subprocess.DEVNULL, env=hog_env)
            for _ in range(load)]
    try:
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "spikeflow", "train", "yinyang", "--method", "eventprop", "--epochs", "1",
                   "--limit", str(limit), "--no-progress", "--out", out, *args]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
            with open(os.path.join(out, "metrics.json")) as f:
                metrics = json.load(f)  # "seconds" in the common schema; "train_seconds" before it
                train = float(metrics.get("train_seconds", metrics["seconds"]))
    finally:
        for h in hogs:
            h.terminate()  # timeout passes SIGTERM on to its yes
            h.wait()
    return train, wall, os.getloadavg()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="before=/work/main,after=.",
                    help="comma-separated NAME=PATH[:VAR=VALUE...], the first is the baseline")
    ap.add_argument("--load", default="0,3", help="comma-separated numbers of extra busy loops")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--limit", type=int, default=300, help="samples per split (default 300)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--hog", choices=("yes", "torch"), default="yes",
                    help="extra load: busy loops (yes) or 2-thread torch matmul loops (torch)")
    a = ap.parse_args()
    variants = [parse_variant(v) for v in a.variants.split(",")]
    names = [v[0] for v in variants]
    loads = [int(x) for x in a.load.split(",")]
    times: dict[tuple[str, int], list[float]] = {}
    for rep in range(a.reps):
        for load in loads:
            order = variants if rep % 2 == 0 else variants[::-1]
            for v in order:
                train, wall, la = run_once(v, a.limit, load, a.timeout, a.hog)
                times.setdefault((v[0], load), []).append(train)
                print(f"rep {rep} load +{load} {v[0]:9s} train {train:7.2f} s  wall {wall:7.2f} s  loadavg {la:5.2f}",
                      flush=True)
    print("\nmedian train seconds (ratio to the first variant)")
    for load in loads:
        base = statistics.median(times[(names[0], load)])
        meds = {v: statistics.median(times[(v, load)]) for v in names}
        row = "  ".join(f"{v} {meds[v]:7.2f} ({meds[v] / base:4.2f}x)" for v in names)
        print(f"load +{load}: {row}")


if __name__ == "__main__":
    main()
