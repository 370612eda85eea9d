"""Exported models: the serving SavedModels ``bert-hub train`` writes, for every task.

An export is a SavedModel folder (``RUN/model``) plus ``bert_hub_export.json``
(`METADATA`), which says what it is: its ``task`` and what serving needs
(labels, tags, window settings); the name it had before,
``bert_hub_classifier.json``, is read too. [`save_export`][bert_hub.finetune.exported.save_export]
writes one atomically; [`load_export`][bert_hub.finetune.exported.load_export] loads one with plain
TensorFlow and checks its task.

Examples:
    After ``bert-hub train ... --out runs/spam``:

    ```python
    from bert_hub.finetune.exported import load_export
    folder, info, model = load_export("runs/spam", "text-classification")
    ```
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml

from bert_hub.core.caches import check_trusted
from bert_hub.core.errors import ConfigError, InputError, ModelFormatError
from bert_hub.core.manifests import FolderKind
from bert_hub.core.outputs import atomic_directory
from bert_hub.finetune.options import NoOptions, Options

if TYPE_CHECKING:  # annotations only: the pipeline module loads TensorFlow
    from bert_hub.hub.pipeline import BertPipeline

METADATA = "bert_hub_export.json"
"""The file beside every exported bert_hub model saying what it is."""
SERVING_PRECISIONS = ("float32", "int8")
"""What an exported model predicts and evaluates in: the SavedModel as exported, or rebuilt with the encoder's
Transformer matmuls in int8 ([`bert_hub.builder.int8`][bert_hub.builder.int8])."""
FORMER_METADATA = "bert_hub_classifier.json"
"""What `METADATA` was called before; still read."""
EXPORT = FolderKind("export", frozenset({"saved_model.pb", "variables", "assets", "fingerprint.pb", METADATA}))
"""What an export folder holds: the SavedModel and its metadata."""


class ServedModel:
    """A fine-tuned Keras model as an export's serving functions call it.

    Put it on the export's ``tf.Module`` with `attach`: the module then
    tracks the model's weights only, not the Keras model, so saving does not
    trace every Keras layer's call for a Keras reload nobody makes (seconds per
    export). When the encoder is a tensorflow/models export (a Kaggle / TF Hub
    BERT), the calls trace bert_hub's fast forward pass over the same (trained)
    variables instead of the export's slower graph
    ([`bert_hub.hub.fast_path`][bert_hub.hub.fast_path]); the numbers are the same (tested).
    """

    def __init__(self, model: Any, bert: BertPipeline):
        self.model = model
        self.layer = bert.encoder_layer
        self.fast = bert.serving_encoder()

    def attach(self, module: Any, name: str) -> ServedModel:
        """Tracks the model's weights on ``module`` (as ``<name>_weights``) and returns self."""
        setattr(module, f"{name}_weights", list(self.model.weights))
        object.__setattr__(module, name, self)  # a plain object: not saved itself
        return self

    def __call__(self, inputs: Any, training: bool = False) -> Any:
        """The model's outputs for ``inputs`` (through the fast pass when the encoder is upstream's)."""
        if self.fast is None:
            return self.model(inputs, training=training)
        saved = self.layer._callable  # what hub.KerasLayer calls: the fast pass, for this call only
        object.__setattr__(self.layer, "_callable", self.fast)
        try:
            return self.model(inputs, training=training)
        finally:
            object.__setattr__(self.layer, "_callable", saved)


def serving_function(*specs: Any) -> Any:
    """The decorator of an export's serving function taking ``specs`` (``tf.TensorSpec``): ``tf.function``
    with that input signature, traced without AutoGraph. The serving code is graph code already (no Python
    ``if`` or ``for`` over tensors), and AutoGraph's conversion of every call it makes, the fine-tuned
    model's Keras layers included, took 1.5 s of a 3.5 s question-answering export (all-MiniLM-L6-v2).
    """
    import tensorflow as tf

    return tf.function(input_signature=list(specs), autograph=False)


def save_export(
    module: Any, out: str | Path, signatures: dict[str, Any], info: dict[str, Any], *, overwrite: bool = True
) -> Path:
    """Saves ``module`` with ``signatures`` and its metadata ``info`` to ``out``, built aside and swapped in."""
    import tensorflow as tf

    out = Path(out)
    with atomic_directory(out, kind=EXPORT, overwrite=overwrite, what="export") as tmp:
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        (tmp / METADATA).write_text(json.dumps(info, indent=1))
    return out


def metadata_file(folder: Path) -> Path | None:
    """The metadata file of the export in ``folder`` (under its name or its former one), or None."""
    for name in (METADATA, FORMER_METADATA):
        if (folder / name).is_file():
            return folder / name
    return None


def find_model_dir(path: str | Path) -> Path:
    """A run directory (``runs/spam``) or the exported model directory itself."""
    if not str(path).strip():
        raise InputError("the model is empty; give the run folder of a training")
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFormatError(f"{path.absolute()} does not exist; give the run folder of a training")
    for candidate in (path / "model", path):
        if (candidate / "saved_model.pb").is_file() and metadata_file(candidate) is not None:
            return candidate
    if (path / "checkpoints").is_dir():
        raise ModelFormatError(
            f"{path} has checkpoints but no exported model/: the run did not finish; continue it with `resume=True`"
        )
    raise ModelFormatError(
        f"{path} is not a model bert_hub trained (no saved_model.pb and {METADATA}); give the run folder of a training"
    )


def read_metadata(folder: Path) -> dict[str, Any]:
    """The metadata of the export in ``folder`` (found by
    [`find_model_dir`][bert_hub.finetune.exported.find_model_dir]),
    checked to name its task."""
    path = metadata_file(folder)
    try:
        info = json.loads(path.read_text(encoding="utf-8")) if path is not None else None
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict) or not isinstance(info.get("task"), str):
        raise ModelFormatError(
            f"{path or folder}: not the metadata of a bert_hub export (a JSON object naming "
            "its task); export the run again"
        )
    return info


def run_model_config(folder: Path) -> tuple[dict[str, Any], Any]:
    """The recorded settings of the run whose export is ``folder`` (its ``train_config.yaml``: the model
    config, the task and its settings) and the model config they name, loaded."""
    from bert_hub.core.config import load_config

    run = folder.absolute().parent
    path = run / "train_config.yaml"
    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise ModelFormatError(
            f"{run} has no train_config.yaml: {folder.absolute()} is not in the run folder `bert-hub train` "
            "wrote; give that run folder"
        ) from None
    except yaml.YAMLError as e:
        raise ModelFormatError(f"{path}: not YAML ({str(e).splitlines()[0]}); the run folder is damaged") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("model"), str):
        raise ModelFormatError(f"{path}: no field model (the run's model config); the run folder is damaged")
    try:
        return settings, load_config(settings["model"])
    except (InputError, ConfigError) as e:
        raise InputError(f"{path} names the model {settings['model']!r}, which does not load: {e}") from None


def load_weights(model: Any, saved: Sequence[Any], source: Path) -> None:
    """Assigns ``saved`` (an export's variables, in the model's order) to ``model``'s weights, each
    checked by name and shape."""
    weights = list(model.weights)
    if len(weights) != len(saved):
        raise ModelFormatError(
            f"{source} holds {len(saved)} weights, the model its run describes {len(weights)}; export the run again"
        )
    for mine, theirs in zip(weights, saved):
        if mine.name != theirs.name or tuple(mine.shape) != tuple(theirs.shape):
            raise ModelFormatError(
                f"{source}: weight {theirs.name} {tuple(theirs.shape)} where the model has {mine.name} "
                f"{tuple(mine.shape)}; export the run again"
            )
        mine.assign(theirs)


class ServingPipeline:
    """A [`BertPipeline`][bert_hub.hub.pipeline.BertPipeline] as a serving module sees it, with another
    preprocessor or encoder call: its ``preprocessor`` tokenizes and packs, ``serving_encoder()`` runs the
    encoder (None: the encoder layer's own graph), ``encoder_layer`` is what the fine-tuned model is built on,
    ``words`` splits words and cuts substrings (see [`text_words`][bert_hub.finetune.tasks.words.text_words]).

    Args:
        bert: the pipeline whose weights the module serves.
        preprocessor: what tokenizes and packs instead of ``bert.preprocessor`` (LiteRT's in-graph one).
        encoder: the encoder call instead of ``bert.serving_encoder()`` (the int8 or the LiteRT form).
        words: what makes ``words`` (LiteRT's), called the first time a module asks for it.
    """

    def __init__(
        self,
        bert: BertPipeline,
        *,
        preprocessor: Any = None,
        encoder: Any = None,
        words: Callable[[], Any] | None = None,
    ):
        self.bert = bert
        self.preprocessor = bert.preprocessor if preprocessor is None else preprocessor
        self._encoder = encoder
        self._make_words = words

    @property
    def encoder_layer(self) -> Any:
        """The encoder's ``hub.KerasLayer``."""
        return self.bert.encoder_layer

    def serving_encoder(self) -> Any:
        """The encoder call the serving functions trace."""
        return self.bert.serving_encoder() if self._encoder is None else self._encoder

    @functools.cached_property
    def words(self) -> Any:
        """What splits words and cuts substrings in the serving graph (None: the SavedModel's own way)."""
        return None if self._make_words is None else self._make_words()


def model_task(path: str | Path) -> str:
    """The task of the exported model at ``path`` (a run folder or the export)."""
    return str(read_metadata(find_model_dir(path))["task"])


def load_export(path: str | Path, task: str) -> tuple[Path, dict[str, Any], Any]:
    """An exported model of ``task``: its folder, its metadata and the loaded SavedModel.

    Plain TensorFlow (after ``import tensorflow_text`` for the tokenizer's
    ops); a model of another task, or one that does not load, is one line.
    A SavedModel is a program: a folder another user owns or can write to is
    refused ([`check_trusted`][bert_hub.core.caches.check_trusted]).
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - the tokenizer's ops

    folder = check_trusted(find_model_dir(path), handle=str(path))
    info = read_metadata(folder)
    if info["task"] != task:
        raise ModelFormatError(f"{folder} is a {info['task']} model, not a {task} model")
    try:
        return folder, info, tf.saved_model.load(str(folder))
    except Exception as e:
        raise ModelFormatError(f"cannot load {folder}: {str(e).splitlines()[0][:200]}") from None


class ExportedModel:
    """An export loaded for use: the interface every task's model shares (evaluate, predict, describe).

    The CLI and Beam only use this interface; what is particular to a task
    (its data, its outputs, its metrics) is in the subclass.
    """

    task: ClassVar[str] = ""
    """The task name this class loads (checked against the export's metadata)."""
    PredictInputs: ClassVar[type[Options]] = NoOptions
    """What ``predict`` takes for this kind of model (texts, pairs, questions, ...)."""
    beam_columns: ClassVar[dict[str, str]] = {}
    """What ``predict --runner`` writes for each input line besides ``file``, ``line`` and ``text``: column name ->
    type (``string``, ``float32``, ``int64``, ``bool``, ``list<string>``, ``list<span>``)."""

    weights_name: ClassVar[str] = "model"
    """The name the export's `ServedModel` has on its module (its weights are ``<name>_weights``)."""

    def __init__(self, path: str | Path, precision: str = "float32"):
        self.path, self.info, self.loaded = load_export(path, self.task)
        if precision not in SERVING_PRECISIONS:
            raise InputError(f"precision {precision!r}: choose one of {', '.join(SERVING_PRECISIONS)}")
        self.precision = precision
        self.signatures: Any = self.loaded.signatures
        """The serving functions by signature name: the export's own, or (``int8``) rebuilt ones."""
        if precision == "int8":

            def int8(bert: BertPipeline) -> ServingPipeline:
                return ServingPipeline(bert, encoder=bert.inference_encoder(int8=True))

            # The module is kept: its serving functions hold it weakly.
            self.rebuilt_module, self.signatures = self.rebuilt(self.path, self.info, self.loaded, int8)

    @classmethod
    def rebuilt(
        cls, folder: Path, info: dict[str, Any], loaded: Any, pipeline: Callable[[BertPipeline], Any]
    ) -> tuple[Any, dict[str, Any]]:
        """The export in ``folder`` (its metadata ``info``, ``loaded`` with ``tf.saved_model.load``) as a new
        serving module and its signatures: the task's model rebuilt (`rebuild_model`) from the run's
        settings, given the export's weights, served through ``pipeline(bert)`` (a
        [`ServingPipeline`][bert_hub.finetune.exported.ServingPipeline], made once the weights are in: an int8
        encoder quantizes them when it is made)."""
        from bert_hub.hub.pipeline import BertPipeline

        settings, config = run_model_config(folder)
        bert = BertPipeline(config, trainable=True)  # as in training: the same weights, in the same order
        model = cls.rebuild_model(bert, settings, info)
        load_weights(model, list(getattr(loaded, f"{cls.weights_name}_weights")), folder)
        return cls.serving_module(model, pipeline(bert), info)

    @classmethod
    def rebuild_model(cls, bert: BertPipeline, settings: dict[str, Any], info: dict[str, Any]) -> Any:
        """A fresh Keras model of the export's shape, from its run's ``settings`` (``train_config.yaml``) and
        its metadata ``info``; [`bert_hub.export.run`][bert_hub.export.run] loads the export's weights into it.

        Raises:
            InputError: this kind of model is not exported again (the default).
        """
        raise InputError(f"exporting a {cls.task} model again (LiteRT, SavedModel) is not built yet")

    @classmethod
    def litert_refusal(cls, info: dict[str, Any]) -> str | None:
        """Why the export ``info`` describes has no LiteRT form (None: it has one)."""
        return None

    @classmethod
    def serving_module(cls, model: Any, bert: BertPipeline, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The export's serving ``tf.Module`` and its signatures (name -> function) for ``model``, with the
        preprocessing and encoder call ``bert`` gives, as the metadata ``info`` describes it."""
        raise InputError(f"exporting a {cls.task} model again (LiteRT, SavedModel) is not built yet")

    def read_data(self, path: str | Path, options: Options | None = None) -> Any:
        """Evaluation data for this model from a file (``options``: its task's data options)."""
        raise NotImplementedError

    def evaluate(
        self, data: Any, plot: str | Path | None = None, overwrite: bool = False, batch_size: int = 32
    ) -> dict[str, Any]:
        """The task's metrics on ``data`` (as `read_data` reads it, or the path of a file it reads with its
        default options); ``plot`` writes its figures."""
        raise NotImplementedError

    def _data(self, data: Any) -> Any:
        """``data``, read with `read_data` when it is a path."""
        return self.read_data(Path(data)) if isinstance(data, (str, os.PathLike)) else data

    @staticmethod
    def format_metrics(metrics: dict[str, Any], info: dict[str, Any]) -> str:
        """``metrics`` of a model described by ``info`` (its metadata, or a training summary), for people."""
        raise NotImplementedError

    def predict_inputs(self, inputs: Options) -> dict[str, Any]:
        """Predictions for ``inputs`` (a ``PredictInputs``) as one JSON-ready report (``model``,
        ``predictions``, ...)."""
        raise NotImplementedError

    def format_report(self, report: dict[str, Any]) -> str:
        """[`predict_inputs`][bert_hub.finetune.exported.ExportedModel.predict_inputs]'s report, for people."""
        raise NotImplementedError

    @staticmethod
    def check_line(line: str) -> None:
        """Refuses (``InputError``) an input line of ``predict --runner`` this kind of model cannot read."""

    def beam_rows(self, lines: Sequence[str]) -> list[dict[str, Any]]:
        """One row of `beam_columns` per input line (``predict --runner``), in input order."""
        raise NotImplementedError

    def _refuse_plot(self, plot: str | Path | None) -> None:
        if plot is not None:
            raise InputError(f"`plot` draws a classifier's or regressor's figures; {self.path} is a {self.task} model")


def batches_by_length(columns: Sequence[Sequence[str] | None], batch_size: int) -> list[Any]:
    """Index batches of ``batch_size`` rows of similar length, for a serving model that packs each batch to
    its longest text: rows sorted by their characters (every column's, e.g. text and text_pair), since the
    tokens are counted inside the model. The caller puts each row's result back at its index.

    Examples:
        >>> [b.tolist() for b in batches_by_length([["a long text", "hi", "a text", "yo"]], 2)]
        [[1, 3], [2, 0]]
    """
    import numpy as np

    from bert_hub.runtime.batching import length_sorted_batches

    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch size must be a positive integer, got {batch_size!r}")
    first = next((column for column in columns if column is not None), [])
    chars = np.zeros(len(first), np.int64)
    for column in columns:
        if column is not None:
            chars += np.fromiter((len(t) for t in column), np.int64, len(column))
    return length_sorted_batches(chars, batch_size)


def served_batches(
    serve: Any, columns: dict[str, Sequence[str] | None], batch_size: int
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """``(indices, outputs as NumPy)`` for each batch of `batches_by_length` over ``columns``, served by
    ``serve`` (a serving signature) with each column's strings of the batch under its name; a column that is
    ``None`` is left out. The caller puts each row's result back at its index."""
    import tensorflow as tf

    given = {name: column for name, column in columns.items() if column is not None}
    for idx in batches_by_length(list(given.values()), batch_size):
        feed = {name: tf.constant([column[i] for i in idx]) for name, column in given.items()}
        yield idx, {k: v.numpy() for k, v in serve(**feed).items()}


def with_pairs(rows: Sequence[dict[str, Any]], line: Any, after: Any = lambda r: "") -> str:
    """One line per row: ``line(row)``, ``  ||  second text`` for pairs, then ``after(row)``."""
    return "\n".join(line(r) + (f"  ||  {r['text_pair']}" if "text_pair" in r else "") + after(r) for r in rows)
