"""Data-parallel speed-up of ``spikeflow train TASK --distributed`` on this machine's CPUs.

For each task: one process with 1 thread, one process with 2 threads, and
``torchrun --standalone --nproc_per_node=2 ... --distributed`` (1 thread per process; the same
global batch), each in a fresh folder. Prints the training seconds per epoch from
``metrics.json`` (the Trainer's own clock: no start-up, no data loading) and the ratios, with
the load average before and after (the machine may be shared)::

    python benchmarks/ddp_speedup.py                 # digits and mnist5k scnn
    python benchmarks/ddp_speedup.py --tasks charlm  # also: charlm, charlm-fsdp
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TASKS = {
    "digits": ["digits", "--epochs", "3"],
    "mnist5k-scnn": ["mnist5k", "--model", "scnn", "--limit", "1024", "--epochs", "2", "--threads", "{threads}"],
    "charlm": ["charlm", "--epochs", "2", "--steps-per-epoch", "40"],
    "charlm-fsdp": ["charlm", "--epochs", "2", "--steps-per-epoch", "40", "--fsdp"],
}


def run(task: str, procs: int, threads: int, folder: Path) -> float:
    """Mean training seconds per epoch of one run."""
    out = folder / f"{task}-{procs}x{threads}"
    argv = [a.replace("{threads}", str(threads)) for a in TASKS[task]]
    argv += ["--out", str(out), "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if procs == 1:
        if "--fsdp" in argv:
            argv.remove("--fsdp")  # one process: nothing to shard
        cmd = [sys.executable, "-m", "spikeflow", "train", *argv]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}",
               "-m", "spikeflow", "train", *argv, "--distributed"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    history = json.loads((out / "metrics.json").read_text())["history"]
    return sum(h["seconds"] for h in history) / len(history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["digits", "mnist5k-scnn"], choices=sorted(TASKS))
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            one = run(task, 1, 1, Path(tmp))
            one2 = run(task, 1, 2, Path(tmp))
            two = run(task, 2, 1, Path(tmp))
            print(f"{task}: s/epoch  1 proc x 1 thread {one:.2f} | 1 proc x 2 threads {one2:.2f} | "
                  f"2 procs x 1 thread {two:.2f}  -> speed-up {one / two:.2f}x vs 1 thread, "
                  f"{one2 / two:.2f}x vs 2 threads", flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
