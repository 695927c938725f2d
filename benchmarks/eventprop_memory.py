"""Saved-for-backward memory vs number of time steps: EventProp (discrete) vs surrogate BPTT.

Same 5-200-3 Yin-Yang network and spike encoding, batch 32; T is varied through dt at a fixed
40 ms trial. Bytes are counted with torch.autograd.graph.saved_tensors_hooks (each saved
tensor counted once by storage). Run: python benchmarks/eventprop_memory.py
"""

from __future__ import annotations

import math

import torch

from spikeflow.data.yinyang import encode_raster, encode_times, yinyang
from spikeflow.exact import LIFLayer, max_voltage_cross_entropy, ttfs_cross_entropy
from spikeflow.tasks.yinyang import BPTTNet


def saved_bytes(fn) -> int:
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor):
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        seen[key] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = fn()
    loss.backward()
    return sum(seen.values())


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = yinyang("validation").tensors
    x, y = x[:32], y[:32]
    times = encode_times(x)
    t_max = 40.0
    print(f"{'T':>6} {'dt ms':>6} {'EventProp KiB':>14} {'BPTT KiB':>10} {'ratio':>7}")
    for dt in (1.0, 0.5, 0.25, 0.1, 0.05):
        n_steps = int(math.ceil(t_max / dt - 1e-9))
        hidden = LIFLayer(5, 200, dt=dt, t_max=t_max, max_spikes=10, init_mean=1.5, init_std=0.78)
        output = LIFLayer(200, 3, dt=dt, t_max=t_max, max_spikes=1, init_mean=0.93, init_std=0.1)
        ep = saved_bytes(lambda h=hidden, o=output: ttfs_cross_entropy(o(h(times)), y, t_silent=t_max))
        net = BPTTNet((5, 200, 3), ((1.5, 0.78), (0.93, 0.1)), 20.0, 5.0, dt)
        raster = encode_raster(times, dt, n_steps)
        bp = saved_bytes(lambda m=net, r=raster: max_voltage_cross_entropy(m(r), y))
        print(f"{n_steps:>6} {dt:>6} {ep / 1024:>14.1f} {bp / 1024:>10.1f} {bp / ep:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
