"""Fused CPU neuron against the bare Linear floor, in CPU time (robust on a shared machine).

Network as in ``peers.py`` (x [T, B, N] -> Linear -> Leaky(0.9, reset zero) -> sum -> backward);
the two rows alternate for ``--reps`` repetitions and the per-process CPU time
(``time.process_time``) of each forward+backward is recorded, so time spent descheduled by
other jobs does not count. Prints min / 25 % / median and their fused / floor ratios.

    python benchmarks/fused_cpu_time.py [--case c2] [--reps 60] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn

import spikeflow as sf

SIZES = {"c1": (100, 32, 512), "c2": (500, 16, 256)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=list(SIZES), default="c2")
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    T, B, N = SIZES[args.case]
    torch.manual_seed(0)
    lin = nn.Linear(N, N)
    x = torch.randn(T, B, N)
    lif = sf.Leaky(beta=0.9, threshold=1.0, reset="zero", backend="cpu")

    def floor() -> None:
        lin.zero_grad(set_to_none=True)
        lin(x).sum().backward()

    def fused() -> None:
        lin.zero_grad(set_to_none=True)
        s, _ = lif(lin(x))
        s.sum().backward()

    rows = {"floor": floor, "fused": fused}
    times: dict[str, list[float]] = {k: [] for k in rows}
    for f in rows.values():  # warm-up: numba compiles, allocator settles
        f()
        f()
    load0 = os.getloadavg()[0]
    for _ in range(args.reps):
        for name, f in rows.items():
            t0 = time.process_time()
            f()
            times[name].append((time.process_time() - t0) * 1e3)

    def q(v: list[float], p: float) -> float:
        return sorted(v)[int(p * (len(v) - 1))]

    for name, v in times.items():
        med = statistics.median(v)
        print(f"{args.case} {name:5s} CPU ms: min {min(v):6.2f}  q25 {q(v, 0.25):6.2f}  median {med:6.2f}")
    fu, fl = times["fused"], times["floor"]
    print(f"fused / floor: min {min(fu) / min(fl):.3f}  q25 {q(fu, 0.25) / q(fl, 0.25):.3f}  "
          f"median {statistics.median(fu) / statistics.median(fl):.3f}  "
          f"(threads {args.threads}, load average {load0:.2f} -> {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
