"""bert_hub: Kaggle / TF Hub BERT models from Keras.

Load a preprocess + encoder pair by config, run the notebook workflow, embed
texts fast, fine-tune a classifier (two labels or more), a regressor, a
tagger or a question answerer, build or convert models in the TF Hub
SavedModel format. The modules read top-down, each importing only from those
above it in this list:

* :mod:`bert_hub.errors`, :mod:`bert_hub.pause`, :mod:`bert_hub.caches`
  (where models are cached, which places are trusted),
  :mod:`bert_hub.interface` (the SavedModel interface as data),
  :mod:`bert_hub.outputs` (how anything is written);
* :mod:`bert_hub.handles` (handle syntax, cache look-ups) -> :mod:`bert_hub.config`
  (YAML configs, shipped in ``bert_hub.configs``);
* :mod:`bert_hub.builder` (writing SavedModels) -> :mod:`bert_hub.embedded`
  (the embedded default) -> :mod:`bert_hub.resolution` (handle -> folder);
* :mod:`bert_hub.loading` -> :mod:`bert_hub.pipeline` (the ``tf_keras``
  model) -> :mod:`bert_hub.batching` (length bucketing);
* :mod:`bert_hub.tasks` (inspect, layers, fill-mask, embed; fine-tuning for
  text classification, text regression, token classification and question
  answering)
  -> :mod:`bert_hub.cli`.

The names below are loaded on first use, so ``import bert_hub`` does not
load TensorFlow.

Example:

>>> import bert_hub
>>> bert = bert_hub.load_pipeline()          # the embedded all-MiniLM-L6-v2
>>> out = bert.encode(["This is a spam mail"])
>>> sorted(out)
['default', 'encoder_outputs', 'pooled_output', 'sequence_output']
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_PUBLIC = {
    "Architecture": "bert_hub.config",
    "ModelConfig": "bert_hub.config",
    "load_config": "bert_hub.config",
    "BertHubError": "bert_hub.errors",
    "CheckpointError": "bert_hub.errors",
    "ConfigError": "bert_hub.errors",
    "InputError": "bert_hub.errors",
    "Interrupted": "bert_hub.errors",
    "ModelFormatError": "bert_hub.errors",
    "ResolveError": "bert_hub.errors",
    "VocabError": "bert_hub.errors",
    "parse_handle": "bert_hub.handles",
    "resolve": "bert_hub.resolution",
    "build_random_bundle": "bert_hub.builder.bundle",
    "convert_checkpoint_bundle": "bert_hub.builder.bundle",
    "BertPipeline": "bert_hub.pipeline",
    "load_pipeline": "bert_hub.pipeline",
    "Embedder": "bert_hub.tasks.embed",
    "run_demo": "bert_hub.tasks.demo",
    "train": "bert_hub.tasks.train",
    "TrainConfig": "bert_hub.tasks.train_config",
    "Classifier": "bert_hub.tasks.classifier",
    "TokenClassifier": "bert_hub.tasks.token_classification",
    "QuestionAnswerer": "bert_hub.tasks.question_answering",
    "read_labelled": "bert_hub.tasks.data",
    "LabelledTexts": "bert_hub.tasks.data",
    "Regressor": "bert_hub.tasks.regression",
    "ScoredTexts": "bert_hub.tasks.regression",
    "read_scored": "bert_hub.tasks.regression",
    "read_conll": "bert_hub.tasks.token_classification",
    "read_squad": "bert_hub.tasks.question_answering",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'bert_hub' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
