"""benchmarks/peers.py --quick runs and every implementation with our semantics fires identically."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")
pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")
pytest.importorskip("norse")

PEERS = Path(__file__).resolve().parents[2] / "benchmarks" / "peers.py"


def test_peers_quick_runs_and_spike_counts_agree(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("peers_bench", PEERS)
    assert spec is not None and spec.loader is not None
    peers = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, peers)
    spec.loader.exec_module(peers)
    rc = peers.main(["--quick", "--threads", "1", "--rounds", "1", "--cases", "sparse3"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "all spike counts agree: yes" in out
    assert "spikeflow cpu + event synapses" in out
