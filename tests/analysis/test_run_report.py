"""``spikeflow report RUN_DIR``: a self-contained page, checked in a real headless Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

from spikeflow.cli import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "digits", "--epochs", "2", "--limit", "64", "--hidden", "24", "--no-progress",
                 "--out", str(out)])
    assert code == 0
    return out


def test_report_page_is_self_contained_with_every_section(run_dir, capsys):
    assert main(["report", str(run_dir)]) == 0
    page_path = run_dir / "report.html"
    assert capsys.readouterr().out.strip() == str(page_path)
    page = page_path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)  # nothing loaded from outside
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 5  # curves, rasters, rate bars, two heat maps
    for section in ("Training curves", "Spikes on a test sample", "Firing rates", "Operations and energy",
                    "Configuration"):
        assert f"<h2>{section}</h2>" in page
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"{100 * metrics['test_accuracy']:.2f}%" in page
    rows = re.findall(r"<tr(?: class=\"total\")?><td class=\"l\">([^<]*)</td><td class=\"l\">(Linear|Leaky|)</td>",
                      page)
    assert [r[0] for r in rows] == ["0", "1", "2", "3", "total"]
    assert "Horowitz" in page and "2409.08290" in page and "crossover" in page


def test_report_errors_are_named(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    assert "no metrics.json" in capsys.readouterr().err
    (tmp_path / "metrics.json").write_text(json.dumps({"task": "unknown", "history": []}))
    assert main(["report", str(tmp_path)]) == 0  # still a page: what it can show, and why the rest is missing
    page = html.unescape((tmp_path / "report.html").read_text())
    assert "No network sections: task 'unknown' is not registered" in page


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    from PIL import Image

    assert main(["report", str(run_dir)]) == 0
    page = (run_dir / "report.html").read_text()
    # Let the browser say how many embedded images it decoded.
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", "<script>window.addEventListener('load', () => {"
                                  "const i = [...document.images]; document.body.setAttribute('data-decoded', "
                                  "i.filter(x => x.complete && x.naturalWidth > 0).length + '/' + i.length);"
                                  "});</script></body>"))
    browser = _browser()
    common = [browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    match = re.search(r'data-decoded="(\d+)/(\d+)"', dom.stdout)
    assert match, dom.stderr[-2000:]
    assert match.group(1) == match.group(2) == "5"
    shot = tmp_path / "report.png"
    subprocess.run([*common, "--window-size=1280,800", f"--screenshot={shot}", (run_dir / "report.html").as_uri()],
                   capture_output=True, text=True, timeout=120)
    with Image.open(shot) as image:
        assert image.size == (1280, 800)
        gray = image.convert("L")
        assert len(gray.getcolors(maxcolors=256)) > 20  # text and plots, not a blank page
