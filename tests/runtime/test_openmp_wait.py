"""The OpenMP wait policy spikeflow sets before torch loads libgomp (spikeflow/_threads.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from spikeflow import _threads


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "SPIKEFLOW_OMP_WAIT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delitem(sys.modules, "torch")  # as if torch were not imported yet
    return monkeypatch


def test_passive_by_default(fresh: pytest.MonkeyPatch) -> None:
    assert _threads.configure_openmp_waiting() == "OMP_WAIT_POLICY=PASSIVE"
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_spin_count_keep_and_user_settings_win(fresh: pytest.MonkeyPatch) -> None:
    fresh.setenv("SPIKEFLOW_OMP_WAIT", "2000")
    assert _threads.configure_openmp_waiting() == "GOMP_SPINCOUNT=2000"
    assert os.environ["GOMP_SPINCOUNT"] == "2000" and "OMP_WAIT_POLICY" not in os.environ
    fresh.setenv("SPIKEFLOW_OMP_WAIT", "passive")
    fresh.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert "user" in _threads.configure_openmp_waiting() and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    fresh.setenv("SPIKEFLOW_OMP_WAIT", "keep")
    assert "kept the runtime defaults" in _threads.configure_openmp_waiting()
    fresh.setenv("SPIKEFLOW_OMP_WAIT", "sometimes")
    with pytest.raises(ValueError, match="SPIKEFLOW_OMP_WAIT"):
        _threads.configure_openmp_waiting()


def test_too_late_after_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "SPIKEFLOW_OMP_WAIT"):
        monkeypatch.delenv(var, raising=False)
    assert "too late" in _threads.configure_openmp_waiting()
    assert "OMP_WAIT_POLICY" not in os.environ


def test_libgomp_sees_the_policy() -> None:
    """In a fresh process, ``import spikeflow`` makes torch's libgomp start with spin count 0."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "SPIKEFLOW_OMP_WAIT")}
    env["OMP_DISPLAY_ENV"] = "VERBOSE"
    proc = subprocess.run([sys.executable, "-c", "import spikeflow"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if "GOMP_SPINCOUNT" not in proc.stderr:
        pytest.skip("torch's OpenMP runtime is not libgomp here (no GOMP_SPINCOUNT in OMP_DISPLAY_ENV)")
    assert "GOMP_SPINCOUNT = '0'" in proc.stderr
