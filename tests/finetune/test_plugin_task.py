"""A task from another package plugs in by an entry point and works through every command, untouched bert_hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TOPICS, python_json

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

PLUGIN = Path(__file__).parent / "plugin"


@pytest.fixture(scope="module")
def plugged(tmp_path_factory):
    """A folder on PYTHONPATH holding the plug-in's module and the .dist-info ``pip install`` would write."""
    site = tmp_path_factory.mktemp("site")
    shutil.copy(PLUGIN / "keyword_task.py", site)
    sys.path.insert(0, str(site))
    try:
        from keyword_task import dist_info

        dist_info(site)
    finally:
        sys.path.remove(str(site))
    return site


def bert_hub(site: Path, *args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "bert_hub.cli", *map(str, args)], capture_output=True, text=True, env=env, timeout=600
    )


def test_a_task_from_another_package_trains_evaluates_predicts_and_exports(plugged, tmp_path, tiny_bundle):
    rng = np.random.default_rng(0)  # words the tiny model's vocab has
    data = tmp_path / "topics.txt"
    data.write_text(
        "".join(
            f"{topic};{' '.join(rng.choice(TOPICS[topic], size=4))}\n" for _ in range(40) for topic in sorted(TOPICS)
        )
    )
    helped = bert_hub(plugged, "train", "--task", "keyword-topics", "--help")
    assert helped.returncode == 0 and "--separator" in helped.stdout and "--hidden-units" in helped.stdout
    assert "--pooling" not in helped.stdout and "keyword-topics" in bert_hub(plugged, "train", "--help").stdout

    run = tmp_path / "run"
    trained = bert_hub(
        plugged,
        "train",
        "--task",
        "keyword-topics",
        "--config",
        tiny_bundle,
        "--data",
        data,
        "--out",
        run,
        "--separator",
        ";",
        "--hidden-units",
        "8",
        "--epochs",
        "6",
        "--batch-size",
        "8",
        "--learning-rate",
        "0.003",
        "--seq-length",
        "16",
        "--json",
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    summary = json.loads(trained.stdout)
    assert summary["task"] == "keyword-topics" and summary["names"] == sorted(TOPICS)
    recorded = yaml.safe_load((run / "train_config.yaml").read_text())
    assert recorded["task"] == "keyword-topics" and recorded["hidden_units"] == 8

    evaluated = bert_hub(plugged, "evaluate", "--model", run, "--data", data, "--separator", ";", "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads(evaluated.stdout)["accuracy"] >= 0.9

    texts = [" ".join(TOPICS[topic][:3]) for topic in sorted(TOPICS)]
    predicted = bert_hub(plugged, "predict", "--model", run, "--prefix", "about ", *texts, "--json")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    rows = json.loads(predicted.stdout)["predictions"]
    assert [r["text"] for r in rows] == [f"about {t}" for t in texts]
    assert [r["label"] for r in rows] == sorted(TOPICS)
    refused = bert_hub(plugged, "predict", "--model", run, "--top-k", "2", texts[0])
    assert refused.returncode == 2 and "--top-k is not for" in refused.stderr and "--prefix" in refused.stderr
    bad = bert_hub(
        plugged, "train", "--task", "keyword-topics", "--config", tiny_bundle, "--data", data, "--out", tmp_path / "bad"
    )
    assert bad.returncode == 2 and "has no '|'; choose it with --separator" in bad.stderr  # its own data flag

    served = python_json(
        "import json, tensorflow as tf, tensorflow_text, sys\n"
        f"m = tf.saved_model.load({str(run / 'model')!r}).signatures['serving_default']\n"
        f"r = m(text=tf.constant([{texts[1]!r}]))\n"
        "print(json.dumps({'label': r['label'].numpy()[0].decode(), "
        "'bert_hub': 'bert_hub' in sys.modules}))\n"
    )
    assert served == {"label": sorted(TOPICS)[1], "bert_hub": False}


def test_bert_hub_never_names_the_plugged_in_task():
    import bert_hub

    for path in Path(bert_hub.__file__).parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "keyword-topics" not in text and "keyword_task" not in text and "KeywordTopics" not in text, path
