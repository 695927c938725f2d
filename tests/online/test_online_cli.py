"""The online rules from the command line: digits --method ..., bandit (R-STDP)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spikeflow.cli import main
from spikeflow.online.bandit import play


@pytest.mark.parametrize("method", ["eprop", "ottt"])
def test_digits_online_methods_learn(method: str, tmp_path: Path) -> None:
    """A short run on 200 images already beats chance (0.1) by far (seeded); the README has the full runs."""
    out = tmp_path / method
    code = main(["train", "digits", "--method", method, "--epochs", "3", "--limit", "200", "--hidden", "32",
                 "--steps", "6", "--out", str(out), "--no-progress"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == method
    assert metrics["test_accuracy"] > 0.35  # chance is 0.1


def test_digits_stdp_runs_and_reports_baselines(tmp_path: Path) -> None:
    out = tmp_path / "stdp"
    code = main(["train", "digits", "--method", "stdp", "--epochs", "1", "--limit", "200", "--hidden", "30",
                 "--steps", "10", "--out", str(out), "--no-progress"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "vote_test_accuracy", "untrained_test_accuracy", "untrained_vote_test_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["test_accuracy"] > 0.3


def test_bptt_only_options_are_refused_for_online_methods(tmp_path: Path) -> None:
    assert main(["train", "digits", "--method", "ottt", "--population", "3", "--out", str(tmp_path)]) == 1
    assert main(["train", "digits", "--method", "eprop", "--loss", "ce_rate", "--out", str(tmp_path)]) == 1
    assert main(["train", "digits", "--feedback", "random", "--out", str(tmp_path)]) == 1   # bptt + e-prop option
    assert main(["train", "digits", "--method", "stdp", "--lr", "0.1", "--out", str(tmp_path)]) == 1


def test_rstdp_bandit_reward_rises() -> None:
    """Seeded: the better arm (p = 0.8) takes over and the reward rises from its early level."""
    res = play(400, seed=0)
    rewards, choices = res["rewards"], res["choices"]
    early, late = sum(rewards[:50]) / 50, sum(rewards[-100:]) / 100
    assert sum(choices[:50]) / 50 < 0.7             # starts near a coin flip
    assert sum(c == 1 for c in choices[-100:]) / 100 > 0.9
    assert late > early + 0.1
    # with both arms paying nothing there is nothing to learn: the choice stays near chance
    flat = play(150, p=(0.0, 0.0), seed=0)
    assert 0.25 < sum(flat["choices"][-100:]) / 100 < 0.75


def test_bandit_cli_writes_metrics(tmp_path: Path) -> None:
    assert main(["train", "bandit", "--trials", "40", "--out", str(tmp_path), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["reward_per_block"]) == 8 and (tmp_path / "reward.png").is_file()
