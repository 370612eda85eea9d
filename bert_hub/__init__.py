"""bert_hub: Kaggle / TF Hub BERT models from Keras.

Load a preprocess + encoder pair by config, run the notebook workflow, build
or convert models in the TF Hub SavedModel format. The architecture reads
top-down: :mod:`bert_hub.config` -> :mod:`bert_hub.handles` (resolution) ->
:mod:`bert_hub.builder` (writing SavedModels) and :mod:`bert_hub.loading` ->
:mod:`bert_hub.pipeline` (the ``tf_keras`` model) -> :mod:`bert_hub.tasks` ->
:mod:`bert_hub.cli`.

Example:

>>> import bert_hub
>>> bert = bert_hub.load_pipeline()          # the embedded all-MiniLM-L6-v2
>>> out = bert.encode(["This is a spam mail"])
>>> sorted(out)
['default', 'encoder_outputs', 'pooled_output', 'sequence_output']
"""

from bert_hub.builder.bundle import build_random_bundle, convert_checkpoint_bundle
from bert_hub.config import Architecture, ModelConfig, load_config
from bert_hub.errors import (
                             BertHubError,
                             CheckpointError,
                             ConfigError,
                             InputError,
                             ModelFormatError,
                             ResolveError,
                             VocabError,
)
from bert_hub.handles import parse_handle, resolve
from bert_hub.pipeline import BertPipeline, load_pipeline
from bert_hub.tasks.demo import run_demo

__version__ = "0.1.0"

__all__ = [
    "Architecture", "BertHubError", "BertPipeline", "CheckpointError", "ConfigError",
    "InputError", "ModelConfig", "ModelFormatError", "ResolveError", "VocabError",
    "build_random_bundle", "convert_checkpoint_bundle", "load_config", "load_pipeline",
    "parse_handle", "resolve", "run_demo",
]
