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
