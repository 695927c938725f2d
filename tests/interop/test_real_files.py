"""The NIR paper's files (shared/nir-cases): exact LIF trace, CNN and Braille graphs, malformed files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from spikeflow.interop import load_nir


def test_paper_lif_spikes_and_membrane_match_norse_trace(cases) -> None:
    data = np.loadtxt(cases / "01_lif" / "lif_norse.csv", delimiter=",")
    net = load_nir(cases / "01_lif" / "lif_norse.nir", dt=1e-4).double()
    x = torch.tensor(data[:, 0]).reshape(-1, 1, 1)
    with torch.no_grad():
        out, _ = net(x)
        _, trace = net.node("1")(net.node("0")(x), record=True)
    assert np.nonzero(out[:, 0, 0].numpy())[0].tolist() == [460, 510, 710, 760]
    np.testing.assert_allclose(trace.v[:, 0, 0].numpy(), data[:, 1], atol=1e-6, rtol=0)


def test_rockpool_lif_loads_with_a_type_check_warning(cases) -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        net = load_nir(cases / "01_lif" / "lif_rockpool.nir")
    messages = [str(w.message) for w in record]
    assert any("fails the NIR type check" in m for m in messages)
    assert any("declares shape (1, 1, 1)" in m for m in messages)
    out, _ = net(torch.zeros(10, 2, 1))
    assert out.shape == (10, 2, 1)


def test_nmnist_cnn_runs_with_the_paper_shapes(cases) -> None:
    net = load_nir(cases / "02_cnn" / "cnn_sinabs.nir", if_gain="unit")
    assert net.shapes["0"] == (16, 16, 16) and net.shapes["4"] == (16, 8, 8) and net.shapes["7"] == (8, 4, 4)
    assert net.shapes["8"] == (128,) and net.shapes["9"] == (256,)
    with torch.no_grad():
        out, _ = net(torch.rand(4, 2, 2, 34, 34) * 3)
    assert out.shape == (4, 2, 10)
    assert set(out.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("model,pt", [("bias_zero", "model_noDelay_bias_ref_zero.pt"),
                                      ("noBias_subtract", "model_noDelay_noBias_ref_subtract.pt")])
def test_braille_graphs_run_and_carry_the_trained_weights(cases, model: str, pt: str) -> None:
    reset = "subtract" if "subtract" in model else None
    net = load_nir(cases / "03_rnn" / f"braille_noDelay_{model}.nir", reset=reset, recurrent_bias_at_start=True)
    sd = torch.load(cases / "03_rnn" / pt, weights_only=True, map_location="cpu")
    lif1, fc1, fc2 = net.node("lif1.lif"), net.node("fc1"), net.node("fc2")
    assert torch.equal(fc1.weight, sd["fc1.weight"]) and torch.equal(fc2.weight, sd["fc2.weight"])
    assert torch.equal(lif1.recurrent.weight, sd["lif1.recurrent.weight"])
    if "fc1.bias" in sd:
        assert torch.equal(fc1.bias, sd["fc1.bias"]) and torch.equal(lif1.recurrent.bias, sd["lif1.recurrent.bias"])
    for layer in ("lif1", "lif2"):
        module = net.node("lif1.lif" if layer == "lif1" else "lif2")
        torch.testing.assert_close(module.alpha, torch.full_like(module.alpha, float(sd[f"{layer}.alpha"])))
        torch.testing.assert_close(module.beta, torch.full_like(module.beta, float(sd[f"{layer}.beta"])))
        assert module.opts.reset == (reset or "zero")
    x = (torch.rand(40, 3, 12) < 0.3).float()
    with torch.no_grad():
        out, _ = net(x)
    assert out.shape == (40, 3, 7)


@pytest.mark.parametrize("model", ["bias_zero", "noBias_subtract"])
def test_malformed_subgraph_files_name_the_bad_edge(cases, model: str) -> None:
    with pytest.raises(ValueError, match=r"node 'lif1'.*edge \('input', 'lif'\).*'lif'"):
        load_nir(cases / "03_rnn" / f"braille_noDelay_{model}_subgraph.nir")


@pytest.mark.parametrize("rel,options,shape", [
    ("02_cnn/cnn_sinabs.nir", {"if_gain": "unit"}, (2, 34, 34)),
    ("03_rnn/braille_noDelay_bias_zero.nir", {"recurrent_bias_at_start": True}, (12,)),  # folded
    ("03_rnn/braille_noDelay_bias_zero.nir", {"convention": "nir"}, (12,)),  # generic cyclic executor
    ("03_rnn/braille_noDelay_bias_zero.nir", {}, (12,)),  # guessed: snnTorch (bias at start), folded
])
def test_imported_paper_graphs_export_and_reload_identically(cases, tmp_path, rel: str, options, shape) -> None:
    from spikeflow.interop import save_nir

    net = load_nir(cases / rel, **options)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        save_nir(net, tmp_path / "again.nir", shape)
    messages = [str(w.message) for w in record]
    assert not any("type check" in m for m in messages)  # our re-export passes the type check
    if options.get("convention") != "nir" and "braille" in rel:  # the bias at t = 0 is a convention NIR does not state
        assert len(messages) == 1 and "recurrent bias delivered from t = 0" in messages[0]
    else:
        assert messages == []
    back = load_nir(tmp_path / "again.nir")
    x = (torch.rand(15, 2, *shape) < 0.3).float() * 3
    with torch.no_grad():
        expected, got = net(x)[0], back(x)[0]
    assert expected.sum() > 0
    assert torch.equal(expected, got)
