"""Bytes on the wire and time per training step of a 2-stage spiking-MLP pipeline on 2 CPU
processes (gloo), spikes sent as float32 vs bit-packed uint8, plus the whole network in one
process for reference. Run: ``python benchmarks/pipeline_spikes.py [--steps 20] [--width 512]``.

The machine's load matters for the times (reported with ``os.getloadavg``); the byte counts are exact.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "train"))

import ddp_workers  # noqa: E402
import pipeline_workers as pw  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--microbatches", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        ddp_workers.spawn_with_timeout(
            # each mode twice: the second (timed) pass of each runs warm
            pw.worker, (2, folder, args.steps, args.microbatches, (False, True, False, True), args.depth, args.width,
                        args.batch),
            nprocs=2, timeout=600)
        stages = [torch.load(Path(folder) / f"stage{r}.pt", weights_only=True) for r in range(2)]
    model = pw.deep_mlp(args.depth, args.width)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    batches = pw.data(args.steps, args.batch)
    warm = pw.deep_mlp(args.depth, args.width)  # first call: kernel compilation, not timed
    pw.loss_fn(warm(batches[0][0])[0], batches[0][1]).backward()
    t0 = time.perf_counter()
    for x, y in batches:
        opt.zero_grad()
        for xm, ym in zip(x.chunk(args.microbatches, 1), y.chunk(args.microbatches, 0), strict=True):
            (pw.loss_fn(model(xm)[0], ym) / args.microbatches).backward()
        opt.step()
    single = (time.perf_counter() - t0) / args.steps
    print(f"spiking MLP depth {args.depth}, width {args.width}, T={pw.T}, batch {args.batch}, "
          f"{args.microbatches} microbatches, {args.steps} steps; load average {os.getloadavg()[0]:.1f}")
    print(f"{'mode':>8} {'fwd bytes/step':>15} {'bwd bytes/step':>15} {'ms/step':>9}")
    for mode in ("float", "packed"):
        fwd = stages[0][mode]["bytes_sent"] / args.steps
        bwd = stages[1][mode]["bytes_sent"] / args.steps
        ms = 1e3 * max(stages[r][mode]["seconds"] for r in range(2)) / args.steps
        print(f"{mode:>8} {fwd:>15,.0f} {bwd:>15,.0f} {ms:>9.1f}")
    ratio = stages[0]["float"]["bytes_sent"] / stages[0]["packed"]["bytes_sent"]
    print(f"forward bytes float32 / packed: {ratio:.1f}x; one process, no pipeline: {1e3 * single:.1f} ms/step")
    same = all(torch.equal(stages[r]["float"]["state"][k], stages[r]["packed"]["state"][k])
               for r in range(2) for k in stages[r]["float"]["state"])
    print(f"packed and float runs end with identical weights: {same}")


if __name__ == "__main__":
    main()
