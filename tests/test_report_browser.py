"""report.html in a real headless Chromium: no console messages, every image decoded with a non-zero size.

Chromium writes the page's console messages to stderr as `CONSOLE` lines with
--enable-logging=stderr. A script appended to a copy of the report writes the natural
size of every image into the DOM once the page has loaded, and --dump-dom prints it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from litcifar.report import SECTIONS

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: install Debian's `chromium` package (.ci/run does)")

IMAGE_CHECK = """
<script>
window.addEventListener("load", () => {
  const sizes = Array.from(document.images).map((image) => [image.naturalWidth, image.naturalHeight]);
  const result = document.createElement("pre");
  result.id = "image-check";
  result.textContent = JSON.stringify(sizes);
  document.body.appendChild(result);
});
</script>
"""


def load_in_chromium(page: Path, profile: Path) -> tuple[list[list[int]], list[str]]:
    """Return the (width, height) of each image on `page` after load, and its console messages."""
    probe = page.with_name(page.stem + "-probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", IMAGE_CHECK + "</body>"), encoding="utf-8")
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
        "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'<pre id="image-check">(.*?)</pre>', result.stdout, re.DOTALL)
    assert match, "the image check did not run: page did not finish loading"
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(match.group(1)), console


def test_probe_detects_broken_page(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA"><script>console.error("broken");</script></body></html>')
    sizes, console = load_in_chromium(page, tmp_path / "profile")
    assert sizes == [[0, 0]]
    assert any("broken" in line for line in console)


def test_report_loads_cleanly(analysis_run, tmp_path):
    out_dir = analysis_run[0]
    report = tmp_path / "report.html"
    shutil.copyfile(out_dir / "report.html", report)  # no sibling files: every image must be embedded
    sizes, console = load_in_chromium(report, tmp_path / "profile")
    assert console == []
    expected = sum(1 for name, _, _ in SECTIONS if (out_dir / name).is_file())
    assert len(sizes) == expected
    assert all(width > 0 and height > 0 for width, height in sizes), sizes


def test_report_sections_present(analysis_run):
    text = (analysis_run[0] / "report.html").read_text(encoding="utf-8")
    for title in ("Accuracy per class", "Confusion matrix", "Most frequent confusions", "Misclassified test images",
                  "Grad-CAM: predicted against true class", "Faithfulness of the heatmaps", "Loss and accuracy", "Configuration", "Run metrics"):
        assert f"<h2>{title}</h2>" in text, f"section {title!r} missing"
    assert 'src="data:image/png;base64,' in text
    assert "width: 0.125" in text
