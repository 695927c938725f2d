"""The command line: ``spikeflow train digits`` end to end on a small subset, and the task registry."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from spikeflow.cli import main  # noqa: E402
from spikeflow.train import tasks  # noqa: E402

SMALL = ["--epochs", "1", "--limit", "64", "--steps", "3", "--hidden", "16", "--batch-size", "16", "--no-progress"]


def test_train_digits_writes_metrics_and_raster(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "digits", *SMALL, "--out", str(out), "--population", "2", "--seed", "3"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "digits" and metrics["epochs"] == 1 and metrics["seed"] == 3
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["seconds"] > 0
    assert metrics["config"]["population"] == 2 and len(metrics["history"]) == 1
    assert (out / "raster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "checkpoint.pt").is_file()
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["test_accuracy"] == metrics["test_accuracy"]


def test_resume_after_a_crash_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    args = [a for a in SMALL if a not in ("--epochs", "1")] + ["--epochs", "2"]
    assert main(["train", "digits", *args, "--out", str(straight)]) == 0

    from spikeflow.train.trainer import Trainer

    log = Trainer._log

    def die_in_epoch_2(self, record, writer):
        if record["epoch"] == 2:
            raise KeyboardInterrupt  # killed before epoch 2's checkpoint is written
        log(self, record, writer)

    monkeypatch.setattr(Trainer, "_log", die_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        main(["train", "digits", *args, "--out", str(crashed)])
    monkeypatch.undo()
    assert not (crashed / "metrics.json").exists() and (crashed / "checkpoint.pt").is_file()
    assert main(["train", "digits", *args, "--out", str(crashed), "--resume"]) == 0
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (straight, crashed))
    assert b["epochs"] == 2
    assert [h["test_loss"] for h in a["history"]] == [h["test_loss"] for h in b["history"]]
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert a["test_accuracy"] == b["test_accuracy"]


def test_latency_encoding_runs(tmp_path):
    assert main(["train", "digits", *SMALL, "--encoding", "latency", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["encoding"] == "latency"


def test_unknown_task_and_bad_options_exit_with_2(capsys):
    assert main(["train", "nosuchtask"]) == 2
    assert "invalid choice: 'nosuchtask'" in capsys.readouterr().err
    assert main(["train", "digits", "--epochs", "0"]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert main(["train", "digits", "--encoding", "morse"]) == 2
    assert main([]) == 2


def test_help_exits_with_0(capsys):
    assert main(["train", "--help"]) == 0
    assert "digits" in capsys.readouterr().out


def test_python_dash_m_entry_point():
    done = subprocess.run([sys.executable, "-m", "spikeflow", "train", "nosuchtask"], capture_output=True, text=True)
    assert done.returncode == 2 and "nosuchtask" in done.stderr


def test_registry_accepts_tasks_and_optional_modules(monkeypatch):
    class Echo:
        name, help = "echo", "test task"

        def add_arguments(self, parser):
            parser.add_argument("--value", type=int, default=1)

        def run(self, args):
            return {"test_accuracy": args.value / 10, "epochs": 0, "seconds": 0.0}

    module = types.ModuleType("fake_optional_tasks")
    module.register = lambda registry: registry.__setitem__("echo", Echo())
    monkeypatch.setitem(sys.modules, "fake_optional_tasks", module)
    monkeypatch.setattr(tasks, "TASKS", dict(tasks.TASKS))
    tasks._register_optional("fake_optional_tasks")
    assert main(["train", "echo", "--value", "7"]) == 0

    tasks._register_optional("spikeflow_missing_package.tasks")  # absent: silently skipped
    with pytest.raises(TypeError, match="'run'"):
        tasks.register_task(types.SimpleNamespace(name="x", add_arguments=print))  # type: ignore[arg-type]


def test_registry_does_not_hide_a_broken_optional_module(tmp_path, monkeypatch):
    (tmp_path / "opt_pkg").mkdir()
    (tmp_path / "opt_pkg" / "__init__.py").write_text("")
    (tmp_path / "opt_pkg" / "tasks.py").write_text("import a_dependency_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="a_dependency_that_does_not_exist"):
        tasks._register_optional("opt_pkg.tasks")
