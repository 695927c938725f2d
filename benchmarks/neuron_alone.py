"""The fused Leaky neuron alone, through the module: forward and backward times per call.

No Linear layer, so the numbers are the neuron's own (kernel plus the per-call Python work);
``benchmarks/peers.py`` has the whole-layer ratios. Leaky(beta=0.9, reset="zero"), float32,
input N(0.3, 0.5), backward of the spikes with a ones gradient; first quartile of ``--calls``
calls after a warm-up. ``--span-bytes`` / ``--chunk-elems`` override the CPU driver's block
size and backward scratch (e.g. ``--span-bytes 1000000 --chunk-elems 262144``: one block per
thread and 2^18 elements, the layout before the cache-sized blocks).

    python benchmarks/neuron_alone.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import time

import torch

import spikeflow as sf
from spikeflow.kernels.numba import driver

SIZES = [(2, 2, 8), (10, 64, 128), (100, 32, 512), (500, 16, 256)]  # (T, B, N)


def time_calls(T: int, B: int, N: int, calls: int) -> tuple[float, float]:
    """(forward, backward) seconds per call, first quartile."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(T, B, N, generator=gen) * 0.5 + 0.3).requires_grad_(True)
    grad = torch.ones(T, B, N)
    neuron = sf.Leaky(beta=0.9, reset="zero", backend="cpu")
    fwd, bwd = [], []
    for i in range(calls + 5):
        t0 = time.perf_counter()
        spikes, _ = neuron(x)
        t1 = time.perf_counter()
        spikes.backward(grad)
        t2 = time.perf_counter()
        if i >= 5:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    fwd.sort()
    bwd.sort()
    return fwd[len(fwd) // 4], bwd[len(bwd) // 4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--span-bytes", type=int, default=None, help=f"default {driver.SPAN_BYTES}")
    parser.add_argument("--chunk-elems", type=int, default=None, help=f"default {driver.CHUNK_ELEMS}")
    args = parser.parse_args()
    for name, value in (("--threads", args.threads), ("--calls", args.calls), ("--span-bytes", args.span_bytes),
                        ("--chunk-elems", args.chunk_elems)):
        if value is not None and value < 1:
            parser.error(f"{name}: expected a positive int, got {value}")
    torch.set_num_threads(args.threads)
    if args.span_bytes is not None:
        driver.SPAN_BYTES = args.span_bytes
    if args.chunk_elems is not None:
        driver.CHUNK_ELEMS = args.chunk_elems
    print(f"# Leaky alone, {args.threads} thread(s), span bytes {driver.SPAN_BYTES}, chunk elements "
          f"{driver.CHUNK_ELEMS}, load average {os.getloadavg()[0]:.2f}, first quartile of {args.calls} calls")
    for T, B, N in SIZES:
        f, b = time_calls(T, B, N, args.calls)
        print(f"T={T} B={B} N={N}: forward {f * 1e3:.3f} ms, backward {b * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
