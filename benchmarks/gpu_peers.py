"""GPU peer benchmark: Linear + LIF forward and backward on CUDA, spikeflow triton vs peers.

Network (one layer, as peers.py): x [T, B, N] -> Linear -> LIF -> sum of spikes -> backward, with
h = 0.9 v + I, s = H(h - 1), v = h (1 - s), reset detached, ATan(2) surrogate. Rows:
  floor                 the Linear alone (no neuron): the dense matrix-product floor
  spikeflow triton      sf.Leaky(beta=0.9, reset="zero", backend="triton") (fused kernels)
  spikeflow reference   the same with backend="reference" (per-step autograd loop)
  SpikingJelly          multi-step LIFNode(tau=10, decay_input=False, v_reset=0, detach_reset=True,
                        ATan()); backend="cupy" when its LIFNode takes a backend and cupy imports
                        (else "torch"); newer SpikingJelly picks its own CUDA kernel (reported)
  snnTorch              snn.Leaky(beta=0.9, reset_mechanism="zero"), Linear inside the time loop
All rows share weights and input; spike counts are printed. Prints (never asserts) median forward
and forward+backward times, ratios to the floor and to SpikingJelly, bytes saved for backward
and peak CUDA memory. Exits with a message (status 0) when CUDA is not available.

    python benchmarks/gpu_peers.py [--T 500 --B 64 --N 1024 --rounds 5] [--skip-slow]
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import time
import warnings
from typing import Callable

import torch
from torch import Tensor, nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import BETA, THR, Case, copy_linears, make_linears, saved_bytes  # noqa: E402

import spikeflow as sf  # noqa: E402

warnings.filterwarnings("ignore")

Impl = Callable[[Tensor], list[Tensor]]
FLOOR, TRITON, REFERENCE = "floor: Linear only (no neuron)", "spikeflow triton", "spikeflow reference"


DEVICE = torch.device("cuda")


def _cuda(mods: list[nn.Linear]) -> list[nn.Linear]:
    return [m.to(DEVICE) for m in mods]


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def build_impls(lins: list[nn.Linear], skip_slow: bool) -> dict[str, tuple[Impl, list[nn.Module]]]:
    """Every row on CUDA with copies of the same Linear weights."""
    impls: dict[str, tuple[Impl, list[nn.Module]]] = {}
    floor_lin = _cuda(copy_linears(lins))[0]
    impls[FLOOR] = (lambda x: [floor_lin(x)], [floor_lin])

    def spikeflow_impl(backend: str) -> tuple[Impl, list[nn.Module]]:
        lin = _cuda(copy_linears(lins))[0]
        lif = sf.Leaky(beta=BETA, threshold=THR, reset="zero", backend=backend).to(DEVICE)
        return (lambda x: [lif(lin(x))[0]]), [lin]

    impls[TRITON] = spikeflow_impl("triton")
    if not skip_slow:
        impls[REFERENCE] = spikeflow_impl("reference")
    sj = _spikingjelly(lins)
    if sj is not None:
        impls[sj[0]] = sj[1]
    if not skip_slow:
        try:
            import snntorch as snn

            s_lin = _cuda(copy_linears(lins))[0]
            s_lif = snn.Leaky(beta=BETA, threshold=THR, reset_mechanism="zero").to(DEVICE)

            def snntorch_impl(x: Tensor) -> list[Tensor]:
                mem = torch.zeros(x.shape[1], s_lin.out_features, device=x.device)
                rec = []
                for x_t in x.unbind(0):
                    spk, mem = s_lif(s_lin(x_t), mem)
                    rec.append(spk)
                return [torch.stack(rec)]

            impls["snnTorch Leaky loop"] = (snntorch_impl, [s_lin])
        except ImportError:
            print("# snntorch not installed: row skipped")
    return impls


def _spikingjelly(lins: list[nn.Linear]) -> tuple[str, tuple[Impl, list[nn.Module]]] | None:
    try:
        from spikingjelly.activation_based import functional as sjf
        from spikingjelly.activation_based import neuron as sjn
        from spikingjelly.activation_based import surrogate as sjs
    except ImportError:
        print("# spikingjelly not installed: row skipped")
        return None
    kwargs = dict(tau=1 / (1 - BETA), decay_input=False, v_threshold=THR, v_reset=0.0,
                  surrogate_function=sjs.ATan(), detach_reset=True, step_mode="m")
    if "backend" in inspect.signature(sjn.LIFNode.__init__).parameters:  # SpikingJelly <= 0.0.0.0.14
        try:
            import cupy  # noqa: F401

            kwargs["backend"] = "cupy"
        except ImportError:
            kwargs["backend"] = "torch"
        label = f"SpikingJelly LIFNode (backend {kwargs['backend']})"
    else:  # newer releases select their own CUDA implementation
        label = f"SpikingJelly LIFNode ({_sj_implementation()})"
    j_lin = _cuda(copy_linears(lins))[0]
    j_lif = sjn.LIFNode(**kwargs).to(DEVICE)

    def sj_impl(x: Tensor) -> list[Tensor]:
        sjf.reset_net(j_lif)
        return [j_lif(j_lin(x))]

    return label, (sj_impl, [j_lin])


def _sj_implementation() -> str:
    try:
        from spikingjelly._ops.lif import _selection

        return f"auto: {_selection.diagnostics(DEVICE)['implementation']}"
    except Exception as err:  # private API: only for the label
        return f"auto ({type(err).__name__})"


def time_rows(impls: dict[str, tuple[Impl, list[nn.Module]]], x: Tensor, rounds: int
              ) -> dict[str, tuple[float, float, float]]:
    """Median forward and forward+backward ms, and peak CUDA memory (MB) of one fwd+bwd, per row."""
    fwd: dict[str, list[float]] = {k: [] for k in impls}
    tot: dict[str, list[float]] = {k: [] for k in impls}
    peak: dict[str, float] = {}
    for name, (impl, _) in impls.items():  # warm-up: triton compiles, cuDNN/cuBLAS pick algorithms
        for _ in range(2):
            impl(x)[-1].sum().backward()
        peak[name] = float("nan")
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            impl(x)[-1].sum().backward()
            torch.cuda.synchronize()
            peak[name] = (torch.cuda.max_memory_allocated() - base) / 2**20
    for _ in range(rounds):
        for name, (impl, mods) in impls.items():
            for m in mods:
                m.zero_grad(set_to_none=True)
            _sync()
            t0 = time.perf_counter()
            out = impl(x)[-1].sum()
            _sync()
            t1 = time.perf_counter()
            out.backward()
            _sync()
            t2 = time.perf_counter()
            fwd[name].append((t1 - t0) * 1e3)
            tot[name].append((t2 - t0) * 1e3)
    return {k: (statistics.median(fwd[k]), statistics.median(tot[k]), peak[k]) for k in impls}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=500)
    parser.add_argument("--B", type=int, default=64)
    parser.add_argument("--N", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-slow", action="store_true", help="leave out the per-step loops (reference, snnTorch)")
    parser.add_argument("--smoke", action="store_true",
                        help="check this script without a GPU: tiny sizes on CPU through the Triton interpreter")
    args = parser.parse_args(argv)
    if args.smoke:  # before the triton kernels are first loaded (triton.jit reads it when decorating)
        global DEVICE
        os.environ["TRITON_INTERPRET"] = "1"
        DEVICE = torch.device("cpu")
        args.T, args.B, args.N, args.rounds = 6, 2, 8, 1
    elif not torch.cuda.is_available():
        print("gpu_peers.py: CUDA is not available on this machine; this benchmark needs an NVIDIA GPU "
              "(see benchmarks/peers.py for the CPU comparison).")
        return 0
    case = Case(f"T={args.T} B={args.B} N={args.N}", args.T, args.B, args.N, 1)
    lins = make_linears(case)
    impls = build_impls(lins, args.skip_slow)
    torch.manual_seed(1)
    x = torch.randn(case.T, case.B, case.N, device=DEVICE)
    name = torch.cuda.get_device_name() if DEVICE.type == "cuda" else "CPU smoke run (Triton interpreter)"
    print(f"# spikeflow GPU peers benchmark | {name} | torch {torch.__version__} | "
          f"{case.name} | Linear + LIF, fwd+bwd | median of {args.rounds} | float32")
    with torch.no_grad():
        counts = {k: int(impl(x)[-1].sum()) for k, (impl, _) in impls.items() if k != FLOOR}
    for name, c in counts.items():
        print(f"#   spike count {name}: {c}{'' if c == counts[TRITON] else '  (differs from triton)'}")
    mem = {k: saved_bytes(impl, x, mods) / 2**20 for k, (impl, mods) in impls.items()}
    res = time_rows(impls, x, args.rounds)
    floor_t = res[FLOOR][1]
    sj_name = next((k for k in impls if k.startswith("SpikingJelly")), None)
    sj_t = res[sj_name][1] if sj_name else float("nan")
    print("| implementation | fwd ms | fwd+bwd ms | / floor | x SJ (SJ time / row time) | saved MB | peak MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (f, t, p) in res.items():
        print(f"| {name} | {f:.2f} | {t:.2f} | {t / floor_t:.2f} | {sj_t / t:.2f} | {mem[name]:.1f} | {p:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
