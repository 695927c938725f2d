"""Peer benchmark: the same spiking network in snnTorch, Norse, SpikingJelly and spikeflow.

Network: x [T, B, N_in] -> (Linear -> LIF) x layers -> sum of the last layer's spikes -> backward.
LIF (every implementation): h = 0.9 v + I, s = H(h - 1), v = h (1 - s), reset detached, ATan(2)
surrogate. Peers are configured to match:
  snnTorch      snn.Leaky(beta=0.9, reset_mechanism="zero"), Linear inside the time loop (the
                tutorial idiom); its delayed zero reset gives the same spike trains.
  SpikingJelly  multi-step LIFNode(tau=10, decay_input=False, v_reset=0, detach_reset=True, ATan()),
                Linear over all steps at once.
  Norse         LIFBoxCell loop (dt * tau_mem_inv = 0.1, so the Linear weights are scaled by 10).
                Norse's reset is not detached and its surrogate is SuperSpike: same spikes up to
                float rounding, different gradients (no exact equivalence exists).
  spikeflow     Leaky(beta=0.9, reset="zero") with backend "reference" and "cpu" (fused);
                "cpu+event" also uses EventLinear for spike inputs (layers >= 2).
  floor         the Linear layers alone (no neuron): the dense matrix-product floor.
All rows share weights and input; spike counts are checked. Rounds visit every row in shuffled
order and medians are printed (the machine may be shared: numbers are noisy).

    python benchmarks/peers.py [--quick] [--threads 1 2] [--cases c1 c2 mlp sparse3] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

import spikeflow as sf
from spikeflow.layers.sparse import EventLinear

warnings.filterwarnings("ignore")

BETA, THR = 0.9, 1.0


@dataclass
class Case:
    name: str
    T: int
    B: int
    N: int
    layers: int
    hidden_gain: float = 4.0


CASES = {
    "c1": Case("c1 T=100 B=32 N=512", 100, 32, 512, 1),
    "c2": Case("c2 T=500 B=16 N=256", 500, 16, 256, 1),
    "mlp": Case("mlp 2 layers T=100 B=32 N=512", 100, 32, 512, 2),
    "sparse3": Case("sparse3 3 layers T=100 B=32 N=512 (sparse hidden)", 100, 32, 512, 3, hidden_gain=3.0),
}
QUICK = {
    "c1": Case("c1 (quick) T=20 B=4 N=32", 20, 4, 32, 1),
    "c2": Case("c2 (quick) T=40 B=2 N=16", 40, 2, 16, 1),
    "mlp": Case("mlp (quick) T=20 B=4 N=32", 20, 4, 32, 2),
    "sparse3": Case("sparse3 (quick) T=20 B=4 N=32", 20, 4, 32, 3, hidden_gain=3.0),
}

# An implementation: (x) -> list of per-layer spike tensors [T, B, N] (last one is summed)
Impl = Callable[[Tensor], list[Tensor]]


def make_linears(case: Case, seed: int = 0) -> list[nn.Linear]:
    torch.manual_seed(seed)
    lins = [nn.Linear(case.N, case.N) for _ in range(case.layers)]
    with torch.no_grad():
        for lin in lins[1:]:
            lin.weight.mul_(case.hidden_gain)
    return lins


def copy_linears(lins: list[nn.Linear], cls: type = nn.Linear, scale: float = 1.0) -> list[nn.Linear]:
    out = []
    for lin in lins:
        new = cls(lin.in_features, lin.out_features)
        with torch.no_grad():
            new.weight.copy_(lin.weight * scale)
            new.bias.copy_(lin.bias * scale)
        out.append(new)
    return out


def build_impls(case: Case, lins: list[nn.Linear]) -> dict[str, tuple[Impl, list[nn.Module]]]:
    impls: dict[str, tuple[Impl, list[nn.Module]]] = {}

    def spikeflow_impl(backend: str, event: bool) -> tuple[Impl, list[nn.Module]]:
        layers = copy_linears(lins)
        if event:
            layers = [layers[0], *copy_linears(lins[1:], EventLinear)]
        neurons = [sf.Leaky(beta=BETA, threshold=THR, reset="zero", backend=backend) for _ in layers]

        def run(x: Tensor) -> list[Tensor]:
            outs, h = [], x
            for lin, lif in zip(layers, neurons, strict=True):
                h, _ = lif(lin(h))
                outs.append(h)
            return outs

        return run, layers

    impls["spikeflow reference"] = spikeflow_impl("reference", False)
    impls["spikeflow cpu (fused)"] = spikeflow_impl("cpu", False)
    if case.layers > 1:
        impls["spikeflow cpu + event synapses"] = spikeflow_impl("cpu", True)

    floor_layers = copy_linears(lins)

    def floor(x: Tensor) -> list[Tensor]:
        h = x
        for lin in floor_layers:
            h = lin(h)
        return [h]

    impls["floor: Linear only (no neuron)"] = (floor, floor_layers)

    try:
        import snntorch as snn

        s_layers = copy_linears(lins)
        s_neurons = [snn.Leaky(beta=BETA, threshold=THR, reset_mechanism="zero") for _ in s_layers]

        def snntorch_impl(x: Tensor) -> list[Tensor]:
            mems = [torch.zeros(x.shape[1], lin.out_features) for lin in s_layers]
            recs: list[list[Tensor]] = [[] for _ in s_layers]
            for x_t in x.unbind(0):
                h = x_t
                for k, (lin, lif) in enumerate(zip(s_layers, s_neurons, strict=True)):
                    h, mems[k] = lif(lin(h), mems[k])
                    recs[k].append(h)
            return [torch.stack(r) for r in recs]

        impls["snnTorch Leaky loop"] = (snntorch_impl, s_layers)
    except ImportError:
        print("# snntorch not installed: row skipped")

    try:
        from spikingjelly.activation_based import functional as sjf
        from spikingjelly.activation_based import neuron as sjn
        from spikingjelly.activation_based import surrogate as sjs

        j_layers = copy_linears(lins)
        j_neurons = [
            sjn.LIFNode(tau=1 / (1 - BETA), decay_input=False, v_threshold=THR, v_reset=0.0,
                        surrogate_function=sjs.ATan(), detach_reset=True, step_mode="m")
            for _ in j_layers
        ]

        def sj_impl(x: Tensor) -> list[Tensor]:
            outs, h = [], x
            for lin, lif in zip(j_layers, j_neurons, strict=True):
                sjf.reset_net(lif)
                h = lif(lin(h))
                outs.append(h)
            return outs

        impls["SpikingJelly multi-step LIFNode"] = (sj_impl, j_layers)
    except ImportError:
        print("# spikingjelly not installed: row skipped")

    try:
        import norse.torch as nt

        n_layers = copy_linears(lins, scale=10.0)
        n_cells = [nt.LIFBoxCell() for _ in n_layers]

        def norse_impl(x: Tensor) -> list[Tensor]:
            outs, h = [], x
            for lin, cell in zip(n_layers, n_cells, strict=True):
                cur, state, rec = lin(h), None, []
                for c_t in cur.unbind(0):
                    z, state = cell(c_t, state)
                    rec.append(z)
                h = torch.stack(rec)
                outs.append(h)
            return outs

        impls["Norse LIFBoxCell loop (other surrogate)"] = (norse_impl, n_layers)
    except ImportError:
        print("# norse not installed: row skipped")
    return impls


def saved_bytes(impl: Impl, x: Tensor, params: list[nn.Module]) -> int:
    """Bytes of unique storages saved for backward and still held when backward starts,
    excluding parameters and the input.

    Saved tensors are tracked through weak references and counted after the forward: a
    storage freed during the forward (its graph branch dropped) cannot be confused with a
    later one at the same address.
    """
    skip = {p.untyped_storage().data_ptr() for m in params for p in m.parameters()}
    skip.add(x.untyped_storage().data_ptr())
    refs: list[weakref.ref[Tensor]] = []

    def pack(t: Tensor) -> Tensor:
        refs.append(weakref.ref(t))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = impl(x)[-1]
    held: dict[int, int] = {}
    for ref in refs:
        t = ref()
        if t is not None and t.untyped_storage().data_ptr() not in skip:
            held[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    out.sum().backward()
    return sum(held.values())


def time_rows(impls: dict[str, tuple[Impl, list[nn.Module]]], x: Tensor, rounds: int, slow_s: float
              ) -> dict[str, tuple[float, float]]:
    """Median forward and forward+backward times (ms), rows visited in shuffled order each round."""
    fwd: dict[str, list[float]] = {k: [] for k in impls}
    tot: dict[str, list[float]] = {k: [] for k in impls}
    slow: set[str] = set()
    for name, (impl, _) in impls.items():  # warm-up (numba compiles, allocator)
        t0 = time.perf_counter()
        impl(x)[-1].sum().backward()
        if time.perf_counter() - t0 > slow_s:
            slow.add(name)
    for r in range(rounds):
        order = list(impls)
        random.Random(r).shuffle(order)
        for name in order:
            if name in slow and r > 0:
                continue  # rows slower than slow_s are timed once
            impl, mods = impls[name]
            for m in mods:
                m.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            out = impl(x)[-1].sum()
            t1 = time.perf_counter()
            out.backward()
            t2 = time.perf_counter()
            fwd[name].append((t1 - t0) * 1e3)
            tot[name].append((t2 - t0) * 1e3)
    return {k: (statistics.median(fwd[k]), statistics.median(tot[k])) for k in impls}


def check_spikes(impls: dict[str, tuple[Impl, list[nn.Module]]], x: Tensor) -> tuple[dict[str, list[int]], bool]:
    counts = {}
    with torch.no_grad():
        for name, (impl, _) in impls.items():
            if name.startswith("floor"):
                continue
            counts[name] = [int(s.sum()) for s in impl(x)]
    ref = counts["spikeflow reference"]
    exact = {k: v for k, v in counts.items() if not k.startswith("Norse")}
    return counts, all(v == ref for v in exact.values())


def run_case(key: str, case: Case, threads: list[int], rounds: int, slow_s: float) -> bool:
    lins = make_linears(case)
    impls = build_impls(case, lins)
    torch.manual_seed(1)
    x = torch.randn(case.T, case.B, case.N)
    counts, agree = check_spikes(impls, x)
    n_elem = case.T * case.B * case.N
    ref_counts = counts["spikeflow reference"]
    rates = ", ".join(f"{c / n_elem:.1%}" for c in ref_counts)
    print(f"\n## {case.name}: spike rate per layer {rates}")
    for name, c in counts.items():
        flag = "" if c == ref_counts else "  (differs)"
        print(f"#   spike counts {name}: {c}{flag}")
    print(f"#   spike counts agree (all exact-semantics rows): {'yes' if agree else 'NO'}")
    torch.set_num_threads(1)
    mem = {k: saved_bytes(impl, x, mods) / 2**20 for k, (impl, mods) in impls.items()}
    results = {}
    for n in threads:
        torch.set_num_threads(n)
        results[n] = time_rows(impls, x, rounds, slow_s)
    torch.set_num_threads(1)
    head = "| implementation | saved MB |"
    sep = "|---|---:|"
    for n in threads:
        head += f" fwd ms ({n}t) | fwd+bwd ms ({n}t) | x snnTorch | x SJ | / floor |"
        sep += "---:|---:|---:|---:|---:|"
    print(head)
    print(sep)
    for name in impls:
        row = f"| {name} | {mem[name]:.1f} |"
        for n in threads:
            f, t = results[n][name]
            snn_t = results[n].get("snnTorch Leaky loop", (0, float("nan")))[1]
            sj_t = results[n].get("SpikingJelly multi-step LIFNode", (0, float("nan")))[1]
            floor_t = results[n]["floor: Linear only (no neuron)"][1]
            row += f" {f:.1f} | {t:.1f} | {snn_t / t:.2f} | {sj_t / t:.2f} | {t / floor_t:.2f} |"
        print(row)
    if "snnTorch Leaky loop" in mem:
        print(f"#   saved-for-backward memory, spikeflow cpu / snnTorch: "
              f"{mem['spikeflow cpu (fused)'] / mem['snnTorch Leaky loop']:.2f}")
    return agree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds: a smoke run")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--slow-s", type=float, default=3.0, help="rows slower than this are timed once")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 5)
    table = QUICK if args.quick else CASES
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# spikeflow peers benchmark | torch {torch.__version__} | load average {load:.2f} | "
          f"rounds {rounds} | medians in ms")
    agree = True
    for key in args.cases:
        agree &= run_case(key, table[key], args.threads, rounds, args.slow_s)
    print(f"\n# all spike counts agree: {'yes' if agree else 'NO'}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
