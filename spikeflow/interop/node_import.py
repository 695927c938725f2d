"""One NIR node -> one spikeflow module (the import half of the mapping).

Neuron equations and their discretisation are in semantics.py; options in options.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from ..layers.delay import Delay
from ..layers.elementwise import Scale, Threshold
from ..layers.nir_neurons import DrivenNeuron
from ..layers.pool import SumPool2d
from ..neurons import IF, LI, Lapicque, Leaky, RLeaky, RSynaptic, Synaptic
from .options import ImportOptions
from .semantics import tau_to_decay

MAX_DELAY_STEPS = 10**6  # longer delays are treated as corrupt files
NEURONS = (nir.I, nir.IF, nir.LI, nir.LIF, nir.CubaLI, nir.CubaLIF)


def array(node_name: str, field: str, value: Any, allow_inf: bool = False) -> np.ndarray:
    """A float64 parameter array, checked finite (inf allowed for time constants)."""
    try:
        a = np.asarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value,
                       dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"node {node_name!r}: field {field!r} is not numeric ({e})") from None
    bad = np.isnan(a) if allow_inf else ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"node {node_name!r}: field {field!r} has non-finite values ({a.ravel()[bad.ravel()][:3]})")
    return a


def tensor(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.get_default_dtype())


def _ints(node_name: str, field: str, value: Any, n: int) -> tuple[int, ...]:
    a = np.asarray(value).ravel()
    if a.dtype.kind not in "iuf" or a.size not in (1, n) or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
        raise ValueError(f"node {node_name!r}: field {field!r} must be {n} integer(s), got {value!r}")
    out = tuple(int(v) for v in (np.repeat(a, n) if a.size == 1 else a))
    if any(v < 0 for v in out):
        raise ValueError(f"node {node_name!r}: field {field!r} must be non-negative, got {out}")
    return out


def _params(name: str, node: nir.NIRNode, fields: tuple[str, ...], taus: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    p = {f: array(name, f, getattr(node, f), allow_inf=f in taus) for f in fields}
    try:
        shape = np.broadcast_shapes(*(a.shape for a in p.values()))
    except ValueError:
        raise ValueError(f"node {name!r}: parameter shapes disagree {({k: v.shape for k, v in p.items()})}") from None
    return {k: np.broadcast_to(v, shape).copy() for k, v in p.items()}


def _threshold(thr: np.ndarray, opts: ImportOptions) -> torch.Tensor:
    t = tensor(thr)
    if opts.threshold == "ge":  # v >= thr  <=>  v > the next float below thr
        t = torch.nextafter(t, torch.full_like(t, -float("inf")))
    return t


def _wrap(neuron: nn.Module, gain: np.ndarray, bias: np.ndarray, v_init: np.ndarray,
          i_init: np.ndarray | float = 0.0) -> nn.Module:
    """Bare neuron when the drive is the identity from rest, DrivenNeuron otherwise."""
    g, b, v0, i0 = (tensor(a) for a in (gain, bias, v_init, i_init))
    if bool((g == 1).all()) and bool((b == 0).all()) and bool((v0 == 0).all()) and bool((i0 == 0).all()):
        return neuron
    return DrivenNeuron(neuron, g, b, v0, i0)


def _mark_start(module: nn.Module, p: dict[str, np.ndarray], shift: np.ndarray, opts: ImportOptions) -> nn.Module:
    """Started at v_reset (SpikingJelly): keep v_reset and the shift on the module for export."""
    if not opts.start_at_reset or not p["v_reset"].any():
        return module
    if not isinstance(module, DrivenNeuron):
        module = DrivenNeuron(module, 1.0, 0.0, tensor(p["v_reset"] - shift))
    module.nir_shift, module.nir_v_reset = tensor(shift), tensor(p["v_reset"])
    return module


def _start(p: dict[str, np.ndarray], opts: ImportOptions) -> np.ndarray:
    """The membrane at t = 0 in NIR units: 0 (NIR, snnTorch, Norse) or v_reset (SpikingJelly)."""
    return p["v_reset"] if opts.start_at_reset else 0 * p["v_reset"]


def _reset(name: str, node: nir.NIRNode, opts: ImportOptions) -> tuple[str, bool]:
    reset = opts.reset or opts.meta(node.metadata, "reset") or "zero"
    delay = opts.reset_delay if opts.reset_delay is not None else opts.meta(node.metadata, "reset_delay")
    if reset not in ("zero", "subtract", "none"):
        raise ValueError(f"node {name!r}: metadata reset {reset!r} is not 'zero', 'subtract' or 'none'")
    return reset, bool(delay) if delay is not None else False


def neuron_module(name: str, node: nir.NIRNode, opts: ImportOptions, scheme: str) -> nn.Module:
    """NIR neuron -> (DrivenNeuron around) Leaky / Synaptic / LI; equations in layers/nir_neurons.py."""
    dt = opts.neuron_dt or opts.dt
    where = f"node {name!r} ({type(node).__name__})"
    if isinstance(node, (nir.I, nir.IF)):
        fields = ("r",) if isinstance(node, nir.I) else ("r", "v_threshold", "v_reset")
        p = _params(name, node, fields)
        gain = p["r"] * (dt if opts.if_gain == "euler" else 1.0)
        ones = np.ones_like(gain)
        if isinstance(node, nir.I):
            return _wrap(LI(beta=tensor(ones)), gain, 0 * gain, 0 * gain)
        reset, delay = _reset(name, node, opts)
        shift = p["v_reset"] if reset == "zero" else 0 * gain
        neuron = IF(threshold=_threshold(p["v_threshold"] - shift, opts), reset=reset, reset_delay=delay)
        return _mark_start(_wrap(neuron, gain, 0 * gain, _start(p, opts) - shift), p, shift, opts)
    if isinstance(node, (nir.LI, nir.LIF)):
        fields = ("tau", "r", "v_leak") + (("v_threshold", "v_reset") if isinstance(node, nir.LIF) else ())
        p = _params(name, node, fields, taus=("tau",))
        beta = tau_to_decay(p["tau"], dt, scheme, where)
        g = 1.0 - beta
        if isinstance(node, nir.LI):
            return _wrap(LI(beta=tensor(beta)), g * p["r"], g * p["v_leak"], 0 * g)
        reset, delay = _reset(name, node, opts)
        shift = p["v_reset"] if reset == "zero" else 0 * g
        neuron = Leaky(beta=tensor(beta), threshold=_threshold(p["v_threshold"] - shift, opts), reset=reset,
                       reset_delay=delay)
        module = _mark_start(_wrap(neuron, g * p["r"], g * (p["v_leak"] - shift), _start(p, opts) - shift), p,
                             shift, opts)
        if opts.meta(node.metadata, "model") == "lapicque":
            return _lapicque(name, node, module, opts, reset, delay)
        return module
    # CubaLI / CubaLIF: current stage then membrane stage (the membrane sees the updated current).
    spiking = isinstance(node, nir.CubaLIF)
    fields = ("tau_syn", "tau_mem", "r", "v_leak", "w_in") + (("v_threshold", "v_reset") if spiking else ())
    p = _params(name, node, fields, taus=("tau_syn", "tau_mem"))
    alpha = tau_to_decay(p["tau_syn"], dt, scheme, where)
    beta = tau_to_decay(p["tau_mem"], dt, scheme, where)
    ga, gb = 1.0 - alpha, 1.0 - beta
    if spiking:
        reset, delay = _reset(name, node, opts)
        shift = p["v_reset"] if reset == "zero" else 0 * ga
    else:
        shift = 0 * ga
    leak = p["v_leak"] - shift
    gain, bias, i0 = gb * p["r"] * ga * p["w_in"], ga * gb * leak, gb * leak
    if not spiking:
        return _wrap(LI(beta=tensor(beta), alpha=tensor(alpha)), gain, bias, 0 * ga, i0)
    neuron = Synaptic(alpha=tensor(alpha), beta=tensor(beta), threshold=_threshold(p["v_threshold"] - shift, opts),
                      reset=reset, reset_delay=delay)
    return _mark_start(_wrap(neuron, gain, bias, _start(p, opts) - shift, i0), p, shift, opts)


def _lapicque(name: str, node: nir.NIRNode, module: nn.Module, opts: ImportOptions, reset: str,
              delay: bool) -> nn.Module:
    """spikeflow's Lapicque (its zero reset also clears the new input), from metadata R, C, time_step,
    used only when it runs exactly the LIF the file describes (else the LIF as read, with a warning)."""
    core = module.neuron if isinstance(module, DrivenNeuron) else module
    try:
        lap = Lapicque(R=tensor(array(name, "spikeflow_R", opts.meta(node.metadata, "R"))),
                       C=tensor(array(name, "spikeflow_C", opts.meta(node.metadata, "C"))),
                       time_step=float(opts.meta(node.metadata, "time_step")), threshold=core.threshold,
                       reset=reset, reset_delay=delay)
        like = torch.zeros(1)
        p = lap.params(like)
        gain = module.gain if isinstance(module, DrivenNeuron) else torch.ones(())
        driven = isinstance(module, DrivenNeuron)
        same = ((not driven or (bool((module.bias == 0).all()) and bool((module.v_init == 0).all())))
                and torch.equal(torch.broadcast_to(p["decay"], core.beta.shape), core.beta)
                and torch.equal(torch.broadcast_to(p["gain"], gain.shape), gain))
    except (TypeError, ValueError) as e:
        same, p = False, str(e)
    if not same:
        warnings.warn(f"node {name!r}: metadata says spikeflow Lapicque, but its R/C do not give the LIF in the file; "
                      "imported as the LIF", UserWarning, stacklevel=4)
        return module
    return lap


def _conv(name: str, node: nir.NIRNode, dims: int, opts: ImportOptions) -> nn.Module:
    w = array(name, "weight", node.weight)
    if w.ndim != dims + 2:
        raise ValueError(f"node {name!r}: Conv{dims}d weight must have {dims + 2} dims, got shape {w.shape}")
    groups = _ints(name, "groups", node.groups, 1)[0]
    if groups < 1:
        raise ValueError(f"node {name!r}: groups must be >= 1, got {groups}")
    dense_groups = opts.meta(node.metadata, "groups")
    if groups == 1 and dense_groups is not None:  # spikeflow wrote a grouped conv as a block-diagonal one
        w = _ungroup(name, w, dense_groups)
        groups = int(dense_groups)
    pad = node.padding
    padding: Any = pad if isinstance(pad, str) else _ints(name, "padding", pad, dims)
    if isinstance(padding, str) and padding not in ("same", "valid"):
        raise ValueError(f"node {name!r}: padding must be ints, 'same' or 'valid', got {pad!r}")
    cls = nn.Conv1d if dims == 1 else nn.Conv2d
    bias = array(name, "bias", node.bias) if node.bias is not None else np.zeros(w.shape[0])
    keep_bias = not (opts.meta(node.metadata, "bias") is False and not bias.any())
    try:
        m = cls(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=_ints(name, "stride", node.stride, dims),
                padding=padding, dilation=_ints(name, "dilation", node.dilation, dims), groups=groups, bias=keep_bias)
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"node {name!r}: invalid Conv{dims}d ({e})") from None
    with torch.no_grad():
        m.weight.copy_(tensor(w))
        if keep_bias:
            if np.broadcast_to(bias, (w.shape[0],)).shape != (w.shape[0],):
                raise ValueError(f"node {name!r}: bias shape {bias.shape} does not match {w.shape[0]} channels")
            m.bias.copy_(tensor(np.broadcast_to(bias, (w.shape[0],))))
    return m


def _ungroup(name: str, w: np.ndarray, groups: Any) -> np.ndarray:
    """The grouped weight inside a block-diagonal dense one (off-block entries must be zero)."""
    g = int(groups) if np.ndim(groups) == 0 and float(groups) == int(groups) else 0
    if g < 1 or w.shape[0] % g or w.shape[1] % g:
        raise ValueError(f"node {name!r}: metadata spikeflow_groups={groups!r} does not divide weight shape {w.shape}")
    o, i = w.shape[0] // g, w.shape[1] // g
    blocks = [w[k * o:(k + 1) * o, k * i:(k + 1) * i] for k in range(g)]
    rest = w.copy()
    for k in range(g):
        rest[k * o:(k + 1) * o, k * i:(k + 1) * i] = 0
    if rest.any():
        raise ValueError(f"node {name!r}: metadata spikeflow_groups={g} but the weight is not block-diagonal")
    return np.concatenate(blocks, axis=0)


def _linear(name: str, node: nir.NIRNode, with_bias: bool) -> nn.Module:
    w = array(name, "weight", node.weight)
    if w.ndim != 2:
        raise ValueError(f"node {name!r}: weight must be 2-D (out, in), got shape {w.shape}")
    m = nn.Linear(w.shape[1], w.shape[0], bias=with_bias)
    with torch.no_grad():
        m.weight.copy_(tensor(w))
        if with_bias:
            b = array(name, "bias", node.bias)
            if b.shape not in ((w.shape[0],), ()):
                raise ValueError(f"node {name!r}: bias shape {b.shape} does not match weight shape {w.shape}")
            m.bias.copy_(tensor(np.broadcast_to(b, (w.shape[0],))))
    return m


NodeImport = Callable[[str, Any, ImportOptions, str], nn.Module]
NODE_IMPORTS: dict[type, NodeImport] = {}


def imports(*classes: type) -> Callable[[NodeImport], NodeImport]:
    """Register the spikeflow module for NIR node types: ``fn(name, node, opts, scheme) -> nn.Module``."""
    def register(fn: NodeImport) -> NodeImport:
        for cls in classes:
            NODE_IMPORTS[cls] = fn
        return fn
    return register


def node_module(name: str, node: nir.NIRNode, opts: ImportOptions, scheme: str) -> nn.Module:
    """The spikeflow module for one NIR node (stateless layers work on [N, ...]); see NODE_IMPORTS."""
    fn = NODE_IMPORTS.get(type(node)) or next((f for c, f in NODE_IMPORTS.items() if isinstance(node, c)), None)
    if fn is None:
        raise ValueError(f"node {name!r}: unsupported NIR node type {type(node).__name__}")
    return fn(name, node, opts, scheme)


imports(*NEURONS)(neuron_module)
imports(nir.Input, nir.Output)(lambda name, node, opts, scheme: nn.Identity())
imports(nir.Affine)(lambda name, node, opts, scheme: _linear(name, node, True))
imports(nir.Linear)(lambda name, node, opts, scheme: _linear(name, node, False))
imports(nir.Scale)(lambda name, node, opts, scheme: Scale.checked(tensor(array(name, "scale", node.scale))))
imports(nir.Conv1d)(lambda name, node, opts, scheme: _conv(name, node, 1, opts))
imports(nir.Conv2d)(lambda name, node, opts, scheme: _conv(name, node, 2, opts))
imports(nir.Threshold)(lambda name, node, opts, scheme: Threshold(_threshold(array(name, "threshold", node.threshold),
                                                                             opts)))


@imports(nir.SumPool2d, nir.AvgPool2d)
def _pool(name: str, node: Any, opts: ImportOptions, scheme: str) -> nn.Module:
    k = _ints(name, "kernel_size", node.kernel_size, 2)
    s = _ints(name, "stride", node.stride, 2)
    pd = _ints(name, "padding", node.padding, 2)
    if min(k) < 1 or min(s) < 1 or any(2 * p > kk for p, kk in zip(pd, k, strict=True)):
        raise ValueError(f"node {name!r}: invalid pooling kernel {k}, stride {s}, padding {pd}")
    return SumPool2d(k, s, pd) if isinstance(node, nir.SumPool2d) else nn.AvgPool2d(k, s, pd)


@imports(nir.Flatten)
def _flatten(name: str, node: Any, opts: ImportOptions, scheme: str) -> nn.Module:
    start, end = _int(name, "start_dim", node.start_dim), _int(name, "end_dim", node.end_dim)
    if not opts.flatten_batch:  # NIR dims exclude the batch; our modules see [N, ...]
        start, end = (start + 1 if start >= 0 else start), (end + 1 if end >= 0 else end)
    return nn.Flatten(start, end)


@imports(nir.Delay)
def _delay(name: str, node: Any, opts: ImportOptions, scheme: str) -> nn.Module:
    d = array(name, "delay", node.delay) / opts.dt
    steps = np.round(d)
    if (steps < 0).any() or (steps > MAX_DELAY_STEPS).any():
        raise ValueError(f"node {name!r}: delays {node.delay!r} must lie in [0, {MAX_DELAY_STEPS} * dt]")
    if (np.abs(d - steps) > 1e-6 * np.maximum(1.0, np.abs(d))).any():
        raise ValueError(f"node {name!r}: delays {node.delay!r} are not non-negative multiples of dt={opts.dt}")
    return Delay(torch.tensor(steps.astype(np.int64)))


@imports(nir.NIRGraph)
def _graph(name: str, node: Any, opts: ImportOptions, scheme: str) -> nn.Module:
    from .network import NIRNetwork

    return NIRNetwork(node, opts, name=name)


def _int(name: str, field: str, value: Any) -> int:
    a = np.asarray(value)
    if a.size != 1 or a.dtype.kind not in "iu":
        raise ValueError(f"node {name!r}: field {field!r} must be one integer, got {value!r}")
    return int(a.ravel()[0])


def fold_recurrence(name: str, neuron: nn.Module, rec_name: str, rec: nir.NIRNode) -> nn.Module:
    """A neuron whose spikes return through ``rec`` (Affine/Linear/Scale) next step -> RLeaky/RSynaptic.

    The feedback enters the same drive as the external input, so it is scaled by the gain.
    """
    driven = isinstance(neuron, DrivenNeuron)
    core = neuron.neuron if driven else neuron
    gain = neuron.gain if driven else torch.tensor(1.0)
    shape = torch.broadcast_shapes(core.beta.shape, core.threshold.shape)
    if not isinstance(core, (Leaky, Synaptic)) or len(shape) != 1:
        raise ValueError(f"node {name!r}: cannot fold the recurrence through {rec_name!r}")
    n = shape[0]
    common = dict(threshold=core.threshold, reset=core.opts.reset, reset_delay=core.opts.reset_delay)
    if isinstance(rec, nir.Scale):
        v = tensor(array(rec_name, "scale", rec.scale)) * gain
        kw: dict[str, Any] = dict(V=v, all_to_all=False)
    else:
        kw = dict(all_to_all=True, linear_features=n)
    if isinstance(core, Leaky):
        out: nn.Module = RLeaky(beta=core.beta, **kw, **common)
    else:
        out = RSynaptic(alpha=core.alpha, beta=core.beta, **kw, **common)
    if not isinstance(rec, nir.Scale):
        w = tensor(array(rec_name, "weight", rec.weight))
        if tuple(w.shape) != (n, n):
            raise ValueError(f"node {rec_name!r}: recurrent weight shape {tuple(w.shape)}, expected {(n, n)}")
        b = tensor(array(rec_name, "bias", rec.bias)) if isinstance(rec, nir.Affine) else torch.zeros(n)
        g = torch.broadcast_to(gain, (n,))
        with torch.no_grad():
            out.recurrent.weight.copy_(w if bool((g == 1).all()) else g[:, None] * w)
            out.recurrent.bias.copy_(b * g)
    if driven:
        return DrivenNeuron(out, neuron.gain, neuron.bias, neuron.v_init, neuron.i_init)
    return out


def _core(module: nn.Module) -> nn.Module:
    return module.neuron if isinstance(module, DrivenNeuron) else module


def set_graded(module: nn.Module, name: str, node: nir.NIRNode) -> None:
    """A Scale after a neuron (written by spikeflow for graded spikes) as the neuron's graded_spikes."""
    core = _core(module)
    if not hasattr(core, "graded_spikes"):
        raise ValueError(f"node {name!r}: no neuron to carry graded spikes")
    core.graded_spikes = tensor(array(name, "scale", node.scale))


def restore_split_bias(name: str, rec: str, nodes: dict[str, Any], modules: dict[str, nn.Module], preds: list[str],
                       opts: ImportOptions) -> None:
    """spikeflow folds an RLeaky/RSynaptic recurrent bias into the Affine before it (so that no reader
    depends on when a back edge starts); with metadata the exact split is restored here."""
    if len(preds) != 1 or not isinstance(nodes[preds[0]], nir.Affine) or isinstance(nodes[rec], nir.Affine):
        return
    ff_name, ff = preds[0], nodes[preds[0]]
    if opts.meta(ff.metadata, "recurrent_bias_of") != name:
        return
    core, ff_mod = _core(modules[name]), modules[ff_name]
    try:
        own = array(ff_name, "spikeflow_own_bias", opts.meta(ff.metadata, "own_bias"))
        rb = array(ff_name, "spikeflow_recurrent_bias", opts.meta(ff.metadata, "recurrent_bias"))
        ok = (own.shape == rb.shape == np.shape(ff.bias) and np.array_equal(own + rb, array(ff_name, "bias", ff.bias))
              and getattr(core, "all_to_all", False) and not isinstance(modules[name], DrivenNeuron))
    except ValueError:
        ok = False
    if not ok:
        warnings.warn(f"node {ff_name!r}: its spikeflow bias-split metadata does not match the file; the summed "
                      "bias is used", UserWarning, stacklevel=5)
        return
    with torch.no_grad():
        core.recurrent.bias.copy_(tensor(rb))
        if opts.meta(ff.metadata, "had_bias") is False:
            plain = nn.Linear(ff_mod.in_features, ff_mod.out_features, bias=False)
            plain.weight.copy_(ff_mod.weight)
            modules[ff_name] = plain
        else:
            ff_mod.bias.copy_(tensor(own))
