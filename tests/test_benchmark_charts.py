"""The charts of docs/benchmarks.md are drawn by the benchmark scripts from the figures recorded beside them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORDED = sorted((ROOT / "docs" / "benchmarks").glob("*.json"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_page_shows_every_recorded_chart():
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    shown = set(re.findall(r"\]\(benchmarks/([\w-]+)\.png\)", page))
    assert shown == {p.stem for p in RECORDED}


@pytest.mark.parametrize("recorded", RECORDED, ids=[p.stem for p in RECORDED])
def test_a_chart_is_redrawn_from_its_figures(tmp_path, recorded):
    figures = json.loads(recorded.read_text())
    assert "bert_hub" in figures["results"] and figures["cpu"]
    script = ROOT / "benchmarks" / ("bench_embed.py" if recorded.stem.endswith("embed") else "bench_train.py")
    chart = tmp_path / "chart.png"
    done = subprocess.run(
        [sys.executable, str(script), "--replot", str(recorded), "--chart", str(chart)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert chart.read_bytes()[:8] == PNG_SIGNATURE
    # the committed chart is the one these figures draw: same size in pixels
    assert chart.read_bytes()[16:24] == recorded.with_suffix(".png").read_bytes()[16:24]
