"""Event-driven Conv2d against nn.Conv2d on spike maps of a given density (CPU).

For each layer shape, density and thread count, prints the median forward time (no_grad, i.e.
inference) and forward + backward time (input, weight and bias gradients, as for a hidden layer
trained with surrogate gradients) of ``EventConv2d(mode="event")`` and ``nn.Conv2d`` with the same
weights, and their ratio (dense / event: > 1 means the event path is faster). Inputs are binary
spikes with independent firing probability = density, batch = T * B folded. Rounds alternate the
two layers; the machine may be shared, so read ratios within one table.

    python benchmarks/event_conv.py [--threads 1 2] [--densities 0.01 0.05 0.1 0.2] [--shapes a b c]
                                    [--rounds 7] [--clock wall|cpu] [--quick]

Threads: torch.set_num_threads(n) and SPIKEFLOW_NUMBA_THREADS=n for the numba kernels.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from spikeflow.layers.sparse_conv import DEFAULT_DENSITY_THRESHOLD, EventConv2d


@dataclass(frozen=True)
class Shape:
    name: str
    n: int  # T * B
    c_in: int
    c_out: int
    hw: int
    kernel: int
    stride: int
    padding: int


SHAPES = {
    "a": Shape("T*B=16*16, 32->64 ch, 16x16, 3x3, pad 1", 256, 32, 64, 16, 3, 1, 1),
    "b": Shape("T*B=16*8, 64->128 ch, 8x8, 3x3, pad 1", 128, 64, 128, 8, 3, 1, 1),
    "c": Shape("T*B=16*16, 16->32 ch, 32x32, 3x3, stride 2, pad 1", 256, 16, 32, 32, 3, 2, 1),
}
QUICK = Shape("quick: 8, 4->8 ch, 8x8, 3x3, pad 1", 8, 4, 8, 8, 3, 1, 1)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _time(fn: Callable[[], None], clock: Callable[[], float]) -> float:
    t0 = clock()
    fn()
    return (clock() - t0) * 1e3


def agree(ev: nn.Module, dense: nn.Module, x: torch.Tensor, g: torch.Tensor) -> bool:
    """Event and dense layers give the same output and gradients (x, weight, bias) up to float32 rounding."""
    res = []
    for m in (ev, dense):
        xg = x.clone().requires_grad_()
        y = m(xg)
        res.append((y, *torch.autograd.grad(y, [xg, *m.parameters()], g)))
    return all(torch.allclose(a, b, rtol=1e-4, atol=1e-4) for a, b in zip(*res, strict=True))


def bench(
    shape: Shape, p: float, rounds: int, clock: Callable[[], float]
) -> tuple[dict[str, tuple[float, float]], bool]:
    torch.manual_seed(0)
    ev = EventConv2d(shape.c_in, shape.c_out, shape.kernel, shape.stride, shape.padding, mode="event")
    dense = nn.Conv2d(shape.c_in, shape.c_out, shape.kernel, shape.stride, shape.padding)
    dense.load_state_dict(ev.state_dict())
    x = (torch.rand(shape.n, shape.c_in, shape.hw, shape.hw) < p).float()
    with torch.no_grad():
        g = torch.randn_like(dense(x))
    xg = x.clone().requires_grad_()

    def fwd(m: nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                m(x)
        return run

    def fwd_bwd(m: nn.Module) -> Callable[[], None]:
        def run() -> None:
            m.zero_grad(set_to_none=True)
            xg.grad = None
            m(xg).backward(g)
        return run

    same = agree(ev, dense, x, g)
    mods = {"event": ev, "dense": dense}
    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in mods}
    for m in mods.values():  # warm-up: numba compile / load, allocator
        fwd(m)()
        fwd_bwd(m)()
    for r in range(rounds):
        order = list(mods) if r % 2 == 0 else list(reversed(mods))
        for k in order:
            times[k][0].append(_time(fwd(mods[k]), clock))
            times[k][1].append(_time(fwd_bwd(mods[k]), clock))
    return {k: (statistics.median(f), statistics.median(b)) for k, (f, b) in times.items()}, same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--densities", type=float, nargs="+", default=[0.01, 0.05, 0.1, 0.2])
    parser.add_argument("--shapes", nargs="+", default=["a", "b"], choices=list(SHAPES))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="wall: elapsed time; cpu: process CPU time (less hurt by other jobs on a shared "
                             "machine, but summed over threads)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds: a smoke run")
    args = parser.parse_args(argv)
    shapes = [QUICK] if args.quick else [SHAPES[k] for k in args.shapes]
    rounds = 2 if args.quick else args.rounds
    print(f"# EventConv2d vs nn.Conv2d, medians of {rounds} rounds ({args.clock} clock); DEFAULT_DENSITY_THRESHOLD = "
          f"{DEFAULT_DENSITY_THRESHOLD}; load average {os.getloadavg()[0]:.1f}")
    all_agree = True
    for shape in shapes:
        print(f"\n## {shape.name}")
        print("| threads | density | fwd event ms | fwd dense ms | fwd dense/event | "
              "fwd+bwd event ms | fwd+bwd dense ms | fwd+bwd dense/event |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in args.threads:
            torch.set_num_threads(n)
            os.environ["SPIKEFLOW_NUMBA_THREADS"] = str(n)
            for p in args.densities:
                res, same = bench(shape, p, rounds, CLOCKS[args.clock])
                all_agree &= same
                (fe, be), (fd, bd) = res["event"], res["dense"]
                print(f"| {n} | {p:.0%} | {fe:.2f} | {fd:.2f} | {fd / fe:.2f} | {be:.2f} | {bd:.2f} | "
                      f"{bd / be:.2f} |", flush=True)
    torch.set_num_threads(1)
    os.environ["SPIKEFLOW_NUMBA_THREADS"] = "1"
    print(f"\n# event and dense outputs and gradients agree (every row): {'yes' if all_agree else 'NO'}")
    return 0 if all_agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
