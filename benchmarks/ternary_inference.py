"""Ternary inference: packed 2-bit weights with integer adds vs the float layers, in one process.

For each width and token count it times (median of repeats, torch threads as set):
  float Linear        F.linear with float32 weights (the dense floor, no quantization)
  BitLinear float     the training-time BitLinear forward (RMSNorm, 8-bit tokens, ternary codes, float GEMM)
  ternary int         TernaryLinearInt: the same layer on packed uint8 weights, int32 accumulation, no float GEMM
and the weight bytes of each. The integer path is checked equal to BitLinear before timing.

    python benchmarks/ternary_inference.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn import functional as F

from spikeflow.layers.bitlinear import BitLinear
from spikeflow.quant.ternary import TernaryLinearInt


def _time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1, 16, 128])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import os

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}")
    print("| width | tokens | float Linear ms | BitLinear float ms | ternary int ms | int / float Linear | "
          "weight bytes float32 / packed |")
    print("|---|---|---|---|---|---|---|")
    torch.manual_seed(0)
    for d in args.widths:
        layer = BitLinear(d, d)
        int_layer = TernaryLinearInt.from_bitlinear(layer)
        w = layer.weight.detach().clone()
        for n in args.tokens:
            x = torch.randn(n, d)
            with torch.no_grad():
                if not torch.equal(int_layer(x), layer(x)):
                    raise SystemExit("integer path differs from BitLinear")
                t_lin = _time(lambda x=x, w=w: F.linear(x, w), args.repeats)
                t_bit = _time(lambda x=x, layer=layer: layer(x), args.repeats)
                t_int = _time(lambda x=x, int_layer=int_layer: int_layer(x), args.repeats)
            print(f"| {d} | {n} | {t_lin:.3f} | {t_bit:.3f} | {t_int:.3f} | {t_int / t_lin:.1f}x | "
                  f"{w.numel() * 4} / {int_layer.weight_bytes()} |")


if __name__ == "__main__":
    main()
