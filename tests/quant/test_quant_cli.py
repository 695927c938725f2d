"""The command line: QAT options on digits, the charlm task and `spikeflow generate`."""

from __future__ import annotations

import json

from spikeflow.cli import main


def test_digits_with_quantized_weights_and_state(tmp_path, capsys) -> None:
    out = tmp_path / "q"
    code = main(["train", "digits", "--epochs", "2", "--limit", "64", "--no-progress", "--out", str(out),
                 "--weight-bits", "4", "--state-bits", "8", "--schedule", "periodic"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["weight_bits"] == 4 and metrics["config"]["schedule"] == "periodic"
    lrs = [h["lr"] for h in metrics["history"]]  # the rate each epoch started with
    assert lrs[0] == 1e-2 and lrs[1] < 1e-2  # stepped per iteration: the second epoch starts lower


def test_scheme_without_bits_is_refused(tmp_path, capsys) -> None:
    code = main(["train", "digits", "--epochs", "1", "--limit", "16", "--no-progress", "--out", str(tmp_path / "x"),
                 "--weight-scheme", "fp4"])
    assert code == 1 and "--weight-bits" in capsys.readouterr().err


def test_charlm_trains_and_generates(tmp_path, capsys) -> None:
    out = tmp_path / "lm"
    code = main(["train", "charlm", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4", "--seq-len", "32",
                 "--max-chars", "20000", "--val-windows", "4", "--d", "16", "--no-progress", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["bigram_bits_per_char"] < metrics["unigram_bits_per_char"]
    assert metrics["val_bits_per_char"] > 0 and metrics["sample"].startswith("def ")
    capsys.readouterr()
    assert main(["generate", str(out), "--prompt", "import ", "--length", "30", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("import ") and len(text.rstrip("\n")) == len("import ") + 30
    assert main(["generate", str(tmp_path / "missing")]) == 1


def test_mnist5k_scnn_trains_a_quantized_model(tmp_path) -> None:
    import torch

    from spikeflow.models import mnist_scnn
    from spikeflow.neurons.base import NeuronBase
    from spikeflow.quant import quantize
    from spikeflow.quant.qat import quantized_modules
    from spikeflow.train.checkpoint import load_checkpoint

    out = tmp_path / "m"
    code = main(["train", "mnist5k", "--model", "scnn", "--epochs", "2", "--limit", "32", "--steps", "3",
                 "--no-progress", "--out", str(out), "--weight-bits", "4", "--state-bits", "8",
                 "--schedule", "periodic"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config = metrics["config"]
    assert (config["weight_bits"], config["state_bits"], config["schedule"]) == (4, 8, "periodic")
    lrs = [h["lr"] for h in metrics["history"]]
    assert lrs[0] == 3e-3 and lrs[1] < 3e-3  # stepped per iteration, not the default x0.85 per epoch
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    model = quantize(mnist_scnn(), weight_bits=4, state_bits=8)
    model.load_state_dict(checkpoint["model"])  # the trained model holds shadow weights under parametrizations
    layers = list(quantized_modules(model))
    assert len(layers) == 3  # two convolutions and the output layer
    for name, m, q in layers:
        w, shadow = m.weight.detach(), m.parametrizations.weight.original.detach()
        codes, scale, zero, _, bits = q.integer(shadow)
        assert bits == 4 and codes.abs().max() <= 7 and torch.all(zero == 0), name  # symmetric narrow range
        assert torch.equal(w, (codes - zero) * scale), name  # the forward weight is exactly on the 4-bit grid
        assert w.unique().numel() <= 15 and not torch.equal(w, shadow)  # while a float shadow weight trains
    assert all(n.state_quant is not None for n in model.modules() if isinstance(n, NeuronBase))


def test_mnist5k_quant_options_refused_where_they_do_not_apply(tmp_path, capsys) -> None:
    for extra in (["--model", "cnn", "--weight-bits", "4"], ["--weight-bits", "2"],  # eventprop (default)
                  ["--model", "cnn", "--schedule", "periodic"],
                  ["--model", "scnn", "--schedule", "step", "--lr-decay", "0.9"],
                  ["--model", "scnn", "--periods", "5"]):
        code = main(["train", "mnist5k", "--epochs", "1", "--limit", "16", "--no-progress",
                     "--out", str(tmp_path / "x"), *extra])
        err = capsys.readouterr().err
        assert code == 1, extra
        assert ("--weight-bits" in err or "--schedule" in err or "--lr-decay" in err or "--periods" in err), err
