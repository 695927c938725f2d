"""Imported NIR nodes follow the discretisation written in docs/nir.md (independent references here)."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from spikeflow.interop import from_nir, to_nir

DT = 1e-3


def _chain(*nodes: nir.NIRNode, shape: tuple[int, ...]) -> nir.NIRGraph:
    named = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges, last = [], "input"
    for i, node in enumerate(nodes):
        named[f"n{i}"] = node
        edges.append((last, f"n{i}"))
        last = f"n{i}"
    named["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges.append((last, "output"))
    return nir.NIRGraph(nodes=named, edges=edges, type_check=False)


def _run(graph: nir.NIRGraph, x: np.ndarray, **kw) -> np.ndarray:
    net = from_nir(graph, dt=DT, **kw).double()
    with torch.no_grad():
        return net(torch.tensor(x))[0].numpy()


def _lif_reference(x, tau, r, v_leak, thr, v_reset, decay, cuba=None, ge=False):
    v = np.zeros(x.shape[1:])
    i = np.zeros(x.shape[1:])
    out = []
    for x_t in x:
        if cuba is not None:
            tau_syn, w_in = cuba
            a = decay(tau_syn)
            i = a * i + (1 - a) * w_in * x_t
            drive = i
        else:
            drive = x_t
        b = decay(tau)
        v = b * v + (1 - b) * (v_leak + r * drive)
        z = (v >= thr) if ge else (v > thr)
        v = np.where(z, v_reset, v)
        out.append(z.astype(float))
    return np.stack(out)


PARAMS = dict(tau=np.array([2e-3, 5e-3, 1e-2]), r=np.array([1.0, 2.0, 0.5]), v_leak=np.array([0.0, 0.3, -0.2]),
              v_threshold=np.array([0.5, 1.0, 0.2]), v_reset=np.array([0.0, -0.1, 0.1]))
EULER = lambda tau: 1 - DT / tau  # noqa: E731
EXP = lambda tau: np.exp(-DT / tau)  # noqa: E731


@pytest.mark.parametrize("scheme,decay", [("euler", EULER), ("exp", EXP)])
def test_lif_with_leak_reset_and_r_follows_the_discretisation(scheme: str, decay) -> None:
    x = np.random.default_rng(0).random((200, 2, 3)) * 2
    got = _run(_chain(nir.LIF(**PARAMS), shape=(3,)), x, discretization=scheme)
    p = PARAMS
    want = _lif_reference(x, p["tau"], p["r"], p["v_leak"], p["v_threshold"], p["v_reset"], decay)
    assert want.sum() > 20
    np.testing.assert_array_equal(got, want)


def test_cubalif_membrane_sees_the_updated_current() -> None:
    x = np.random.default_rng(1).random((200, 2, 3)) * 2
    cuba = dict(tau_syn=np.array([2e-3, 3e-3, 4e-3]), tau_mem=PARAMS["tau"], r=PARAMS["r"], v_leak=PARAMS["v_leak"],
                v_threshold=PARAMS["v_threshold"], v_reset=PARAMS["v_reset"], w_in=np.array([1.0, 2.0, 3.0]))
    got = _run(_chain(nir.CubaLIF(**cuba), shape=(3,)), x)
    want = _lif_reference(x, cuba["tau_mem"], cuba["r"], cuba["v_leak"], cuba["v_threshold"], cuba["v_reset"], EULER,
                          cuba=(cuba["tau_syn"], cuba["w_in"]))
    assert want.sum() > 20
    np.testing.assert_array_equal(got, want)


def test_li_and_cubali_output_the_membrane() -> None:
    x = np.random.default_rng(2).random((50, 1, 3))
    tau, r, v_leak = PARAMS["tau"], PARAMS["r"], PARAMS["v_leak"]
    got = _run(_chain(nir.LI(tau=tau, r=r, v_leak=v_leak), shape=(3,)), x)
    v, want = np.zeros((1, 3)), []
    for x_t in x:
        v = v + DT / tau * (v_leak - v + r * x_t)
        want.append(v)
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-5, atol=1e-6)  # parameters are float32
    cuba = nir.CubaLI(tau_syn=tau, tau_mem=tau * 2, r=r, v_leak=v_leak, w_in=np.full(3, 2.0))
    got = _run(_chain(cuba, shape=(3,)), x)
    i, v, want = np.zeros((1, 3)), np.zeros((1, 3)), []
    for x_t in x:
        i = i + DT / tau * (-i + 2.0 * x_t)
        v = v + DT / (2 * tau) * (v_leak - v + r * i)
        want.append(v)
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-5, atol=1e-6)  # parameters are float32


def test_threshold_gt_versus_ge() -> None:
    x = np.full((3, 1, 1), 0.5, dtype=np.float32)  # IF with unit gain: v = 0.5, 1.0 (== threshold), ...
    graph = _chain(nir.IF(r=np.ones(1), v_threshold=np.ones(1), v_reset=np.zeros(1)), shape=(1,))
    net_gt = from_nir(graph, if_gain="unit")
    net_ge = from_nir(graph, if_gain="unit", threshold="ge")
    assert net_gt(torch.tensor(x))[0].flatten().tolist() == [0, 0, 1]
    assert net_ge(torch.tensor(x))[0].flatten().tolist() == [0, 1, 0]


def test_if_gain_euler_versus_unit_and_subtract_override() -> None:
    graph = _chain(nir.IF(r=np.full(1, 1 / DT), v_threshold=np.ones(1), v_reset=np.zeros(1)), shape=(1,))
    x = torch.full((4, 1, 1), 0.75)
    assert from_nir(graph, dt=DT)(x)[0].flatten().tolist() == [0, 1, 0, 1]  # dt * r = 1
    assert from_nir(graph, dt=DT, if_gain="unit")(x)[0].flatten().tolist() == [1, 1, 1, 1]  # r = 1000 per step
    # subtract keeps the excess above threshold: 0.75, 1.5-1, 1.25-1, 1.0 -> spikes at 2, 3
    assert from_nir(graph, dt=DT, reset="subtract")(x)[0].flatten().tolist() == [0, 1, 1, 0]


def test_flatten_dims_exclude_the_batch_unless_told() -> None:
    graph = _chain(nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=1, end_dim=2), shape=(2, 3, 4))
    graph.nodes["output"] = nir.Output(output_type={"output": np.array([2, 12])})
    x = torch.rand(2, 5, 2, 3, 4)
    out, _ = from_nir(graph)(x)
    assert out.shape == (2, 5, 2, 12)
    graph.nodes["output"] = nir.Output(output_type={"output": np.array([6, 4])})
    legacy, _ = from_nir(graph, flatten_batch=True)(x)  # dims counted with a batch dim: flattens (2, 3)
    assert legacy.shape == (2, 5, 6, 4)


def test_delay_node_is_a_whole_number_of_steps() -> None:
    graph = _chain(nir.Delay(delay=np.array([0.0, 2 * DT])), shape=(2,))
    x = torch.arange(1, 6, dtype=torch.float32).reshape(5, 1, 1).repeat(1, 1, 2)
    out, _ = from_nir(graph, dt=DT)(x)
    assert out[:, 0, 0].tolist() == [1, 2, 3, 4, 5] and out[:, 0, 1].tolist() == [0, 0, 1, 2, 3]
    with pytest.raises(ValueError, match="multiples of dt"):
        from_nir(graph, dt=3 * DT / 4)


def _cyclic_graph(three_nodes: bool) -> nir.NIRGraph:
    rng = np.random.default_rng(3)
    lif = nir.LIF(tau=np.full(3, 2e-3), r=np.full(3, 2.0), v_leak=np.zeros(3), v_threshold=np.full(3, 0.5),
                  v_reset=np.zeros(3))
    nodes = {"input": nir.Input(input_type={"input": np.array([2])}),
             "fc": nir.Affine(weight=rng.normal(size=(3, 2)), bias=np.zeros(3)), "lif": lif,
             "rec": nir.Affine(weight=rng.normal(size=(3, 3)), bias=np.full(3, 0.2)),
             "output": nir.Output(output_type={"output": np.array([3])})}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("lif", "output")]
    if three_nodes:
        nodes["gain"] = nir.Scale(scale=np.full(3, 0.5))
        edges += [("rec", "gain"), ("gain", "lif")]
    else:
        edges.append(("rec", "lif"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


@pytest.mark.parametrize("three_nodes", [False, True])
@pytest.mark.parametrize("bias_at_start", [False, True])
def test_cycles_are_delayed_by_one_step(three_nodes: bool, bias_at_start: bool) -> None:
    graph = _cyclic_graph(three_nodes)
    x = np.random.default_rng(4).random((60, 2, 2)) * 2
    got = _run(graph, x, recurrent_bias_at_start=bias_at_start)
    n = graph.nodes
    w, b, scale = n["rec"].weight, n["rec"].bias, 0.5 if three_nodes else 1.0
    v, z, out = np.zeros((2, 3)), np.zeros((2, 3)), []
    for t, x_t in enumerate(x):
        fb = (z @ w.T + b) if (t > 0 or bias_at_start) else np.zeros((2, 3))
        drive = x_t @ n["fc"].weight.T + scale * fb
        v = v + DT / 2e-3 * (-v + 2.0 * drive)
        z = (v > 0.5).astype(float)
        v = np.where(z > 0, 0.0, v)
        out.append(z)
    want = np.stack(out)
    assert 10 < want.sum() < want.size - 10
    np.testing.assert_array_equal(got, want)


def test_stepping_equals_the_sequence_call() -> None:
    net = from_nir(_cyclic_graph(True)).double()
    x = torch.rand(20, 2, 2, dtype=torch.float64) * 2
    seq, _ = net(x)
    state, steps = None, []
    for x_t in x:
        y, state = net.step(x_t, state)
        steps.append(y)
    assert torch.equal(seq, torch.stack(steps))


def test_euler_needs_tau_at_least_dt() -> None:
    graph = _chain(nir.LI(tau=np.array([1e-4]), r=np.ones(1), v_leak=np.zeros(1)), shape=(1,))
    with pytest.raises(ValueError, match="tau >= dt"):
        from_nir(graph, dt=1e-3)
    from_nir(graph, dt=1e-3, discretization="exp")  # the exact scheme has no such limit


def test_import_never_mutates_the_graph() -> None:
    graph = _cyclic_graph(False)
    before = (sorted(graph.nodes), list(graph.edges))
    from_nir(graph)
    assert (sorted(graph.nodes), list(graph.edges)) == before


def test_delay_and_single_node_import_step_like_the_sequence() -> None:
    net = from_nir(nir.Delay(delay=np.array([DT, 3 * DT])), dt=DT)  # a bare node is wrapped in a graph
    x = torch.rand(6, 2, 2)
    seq, _ = net(x)
    state, steps = None, []
    for x_t in x:
        y, state = net.step(x_t, state)
        steps.append(y)
    assert torch.equal(seq, torch.stack(steps))
    assert torch.equal(seq[3:, :, 1], x[:3, :, 1]) and torch.equal(seq[1:, :, 0], x[:-1, :, 0])


def test_folded_recurrence_with_an_input_gain_reexports() -> None:
    rng = np.random.default_rng(5)
    lif = nir.LIF(tau=np.full(3, 2e-3), r=np.full(3, 2.0), v_leak=np.full(3, 0.1), v_threshold=np.full(3, 0.5),
                  v_reset=np.zeros(3))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([2])}),
               "fc": nir.Affine(weight=rng.normal(size=(3, 2)), bias=np.zeros(3)), "lif": lif,
               "rec": nir.Linear(weight=rng.normal(size=(3, 3))),
               "output": nir.Output(output_type={"output": np.array([3])})},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")], type_check=False)
    net = from_nir(graph, dt=DT)
    assert net.folded == {"lif": {"rec": "rec"}} and not net.cyclic
    again = from_nir(to_nir(net, (2,), dt=DT), dt=DT)
    np.testing.assert_allclose(to_nir(net, (2,), dt=DT).nodes["rec"].weight, graph.nodes["rec"].weight, rtol=1e-6)
    x = torch.rand(50, 2, 2) * 2
    with torch.no_grad():
        expected = net(x)[0]
        assert expected.sum() > 0
        assert torch.equal(again(x)[0], expected)


def test_several_inputs_and_outputs_use_dicts_and_edges_sum() -> None:
    graph = nir.NIRGraph(
        nodes={"a": nir.Input(input_type={"input": np.array([2])}), "b": nir.Input(input_type={"input": np.array([2])}),
               "s": nir.Scale(scale=np.array([1.0, 2.0])), "oa": nir.Output(output_type={"output": np.array([2])}),
               "os": nir.Output(output_type={"output": np.array([2])})},
        edges=[("a", "s"), ("b", "s"), ("a", "oa"), ("s", "os")], type_check=False)
    net = from_nir(graph)
    xa, xb = torch.rand(3, 1, 2), torch.rand(3, 1, 2)
    out, _ = net({"a": xa, "b": xb})
    assert set(out) == {"oa", "os"}
    assert torch.equal(out["oa"], xa) and torch.equal(out["os"], (xa + xb) * torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="dict"):
        net(xa)


def test_a_grouped_conv_written_by_another_tool_loads() -> None:
    """nir counts weight.shape[1] input channels whatever groups says; the dry run knows better."""
    rng = np.random.default_rng(6)
    conv = nir.Conv2d(input_shape=np.array([5, 5]), weight=rng.normal(size=(6, 2, 3, 3)).astype(np.float32),
                      stride=np.array([1, 1]), padding=np.array([1, 1]), dilation=np.array([1, 1]), groups=2,
                      bias=np.zeros(6, np.float32))
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4, 5, 5])}), "conv": conv,
                                "output": nir.Output(output_type={"output": np.array([6, 5, 5])})},
                         edges=[("input", "conv"), ("conv", "output")], type_check=False)
    net = from_nir(graph)
    module = net.node("conv")
    assert module.groups == 2 and module.in_channels == 4
    x = torch.rand(2, 1, 4, 5, 5)
    want = torch.nn.functional.conv2d(x[0], torch.tensor(conv.weight), padding=1, groups=2)
    torch.testing.assert_close(net(x)[0][0], want)


def test_float64_model_exports_its_own_values() -> None:
    import spikeflow as sf

    beta = torch.tensor(0.9, dtype=torch.float64)  # runs as the float64 0.9, not float32(0.9)
    net = sf.Sequential(torch.nn.Linear(3, 4), sf.Leaky(beta=beta, threshold=0.5, reset="zero",
                                                        reset_delay=False)).double()
    back = from_nir(to_nir(net, (3,), dt=DT), dt=DT)
    assert float(back.node("1").beta[0]) == np.float32(0.9)  # the float32 import of the float64 value 0.9
    lif = to_nir(net, (3,), dt=DT).nodes["1"]
    np.testing.assert_array_equal(1 - DT / lif.tau, np.full(4, 1 - DT / (DT / (1 - 0.9))))
