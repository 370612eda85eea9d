"""Configs: shipped files load; every bad field is named with its file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bert_hub.core.config import config_from_dict, load_config, shipped_config_dir
from bert_hub.core.errors import ConfigError

GOOD = {
    "name": "m",
    "preprocess": "./pre",
    "encoder": "./enc",
    "seq_length": 64,
    "architecture": {"layers": 2, "hidden": 32, "heads": 4, "vocab_size": 100, "cased": False},
}


def write(tmp_path: Path, data, name="c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def test_shipped_configs_load():
    default = load_config("default")
    assert default.preprocess.kind == default.encoder.kind == "embedded"
    assert (default.architecture.layers, default.architecture.hidden, default.architecture.heads) == (6, 384, 12)
    base = load_config(shipped_config_dir() / "bert_en_uncased_L-12_H-768_A-12.yaml")
    assert base.preprocess.kaggle == "tensorflow/bert/tensorFlow2/en-uncased-preprocess/3"
    assert base.encoder.kaggle == "tensorflow/bert/tensorFlow2/en-uncased-l-12-h-768-a-12/4"
    assert base.seq_length == 128 and base.trainable is False
    assert base.architecture.intermediate == 3072 and not base.architecture.cased


def test_relative_local_handles_are_relative_to_the_config_file(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.encoder.kind == "local" and cfg.encoder.path == (tmp_path / "enc").resolve()
    assert cfg.architecture.intermediate == 128  # 4 * hidden by default


@pytest.mark.parametrize(
    "mutate, field, words",
    [
        (lambda d: d.update(colour="red"), "colour", "unknown field"),
        (lambda d: d["architecture"].update(depth=3), "architecture.depth", "unknown field"),
        (lambda d: d.pop("encoder"), "encoder", "missing required field"),
        (lambda d: d["architecture"].pop("heads"), "architecture.heads", "missing required field"),
        (lambda d: d["architecture"].update(layers="twelve"), "architecture.layers", "expected an integer"),
        (lambda d: d["architecture"].update(layers=True), "architecture.layers", "expected an integer"),
        (lambda d: d.update(trainable="yes"), "trainable", "expected true or false"),
        (lambda d: d.update(encoder="not a handle"), "encoder", "is not a handle"),
        (lambda d: d.update(preprocess="https://www.kaggle.com/datasets/x"), "preprocess", "not a Kaggle model URL"),
        (lambda d: d.update(seq_length=2), "seq_length", "between 3 and"),
        (lambda d: d.update(seq_length=600), "seq_length", "between 3 and"),
        (lambda d: d["architecture"].update(heads=5), "architecture.heads", "divisible"),
        (
            lambda d: d["architecture"].update(text_normalization="nfkc"),
            "architecture.text_normalization",
            "must be one of tensorflow_text, huggingface",
        ),
        (lambda d: d.update(sentence={"pooling": "sum"}), "sentence.pooling", "must be one of"),
    ],
)
def test_bad_fields_name_file_and_field(tmp_path, mutate, field, words):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    message = str(e.value)
    assert str(path) in message and f"'{field}'" in message and words in message
    assert "\n" not in message


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\narchitecture: [unclosed\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: line \d+"):
        load_config(path)


def test_unsafe_yaml_is_refused(tmp_path):
    path = write(tmp_path, "!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):
        load_config(path)


def test_not_a_mapping_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="not found.*default"):
        load_config(tmp_path / "nope.yaml")


def test_round_trip_through_yaml(tmp_path):
    cfg = config_from_dict(GOOD, source=str(tmp_path / "a.yaml"))
    again = config_from_dict(cfg.to_yaml_dict(), source=str(tmp_path / "a.yaml"))
    assert again == cfg
