"""snnTorch tutorial training loops under ``spikeflow.compat.snntorch`` vs under snnTorch 1.0.

Same process, same weights, same data; every row runs the identical tutorial code with only
the ``snn`` module swapped (plus spikeflow's own sequence API for reference). Rows are visited
in shuffled order each round; medians and ratios (snnTorch time / row time) are printed.

    python benchmarks/compat_vs_snntorch.py            # tutorial sizes (B=128, 784-1000-10, T=25)
    python benchmarks/compat_vs_snntorch.py --quick    # small sizes, smoke run

Loops:
  step    tutorial 5: explicit ``mem`` per step, ``spk, mem = lif(cur, mem)``, CE on every step's
          membrane, Adam step;
  hidden  tutorials 6-7: ``nn.Sequential`` with ``init_hidden=True`` neurons, ``utils.reset``,
          ``SF.ce_rate_loss``, Adam step.
Rows: snnTorch; compat (fused Leaky step); compat without the per-step NaN/inf scan
(``neuron.check_finite = False``); compat with the fused step off (the plain core step functions);
spikeflow's sequence API (``sf.Leaky`` over [T, B, N], fused CPU kernel) for the
step loop's network.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from typing import Any, Callable

import torch
import torch.nn as nn

import spikeflow as sf
import spikeflow.compat.snntorch as compat
import spikeflow.compat.snntorch.functional as compat_SF
from spikeflow.compat.snntorch import _fused


def step_net(snn: Any, n_in: int, n_hid: int, n_out: int, steps: int, beta: float = 0.95) -> nn.Module:
    class Net(nn.Module):  # tutorial 5, verbatim but for the parameters
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(n_in, n_hid)
            self.lif1 = snn.Leaky(beta=beta)
            self.fc2 = nn.Linear(n_hid, n_out)
            self.lif2 = snn.Leaky(beta=beta)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mem1 = self.lif1.init_leaky()
            mem2 = self.lif2.init_leaky()
            spk2_rec, mem2_rec = [], []
            for _ in range(steps):
                cur1 = self.fc1(x)
                spk1, mem1 = self.lif1(cur1, mem1)
                cur2 = self.fc2(spk1)
                spk2, mem2 = self.lif2(cur2, mem2)
                spk2_rec.append(spk2)
                mem2_rec.append(mem2)
            return torch.stack(spk2_rec, dim=0), torch.stack(mem2_rec, dim=0)

    return Net()


class SequenceNet(nn.Module):
    """The same network with spikeflow's own API: Linear over [T, B, N], neurons over sequences."""

    def __init__(self, n_in: int, n_hid: int, n_out: int, steps: int, beta: float = 0.95) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(n_in, n_hid), nn.Linear(n_hid, n_out)
        self.lif1, self.lif2 = sf.Leaky(beta=beta), sf.Leaky(beta=beta)
        self.steps = steps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the tutorial's work: fc1 applied to the (static) input at every step
        cur1 = self.fc1(x.unsqueeze(0).expand(self.steps, *x.shape))
        spk1, _ = self.lif1(cur1)
        spk2, trace = self.lif2(self.fc2(spk1), record=True)
        return spk2, trace.v


def hidden_net(snn: Any, n_in: int, n_hid: int, n_out: int) -> nn.Module:
    grad = snn.surrogate.fast_sigmoid(slope=25)
    return nn.Sequential(
        nn.Linear(n_in, n_hid), snn.Leaky(beta=0.5, spike_grad=grad, init_hidden=True),
        nn.Linear(n_hid, n_out), snn.Leaky(beta=0.5, spike_grad=grad, init_hidden=True, output=True),
    )


def step_iteration(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    loss = nn.CrossEntropyLoss()
    _, mem_rec = net(x)
    loss_val = torch.zeros(1)
    for step in range(steps):
        loss_val += loss(mem_rec[step], y)
    opt.zero_grad()
    loss_val.backward()
    opt.step()
    return loss_val.item()


def hidden_iteration(snn: Any, SF: Any, net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                     y: torch.Tensor, steps: int) -> float:
    snn.utils.reset(net)
    spk_rec = []
    for _ in range(steps):
        spk_out, _ = net(x)
        spk_rec.append(spk_out)
    loss_val = SF.ce_rate_loss()(torch.stack(spk_rec), y)
    opt.zero_grad()
    loss_val.backward()
    opt.step()
    return loss_val.item()


# CPU time of this process: with one torch thread it is the work done, robust to a loaded machine
CLOCK = time.process_time


def median_times(rows: dict[str, Callable[[], float]], rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    times: dict[str, list[float]] = {k: [] for k in rows}
    last: dict[str, float] = {}
    for fn in rows.values():  # warm-up
        fn()
    order = list(rows)
    for _ in range(rounds):
        random.shuffle(order)
        for k in order:
            t0 = CLOCK()
            last[k] = rows[k]()
            times[k].append(CLOCK() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: times are process CPU time; >1 switches to wall-clock)")
    args = ap.parse_args()
    global CLOCK
    torch.set_num_threads(args.threads)
    if args.threads != 1:
        CLOCK = time.perf_counter
    import snntorch
    import snntorch.functional as snn_SF
    import snntorch.surrogate  # noqa: F401 - snntorch's package does not import these itself
    import snntorch.utils  # noqa: F401

    B, n_in, n_hid, n_out, T = (16, 64, 128, 10, 8) if args.quick else (128, 784, 1000, 10, 25)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(B, n_in, generator=g)
    y = torch.randint(0, n_out, (B,), generator=g)
    clock = "process CPU time" if CLOCK is time.process_time else "wall-clock"
    print(f"load average {os.getloadavg()}, torch threads {torch.get_num_threads()} ({clock}), "
          f"B={B} {n_in}-{n_hid}-{n_out} T={T}, {args.rounds} rounds, medians")

    # ---- tutorial 5: per-step loop with explicit state
    torch.manual_seed(0)
    ref = step_net(snntorch, n_in, n_hid, n_out, T)
    nets = {"snnTorch": ref, "compat": step_net(compat, n_in, n_hid, n_out, T),
            "compat (finite scan off)": step_net(compat, n_in, n_hid, n_out, T),
            "compat (fused off)": step_net(compat, n_in, n_hid, n_out, T),
            "spikeflow sequence API": SequenceNet(n_in, n_hid, n_out, T)}
    for net in nets.values():
        net.load_state_dict(ref.state_dict(), strict=False)
    for m in nets["compat (finite scan off)"].modules():
        if isinstance(m, compat.SpikingNeuron):
            m.check_finite = False
    opts = {k: torch.optim.SGD(n.parameters(), lr=0.0) for k, n in nets.items()}  # lr 0: same work, fixed weights

    def row(name: str) -> Callable[[], float]:
        def run() -> float:
            _fused.ENABLED = name != "compat (fused off)"
            try:
                return step_iteration(nets[name], opts[name], x, y, T)
            finally:
                _fused.ENABLED = True
        return run

    med, last = median_times({k: row(k) for k in nets}, args.rounds)
    print("\n[step loop: tutorial 5, spk, mem = lif(cur, mem) per step, forward + backward + optimizer]")
    for k in nets:
        print(f"  {k:26s} {med[k] * 1e3:9.1f} ms   snnTorch/row {med['snnTorch'] / med[k]:5.2f}x   loss {last[k]:.5f}")

    # ---- tutorials 6-7: init_hidden Sequential, utils.reset, SF.ce_rate_loss
    torch.manual_seed(0)
    ref_h = hidden_net(snntorch, n_in, n_hid, n_out)
    ours_h = hidden_net(compat, n_in, n_hid, n_out)
    ours_h.load_state_dict(ref_h.state_dict())
    opt_r, opt_o = torch.optim.SGD(ref_h.parameters(), lr=0.0), torch.optim.SGD(ours_h.parameters(), lr=0.0)
    rows_h = {
        "snnTorch": lambda: hidden_iteration(snntorch, snn_SF, ref_h, opt_r, x, y, T),
        "compat": lambda: hidden_iteration(compat, compat_SF, ours_h, opt_o, x, y, T),
    }
    med_h, last_h = median_times(rows_h, args.rounds)
    print("\n[init_hidden loop: tutorials 6-7, nn.Sequential + utils.reset + SF.ce_rate_loss]")
    for k in rows_h:
        ratio = med_h["snnTorch"] / med_h[k]
        print(f"  {k:26s} {med_h[k] * 1e3:9.1f} ms   snnTorch/row {ratio:5.2f}x   loss {last_h[k]:.5f}")
    print(f"\nload average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
