"""Monitors: record what chosen layers emit over a run, through forward hooks.

    with Monitor(net, layers=["1", "3"], states=True) as mon:
        out, _ = net(x)                      # x [T, B, ...]
    mon.spikes("1")                          # [T, B, ...] (calls concatenated over B)
    mon.state("1", "v")                      # the membrane trace [T, B, ...]

Hooks live only inside the ``with`` block (removed on exit, also on error); nothing is kept
on the model or in a global table. Any ``nn.Module`` can be monitored: its output (the first
item when it returns a tuple, as neuron modules and ``Sequential`` do) is recorded. With
``states=True`` neuron modules (``NeuronBase``) are run with ``record=True`` so their state
trace is kept too; the hook hands the caller the final state (the trace's last step), so
what the model computes is unchanged. Recording is of ``forward`` calls (whole sequences),
not of ``.step`` calls.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import Tensor, nn

from ..neurons.base import NeuronBase
from .hooks import HookSet


def neuron_layers(model: nn.Module) -> list[str]:
    """Names (as in ``named_modules``) of every neuron module inside ``model``."""
    return [name for name, m in model.named_modules() if isinstance(m, NeuronBase)]


def resolve_layers(model: nn.Module, layers: Iterable[str | nn.Module] | None) -> dict[str, nn.Module]:
    """Map each requested layer (a name from ``named_modules`` or a submodule) to its module."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    named = dict(model.named_modules())
    if layers is None:
        chosen = {name or "model": named[name] for name in neuron_layers(model)}
        if not chosen:
            chosen = {name or "model": m for name, m in named.items() if name == ""}
        return chosen
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    by_id = {id(m): name for name, m in named.items()}
    out: dict[str, nn.Module] = {}
    for item in layers:
        if isinstance(item, str):
            if item not in named:
                raise ValueError(f"layers: no submodule named {item!r}; names are {sorted(n for n in named if n)}")
            out[item or "model"] = named[item]
        elif isinstance(item, nn.Module):
            if id(item) not in by_id:
                raise ValueError(f"layers: module {type(item).__name__} is not part of the model")
            out[by_id[id(item)] or "model"] = item
        else:
            raise TypeError(f"layers: expected names or modules, got {type(item).__name__}")
    return out


def _first_tensor(output: Any) -> Tensor | None:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    return None


def _cat(parts: list[Tensor], what: str) -> Tensor:
    if len(parts) == 1:
        return parts[0]
    try:
        return torch.cat(parts, dim=1)
    except RuntimeError as err:
        shapes = [tuple(p.shape) for p in parts]
        raise ValueError(f"{what}: the recorded calls have shapes {shapes} that do not concatenate over the batch "
                         f"dimension; use .calls(...) for the list") from err


class Monitor(HookSet):
    """Context manager recording the outputs (and optionally neuron states) of chosen layers.

    model:  any ``nn.Module`` (typically ``sf.Sequential``).
    layers: names from ``model.named_modules()`` or the submodules themselves; default every
            neuron module (or the model itself when it has none).
    states: also keep each neuron layer's state trace (every field [T, B, ...]).
    detach: store detached copies (default); ``False`` keeps the autograd graph.
    cpu:    move what is stored to the CPU.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Iterable[str | nn.Module] | None = None,
        *,
        states: bool = False,
        detach: bool = True,
        cpu: bool = False,
    ) -> None:
        self.model = model
        self.layers = resolve_layers(model, layers)
        self.record_states = bool(states)
        self.detach = bool(detach)
        self.to_cpu = bool(cpu)
        self._outputs: dict[str, list[Tensor]] = {name: [] for name in self.layers}
        self._states: dict[str, list[dict[str, Tensor]]] = {name: [] for name in self.layers}
        self._asked: dict[str, list[bool]] = {name: [] for name in self.layers}
        self._folded: dict[int, list[tuple[int, int] | None]] = {}
        super().__init__()

    # -- hooks --------------------------------------------------------------------------
    def _keep(self, t: Tensor) -> Tensor:
        if self.detach:
            t = t.detach()
        return t.cpu() if self.to_cpu else t

    def _pre_hook(self, name: str):  # type: ignore[no-untyped-def]
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            # forward(x, state=None, record=False): remember whether the caller asked for the trace.
            asked = bool(args[2]) if len(args) > 2 else bool(kwargs.get("record", False))
            self._asked[name].append(asked)
            if not asked:
                kwargs = {**kwargs, "record": True}
            return args, kwargs

        return hook

    def _post_hook(self, name: str):  # type: ignore[no-untyped-def]
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
            if self.record_states and isinstance(module, NeuronBase):
                asked = self._asked[name].pop()
                out, trace = output
                self._outputs[name].append(self._keep(out))
                self._states[name].append({f: self._keep(v) for f, v in zip(trace._fields, trace, strict=True)})
                if asked:
                    return output
                return out, type(trace)(*(v[-1] for v in trace))
            t = _first_tensor(output)
            if t is not None:
                shape = self._folded.get(id(module))
                if shape and shape[-1] is not None and t.dim() >= 1 and t.shape[0] == shape[-1][0] * shape[-1][1]:
                    t = t.reshape(shape[-1][0], shape[-1][1], *t.shape[1:])  # [T*B, ...] -> [T, B, ...]
                self._outputs[name].append(self._keep(t))
            return None

        return hook

    def _parent_hooks(self, children: list[nn.Module]):  # type: ignore[no-untyped-def]
        """A Sequential folds time into the batch for its stateless layers; remember [T, B]."""

        def pre(module: nn.Module, args: tuple[Any, ...]) -> None:
            x = args[0] if args else None
            tb = (x.shape[0], x.shape[1]) if isinstance(x, Tensor) and x.dim() >= 3 else None
            for child in children:
                self._folded.setdefault(id(child), []).append(tb)

        def post(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            for child in children:
                self._folded[id(child)].pop()

        return pre, post

    def _attach(self) -> None:
        from ..layers.sequential import Sequential, is_stateful

        watched = {id(m) for m in self.layers.values()}
        for parent in self.model.modules():
            if isinstance(parent, Sequential):
                kids = [c for c in parent if id(c) in watched and not is_stateful(c)]
                if kids:
                    pre, post = self._parent_hooks(kids)
                    self._handles.append(parent.register_forward_pre_hook(pre))
                    self._handles.append(parent.register_forward_hook(post))
        for name, module in self.layers.items():
            if self.record_states and isinstance(module, NeuronBase):
                self._handles.append(module.register_forward_pre_hook(self._pre_hook(name), with_kwargs=True))
            self._handles.append(module.register_forward_hook(self._post_hook(name), with_kwargs=True))

    def remove(self) -> None:
        """Remove every hook this monitor added (``__exit__`` calls it)."""
        super().remove()
        for stack in self._asked.values():
            stack.clear()
        self._folded.clear()

    def clear(self) -> None:
        """Forget what was recorded (the hooks stay)."""
        for name in self.layers:
            self._outputs[name].clear()
            self._states[name].clear()

    # -- what was recorded -----------------------------------------------------------------
    def _check(self, name: str) -> str:
        if name not in self.layers:
            raise KeyError(f"layer: {name!r} is not monitored; monitored layers are {list(self.layers)}")
        if not self._outputs[name]:
            raise ValueError(f"layer {name!r}: nothing recorded (was the model called inside the with block?)")
        return name

    def calls(self, name: str) -> list[Tensor]:
        """Every recorded output of layer ``name``, one Tensor per forward call."""
        return list(self._outputs[self._check(name)])

    def output(self, name: str) -> Tensor:
        """Layer ``name``'s outputs, the calls concatenated over the batch (dim 1): [T, B, ...]."""
        return _cat(self._outputs[self._check(name)], f"layer {name!r}")

    spikes = output

    def state(self, name: str, field: str) -> Tensor:
        """State field ``field`` of neuron layer ``name`` over time [T, B, ...] (needs states=True)."""
        self._check(name)
        traces = self._states[name]
        if not traces:
            raise ValueError(f"layer {name!r}: no state recorded (use Monitor(..., states=True) on a neuron layer)")
        if field not in traces[0]:
            raise KeyError(f"field: layer {name!r} has state fields {list(traces[0])}, got {field!r}")
        return _cat([t[field] for t in traces], f"layer {name!r} state {field!r}")

    def state_fields(self, name: str) -> list[str]:
        self._check(name)
        return list(self._states[name][0]) if self._states[name] else []

    def names(self) -> list[str]:
        """Monitored layers that recorded something, in model order."""
        return [n for n in self.layers if self._outputs[n]]

    def outputs(self) -> dict[str, Tensor]:
        """{layer name: output [T, B, ...]} for every layer that recorded something."""
        return {n: self.output(n) for n in self.names()}
