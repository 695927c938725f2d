"""Peak memory and time per step vs sequence length T: BPTT against the online rules.

One network for every method: Linear(n_in, H) -> LIF(beta) -> Linear(H, K) -> leaky readout,
loss (1/T) sum_t CE(readout[t], y), one forward + gradient per measurement:

    bptt-reference   sf.Sequential, autograd through the reference kernels (a per-step graph)
    bptt-fused       the same, backend="cpu" (numba, hand-written backward)
    ottt             sf.online.OTTT(net).train_sequence
    eprop            sf.online.EProp on EPropNet(recurrent=False): the same feed-forward network
    sj-ottt          SpikingJelly 2.0 OTTTSequential(Linear, OTTTLIFNode, Linear) stepped as in its
                     OTTT example (its readout is the last Linear's output at each step, no leak)

Memory (CPU): the rise of the process's peak resident set during the measurement (Linux
VmHWM, reset through /proc/self/clear_refs after glibc's malloc_trim; the script re-executes
itself with glibc's mmap threshold lowered so freed tensors go back to the system). On CUDA: torch.cuda peak
allocated bytes. Run: ``python benchmarks/online_memory.py [--T 50 100 ...] [--plot out.png]``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import spikeflow as sf  # noqa: E402
from spikeflow.online import OTTT, EProp, EPropNet  # noqa: E402

METHODS = ("bptt-reference", "bptt-fused", "ottt", "eprop", "sj-ottt")


def _ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out, y)


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


class Meter:
    """Peak memory of a block: CUDA allocator peak, or the CPU peak RSS rise."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __enter__(self) -> "Meter":
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            # hand freed heap pages back (glibc keeps small freed blocks resident otherwise)
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.base = _status("VmRSS")
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.peak = _status("VmHWM") - self.base
        self.seconds = time.perf_counter() - self.t0


def build(method: str, n_in: int, hidden: int, classes: int, beta: float, device: torch.device):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    if method.startswith("bptt") or method == "ottt":
        backend = "cpu" if method == "bptt-fused" and device.type == "cpu" else (
            "triton" if method == "bptt-fused" else "reference")
        net = sf.Sequential(nn.Linear(n_in, hidden), sf.Leaky(beta=beta, backend=backend),
                            nn.Linear(hidden, classes), sf.LI(beta=beta, backend=backend)).to(device)
        if method == "ottt":
            learner = OTTT(net)
            return lambda x, y: learner.train_sequence(x, y, _ce)
        def bptt(x, y):  # type: ignore[no-untyped-def]
            out, _ = net(x)
            loss = _ce(out.reshape(-1, classes), y.repeat(x.shape[0]))
            loss.backward()
        return bptt
    if method == "eprop":
        net = EPropNet(n_in, hidden, classes, beta=beta, kappa=beta, recurrent=False).to(device)
        learner = EProp(net)
        return lambda x, y: learner.train_sequence(x, y, _ce)
    from spikingjelly.activation_based import functional as sjf
    from spikingjelly.activation_based import layer as sjl
    from spikingjelly.activation_based import neuron as sjn

    tau = 1.0 / (1.0 - beta)   # SpikingJelly's LIF: v = v + (x - v)/tau ... with decay_input=False: v(1-1/tau) + x
    net = sjl.OTTTSequential(nn.Linear(n_in, hidden), sjn.OTTTLIFNode(tau=tau, decay_input=False),
                             nn.Linear(hidden, classes)).to(device)

    def sj(x, y):  # type: ignore[no-untyped-def]
        sjf.reset_net(net)
        for t in range(x.shape[0]):
            loss = _ce(net(x[t]), y) / x.shape[0]
            loss.backward()
    return sj


def measure(method: str, steps: int, args: argparse.Namespace, device: torch.device) -> dict:
    fn = build(method, args.n_in, args.hidden, args.classes, args.beta, device)
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(steps, args.batch, args.n_in, generator=gen) < 0.2).float().to(device)
    y = torch.randint(0, args.classes, (args.batch,), generator=gen).to(device)
    fn(x[: min(steps, 5)], y)  # warm-up (kernel compilation, allocator)
    with Meter(device) as m:
        fn(x, y)
    return {"method": method, "T": steps, "peak_mib": m.peak / 2**20, "ms_per_step": 1e3 * m.seconds / steps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--T", type=int, nargs="+", default=[50, 100, 200, 500, 1000, 2000])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--n-in", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--beta", type=float, default=0.9)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="write the rows here")
    p.add_argument("--plot", default=None, help="write a PNG of memory and time vs T here")
    p.add_argument("--from-json", default=None, help="plot rows written earlier by --json instead of measuring")
    args = p.parse_args()
    device = torch.device(args.device)
    if args.from_json:
        plot(json.loads(Path(args.from_json).read_text()), args.methods, args.plot)
        return
    if device.type == "cpu" and os.environ.get("MALLOC_MMAP_THRESHOLD_") is None:
        # freed tensors must leave the resident set, or a later peak hides in reused pages
        os.environ["MALLOC_MMAP_THRESHOLD_"] = "65536"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    rows = []
    print(f"# torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"net {args.n_in}-{args.hidden}-{args.classes}, batch {args.batch}")
    print(f"{'method':<16}{'T':>6}{'peak MiB':>11}{'ms/step':>10}")
    for method in args.methods:
        for steps in args.T:
            try:
                row = measure(method, steps, args, device)
            except Exception as err:  # a peer that cannot run this configuration
                row = {"method": method, "T": steps, "error": f"{type(err).__name__}: {err}"[:200]}
                print(f"{method:<16}{steps:>6}  {row['error']}")
                rows.append(row)
                break
            rows.append(row)
            print(f"{method:<16}{steps:>6}{row['peak_mib']:>11.1f}{row['ms_per_step']:>10.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.plot:
        plot(rows, args.methods, args.plot)


def plot(rows: list[dict], methods: list[str], path: str) -> None:
    """Memory (log scale) and time per step against T, one line per method."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax_m, ax_t = fig.subplots(1, 2)
    for method in methods:
        r = [row for row in rows if row["method"] == method and "peak_mib" in row]
        if r:
            ax_m.plot([q["T"] for q in r], [q["peak_mib"] for q in r], "o-", label=method)
            ax_t.plot([q["T"] for q in r], [q["ms_per_step"] for q in r], "o-", label=method)
    for ax, label in ((ax_m, "peak memory (MiB)"), (ax_t, "time per step (ms)")):
        ax.set_xscale("log")
        ax.set_xlabel("T (steps)")
        ax.set_ylabel(label)
    ax_m.set_yscale("log")
    ax_m.legend(fontsize=8)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
