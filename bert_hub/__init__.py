"""bert_hub: Kaggle / TF Hub BERT models from Keras.

Load a preprocess + encoder pair by config, run the notebook workflow, embed
texts fast, fine-tune a classifier (two labels or more), a regressor, a
tagger or a question answerer, build or convert models in the TF Hub
SavedModel format. The package is built in layers, each folder importing
only from those above it in this list:

* `bert_hub.core`: errors, the SavedModel interface as data, model
  handles and YAML configs, caches and trusted places, how anything is
  written (``outputs``), text input checks;
* `bert_hub.builder`: writes TF Hub SavedModels (random, or converted
  from a checkpoint);
* `bert_hub.hub`: finds a model (resolution, the embedded default, the
  catalog), loads it and wraps it as a ``tf_keras`` model (``pipeline``);
* `bert_hub.runtime`: fast inference: length batching, precision and
  its calibration, the ``Embedder``;
* `bert_hub.explore`: the notebook's looks at a model: demo, inspect,
  layers, fill-mask;
* `bert_hub.finetune`: the training loop, run folders, distribution,
  export, and one module per task in [`bert_hub.finetune.tasks`][bert_hub.finetune.tasks];
* `bert_hub.integrations`: Apache Beam;
* `bert_hub.cli`: the ``bert-hub`` command, one module per command group.

The names below are loaded on first use, so ``import bert_hub`` does not
load TensorFlow; the first of them that needs it starts TensorFlow without
its start-up log, unless TensorFlow is imported already or
``TF_CPP_MIN_LOG_LEVEL`` is set (see `bert_hub.runtime.tensorflow_start`).

Examples:
    >>> import bert_hub
    >>> bert = bert_hub.load_pipeline()          # the embedded all-MiniLM-L6-v2
    >>> out = bert.encode(["This is a spam mail"])
    >>> sorted(out)
    ['default', 'encoder_outputs', 'pooled_output', 'sequence_output']
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "Architecture": "bert_hub.core.config",
    "ModelConfig": "bert_hub.core.config",
    "load_config": "bert_hub.core.config",
    "BertHubError": "bert_hub.core.errors",
    "CheckpointError": "bert_hub.core.errors",
    "ConfigError": "bert_hub.core.errors",
    "InputError": "bert_hub.core.errors",
    "Interrupted": "bert_hub.core.errors",
    "ModelFormatError": "bert_hub.core.errors",
    "ResolveError": "bert_hub.core.errors",
    "VocabError": "bert_hub.core.errors",
    "parse_handle": "bert_hub.core.handles",
    "resolve": "bert_hub.hub.resolution",
    "build_random_bundle": "bert_hub.builder.bundle",
    "convert_checkpoint_bundle": "bert_hub.builder.bundle",
    "BertPipeline": "bert_hub.hub.pipeline",
    "load_pipeline": "bert_hub.hub.pipeline",
    "Embedder": "bert_hub.runtime.embedder",
    "EmbedOptions": "bert_hub.runtime.embedder",
    "run_demo": "bert_hub.explore.demo",
    "train": "bert_hub.finetune.train",
    "TrainConfig": "bert_hub.finetune.train_config",
    "Classifier": "bert_hub.finetune.tasks.classification",
    "TokenClassifier": "bert_hub.finetune.tasks.token_classification",
    "QuestionAnswerer": "bert_hub.finetune.tasks.question_answering",
    "read_labelled": "bert_hub.finetune.tasks.labelled_texts",
    "LabelledTexts": "bert_hub.finetune.tasks.labelled_texts",
    "Regressor": "bert_hub.finetune.tasks.regression",
    "ScoredTexts": "bert_hub.finetune.tasks.regression",
    "read_scored": "bert_hub.finetune.tasks.regression",
    "read_conll": "bert_hub.finetune.tasks.token_classification",
    "read_squad": "bert_hub.finetune.tasks.question_answering",
    "load_model": "bert_hub.finetune.tasks",
    "import_tensorflow_quietly": "bert_hub.runtime.tensorflow_start",
}
"""Public name -> the module that defines it."""

__all__ = sorted(_PUBLIC)


_WITHOUT_TENSORFLOW = {
    "bert_hub.core.config",
    "bert_hub.core.errors",
    "bert_hub.core.handles",
    "bert_hub.finetune.tasks.labelled_texts",
    "bert_hub.finetune.train_config",
    "bert_hub.runtime.tensorflow_start",
}
"""The modules of public names that need no TensorFlow."""


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'bert_hub' has no attribute {name!r}")
    if _PUBLIC[name] not in _WITHOUT_TENSORFLOW and "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        from bert_hub.runtime.tensorflow_start import import_tensorflow_quietly

        import_tensorflow_quietly()  # the first model a script reaches starts TensorFlow without its log
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
