"""``spikeflow train charlm`` resumes exactly, and more ``--epochs`` on resume continue the per-step
cosine (the rate of a run planned that long from the start) instead of restarting it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from train_helpers import without_time

from spikeflow.cli import main
from spikeflow.train import load_checkpoint

LM = ["train", "charlm", "--width", "16", "--layers", "1", "--seq-len", "16", "--batch-size", "4",
      "--steps-per-epoch", "3", "--max-chars", "20000", "--val-windows", "8", "--no-progress"]
LR = 3e-3


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lm") / "straight"
    assert main([*LM, "--epochs", "2", "--out", str(out)]) == 0
    return out


def test_resume_from_epoch_1_ends_bit_identical(straight, tmp_path, caplog):
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(straight / "checkpoint.prev.pt", out / "checkpoint.pt")  # as if killed during epoch 2
    shutil.copy(straight / "vocab.json", out / "vocab.json")
    with caplog.at_level("INFO", logger="spikeflow.train"):
        assert main([*LM, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert "after epoch 1" in caplog.text
    a, b = _metrics(straight), _metrics(out)
    assert without_time(a) == without_time(b)
    wa, wb = (load_checkpoint(d / "checkpoint.pt")["model"] for d in (straight, out))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_more_epochs_on_resume_follow_the_longer_cosine(straight, tmp_path):
    out = tmp_path / "run"
    assert main([*LM, "--epochs", "1", "--out", str(out)]) == 0
    assert main([*LM, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    m = _metrics(out)
    assert m["plan"] == [{"from_epoch": 1, "epochs": 1}, {"from_epoch": 2, "epochs": 2}]
    lrs = [h["lr"] for h in m["history"]]
    # epoch 2 starts at step 3 of the 6-step cosine (not at the base rate, not at the 1-epoch plan's 0)
    assert lrs == pytest.approx([LR, LR * (1 + math.cos(math.pi * 3 / 6)) / 2])
    assert lrs == pytest.approx([h["lr"] for h in _metrics(straight)["history"]])
    assert main([*LM, "--epochs", "1", "--out", str(out), "--resume"]) == 1  # fewer epochs: refused
