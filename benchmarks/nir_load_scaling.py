"""Loading time of a NIR file against its node count: chains Input -> n Scale nodes -> Output.

    python benchmarks/nir_load_scaling.py                        # 1k / 5k / 20k nodes, this checkout
    python benchmarks/nir_load_scaling.py --variants before=/work/main,after=. --reps 2
    python benchmarks/nir_load_scaling.py --sizes 1000 --peer    # also nir.read (the nir package's reader)

The files are written once into a temporary folder. Every load runs in a fresh Python process
(what a user sees: first load, nothing cached in Python) with PYTHONPATH=the variant's path; the
child times only the load call (imports excluded): wall and CPU time (time.process_time, which
depends less on the other processes of a shared machine) and the 1-minute load average. Variants
are visited in alternation so that both see the same ambient load. The loaded network is run on
a random input and must return it unchanged (an even number of sign flips).

Prints per size and variant: median wall and CPU seconds, CPU microseconds per node (flat when the
load time is linear in the node count), and the CPU ratio to the first variant.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, os, sys, time
path, reader = sys.argv[1], sys.argv[2]
if reader == "spikeflow":
    import torch
    from spikeflow.interop import load_nir as load
else:
    import nir
    load = nir.read
wall, cpu = time.perf_counter(), time.process_time()
net = load(path)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
ok = None
if reader == "spikeflow":
    x = torch.rand(3, 2, 2)
    with torch.no_grad():
        ok = bool(torch.equal(net(x)[0], x))
print(json.dumps({"wall": wall, "cpu": cpu, "load": os.getloadavg()[0], "ok": ok, "module": load.__module__,
                  "file": sys.modules[load.__module__].__file__}))
"""


def write_chain(path: Path, n: int) -> Path:
    """Input(2) -> n Scale nodes (alternately +1 and -1) -> Output(2), written by nir.write."""
    import nir
    import numpy as np

    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array([2])})}
    edges, last = [], "input"
    for i in range(n):
        nodes[f"n{i}"] = nir.Scale(scale=np.full(2, -1.0 if i % 2 else 1.0))
        edges.append((last, f"n{i}"))
        last = f"n{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([2])})
    edges.append((last, "output"))
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    return path


def run(path: Path, pythonpath: str, reader: str, timeout: float) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    # cwd: the folder of the file, so that "-c" does not put this checkout ahead of PYTHONPATH
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), reader], env=env, capture_output=True, text=True,
                         timeout=timeout, cwd=path.parent)
    if out.returncode != 0:
        raise RuntimeError(f"{reader} on {path} with PYTHONPATH={pythonpath} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,5000,20000", help="node counts, comma separated")
    ap.add_argument("--variants", default=f"this={Path(__file__).resolve().parents[1]}",
                    help="NAME=PATH,... : PYTHONPATH of each spikeflow checkout to time")
    ap.add_argument("--reps", type=int, default=1, help="loads per size and variant (median reported)")
    ap.add_argument("--peer", action="store_true", help="also time nir.read (quadratic type check: small sizes)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per load")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = [(name, os.path.abspath(p)) for name, _, p in (v.partition("=") for v in args.variants.split(","))]
    if args.peer:
        variants.append(("nir.read", variants[0][1]))
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = write_chain(Path(tmp) / f"chain_{n}.nir", n)
            results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
            for _ in range(args.reps):
                for name, pp in variants:
                    r = run(path, pp, "nir" if name == "nir.read" else "spikeflow", args.timeout)
                    if r["ok"] is False:
                        raise RuntimeError(f"{name}: the loaded {n}-node chain does not return its input")
                    results[name].append(r)
            for name, pp in variants:
                used = results[name][0]["file"]
                if name != "nir.read" and not used.startswith(pp + os.sep):
                    raise RuntimeError(f"{name}: imported {used}, not the checkout at {pp}")
            base = statistics.median(r["cpu"] for r in results[variants[0][0]])
            for name, rs in results.items():
                wall, cpu = statistics.median(r["wall"] for r in rs), statistics.median(r["cpu"] for r in rs)
                load = statistics.mean(r["load"] for r in rs)
                print(f"{n:>7} nodes  {name:<10} wall {wall:7.2f} s  cpu {cpu:7.2f} s  "
                      f"{1e6 * cpu / n:6.0f} us/node (cpu)  cpu ratio to {variants[0][0]}: {cpu / base:5.2f}  "
                      f"load {load:.2f}", flush=True)


if __name__ == "__main__":
    main()
