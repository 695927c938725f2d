"""Run spikeflow models in NeuroBench's ``Benchmark`` (optional: ``pip install neurobench``).

    from neurobench.benchmarks import Benchmark
    model = sf.analysis.NeuroBenchAdapter(net)          # net: time-major [T, B, ...] -> [T, B, ...]
    Benchmark(model, loader, [], [postproc], [static, workload]).run()

NeuroBench feeds batch-first data ``[B, T, ...]`` and expects ``[B, T, ...]`` back; the adapter
transposes on the way in and out and runs without gradients. Every batch starts from rest
(states are never kept between calls), so each sample is independent: the state reset per
sample NeuroBench's SNNTorchModel performs with ``reset()``.

How NeuroBench sees the network (read from neurobench 2.3.0):

- synapses: forward-pre-hooks on ``nn.Linear`` / ``nn.Conv*d`` modules found in ``__net__()``;
  spikeflow calls them as real modules, so they are seen (on the folded [T*B, ...] input);
- activations: forward hooks on "activation modules", which must return a Tensor; spikeflow
  neurons return (spikes, state), so the adapter routes each neuron layer's spikes through a
  tiny identity module (``SpikeTap``) that NeuroBench hooks instead.

Our :func:`spikeflow.analysis.report` gives the same synaptic operations (Effective_ACs,
Effective_MACs, Dense per sample) and activation sparsity over every sample
(tests/analysis/test_neurobench.py checks they are equal).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..neurons.base import NeuronBase


class SpikeTap(nn.Module):
    """Identity on a spike Tensor: the module NeuroBench's activation hooks attach to."""

    def forward(self, spikes: Tensor) -> Tensor:
        return spikes


class BenchView(nn.Module):
    """What ``__net__()`` returns: the model (its synapses) plus one SpikeTap per neuron layer."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.layer_names = [name for name, m in model.named_modules() if isinstance(m, NeuronBase)]
        self.taps = nn.ModuleDict({_key(name): SpikeTap() for name in self.layer_names})


def _key(name: str) -> str:
    return "layer_" + (name.replace(".", "_") or "model")


def _tap_hook(tap: SpikeTap):  # type: ignore[no-untyped-def]
    def hook(module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        tap(out[0] if isinstance(out, tuple) else out)

    return hook


def _base_class() -> type:
    try:
        from neurobench.models import NeuroBenchModel
    except ImportError as err:  # pragma: no cover - exercised only without neurobench
        raise ImportError("NeuroBenchAdapter needs neurobench: pip install --no-deps neurobench "
                          "(see the Makefile for what it needs at import)") from err
    return NeuroBenchModel


def NeuroBenchAdapter(model: nn.Module, *, output: int = 0) -> Any:  # noqa: N802 - a class factory
    """Wrap a time-major spikeflow model as a ``neurobench.models.NeuroBenchModel``.

    model: maps [T, B, ...] to outputs [T, B, ...] (or (outputs, states)). ``output`` picks
    the tuple item that holds the outputs. Build a fresh adapter for every ``Benchmark``
    (NeuroBench registers its hooks once per Benchmark).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    base = _base_class()

    class _Adapter(base):  # type: ignore[valid-type, misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = model
            self.view = BenchView(model)
            self.add_activation_module(SpikeTap)
            self.net.eval()

        def __net__(self) -> nn.Module:
            return self.view

        def __call__(self, batch: Tensor) -> Tensor:
            if not isinstance(batch, Tensor) or batch.dim() < 3:
                got = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
                raise ValueError(f"batch: expected a batch-first Tensor [B, T, ...] (at least 3 dims), got {got}")
            x = batch.transpose(0, 1)
            named = dict(model.named_modules())
            handles = []
            try:
                for name in self.view.layer_names:
                    tap = self.view.taps[_key(name)]
                    handles.append(named[name].register_forward_hook(_tap_hook(tap)))
                with torch.no_grad():
                    result = model(x)
            finally:
                for h in handles:
                    h.remove()
            out = result[output] if isinstance(result, tuple) else result
            return out.transpose(0, 1)

    _Adapter.__name__ = _Adapter.__qualname__ = "NeuroBenchAdapter"
    return _Adapter()
