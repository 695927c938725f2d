"""Pieces shared by the generated drivers (numba and Triton): the lines that fire, reset and
start the adjoint of a step, written once for both; the cache folder; loading a generated
module from a file named by the hash of its content (so compiled code can be cached on disk)."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from ..dynamics.spec import ModelSpec

NUMBA_H = "one if {x} > 0 else zero"  # H(x) in the data's dtype
TRITON_H = "({x} > 0).to({x0}.dtype)"


def _indent(lines: list[str], n: int) -> str:
    return "\n".join(" " * n + line for line in lines)


def _h(h: str, x: str) -> str:
    return h.format(x=x, x0=x.split(" ")[0])


def fire_lines(spec: ModelSpec, target: str, out: str | None, ix: str, h: str) -> list[str]:
    """After the row (u, b, c_<carried>): firing, the same-step reset, the new state in
    ``target``_<field>``ix``, the reset signal rr for the next step, and the output."""
    mem, spk = spec.membrane, spec.spike_field
    lines = [f"{target}_{f}{ix} = c_{f}" for f in spec.carried]
    if spec.spiking:
        lines += [f"sp = {_h(h, 'u - b')}"] + ([f"{out}{ix} = sp"] if out else [])
        if spec.same_step_reset:
            lines += ["vn = u - ss * sp * b", f"{target}_{mem}{ix} = vn * (one - sz * sp)"]
        else:
            lines += [f"{target}_{mem}{ix} = u"]
        lines += ([f"{target}_{spk}{ix} = sp"] if spk else []) + [f"rr{ix} = sp"]
    else:
        lines += [f"{target}_{mem}{ix} = u"] + ([f"{out}{ix} = u"] if out else [])
    return lines


def adjoint_lines(spec: ModelSpec, ix: str, h: str, sg: str) -> list[str]:
    """dL/du and dL/db of a step from the adjoints after it (lam_*, gtr_*, gst, lam_r): the
    output, the spike's surrogate ``sg``, the same-step reset (not detached: nd = 1)."""
    mem, spk = spec.membrane, spec.spike_field
    if not spec.spiking:
        return [f"du = lam_{mem}{ix} + gtr_{mem}{ix} + gst{ix}", "db = du - du"]
    gsp = f"gst{ix} + lam_r{ix}" + (f" + lam_{spk}{ix} + gtr_{spk}{ix}" if spk else "")
    return [
        f"gv = lam_{mem}{ix} + gtr_{mem}{ix}",
        "sh = u - b",
        f"sp = {_h(h, 'sh')}",
        f"gsp = {gsp} - nd * (ss * (gv * b) + sz * (gv * u))",
        f"g = gsp * {sg}",
        "du = gv - sz * (gv * sp) + g",
        "db = -(ss * (gv * sp)) - g",
    ]


def cache_dir() -> Path | None:
    """Where generated drivers (and their compiled code) live: $SPIKEFLOW_CACHE_DIR or
    ~/.cache/spikeflow/kernels (else a per-user temp folder); None when none can be written."""
    for root in (os.environ.get("SPIKEFLOW_CACHE_DIR"), os.path.join(Path.home(), ".cache", "spikeflow", "kernels"),
                 os.path.join(tempfile.gettempdir(), f"spikeflow-kernels-{os.getuid()}")):
        if not root:
            continue
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
            if os.access(root, os.W_OK):
                return Path(root)
        except OSError:
            continue
    return None


def load_module(root: Path, stem: str, text: str) -> ModuleType:
    """Write ``text`` to root/stem.py (once; stem carries the content hash) and import it."""
    path = root / f"{stem}.py"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    name = f"spikeflow_generated_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.util.spec_from_file_location(name, path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    sys.modules[name] = module
    loader.loader.exec_module(module)
    return module
