"""Loading and checking TF-Hub-format SavedModels (preprocess and encoder).

The same code loads the real Kaggle / TF Hub models and the ones bert_hub
builds. Problems are reported as [`ModelFormatError`][bert_hub.core.errors.ModelFormatError]
naming the directory and what is missing, not as TensorFlow tracebacks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bert_hub.core.errors import ModelFormatError
from bert_hub.core.interface import PREPROCESS_ATTRS


def _check_dir(path: Path, role: str) -> None:
    if not path.is_dir():
        raise ModelFormatError(f"{role} model directory {path} does not exist")
    if not ((path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()):
        raise ModelFormatError(
            f"{role} model directory {path} has no saved_model.pb; it is not a SavedModel (rebuild or re-download it)"
        )


def _load(path: Path, role: str) -> Any:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - registers the ops the preprocess model uses

    _check_dir(path, role)
    try:
        return tf.saved_model.load(str(path))
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelFormatError(
            f"{role} model {path} cannot be loaded ({first[:200]}); "
            "the SavedModel is corrupt or incomplete: rebuild or re-download it"
        ) from None


def load_preprocess(path: str | Path) -> Any:
    """Loads a preprocess SavedModel and checks it has the preprocess interface."""
    path = Path(path)
    obj = _load(path, "preprocess")
    missing = [a for a in PREPROCESS_ATTRS if not hasattr(obj, a)]
    if missing or not callable(obj):
        raise ModelFormatError(
            f"{path} is not a BERT preprocess model: it lacks {', '.join(missing) or '__call__'} (is it an encoder?)"
        )
    return obj


def load_encoder(path: str | Path) -> Any:
    """Loads an encoder SavedModel and checks it is callable with variables."""
    path = Path(path)
    obj = _load(path, "encoder")
    if not callable(obj) or hasattr(obj, "bert_pack_inputs"):
        raise ModelFormatError(f"{path} is not a BERT encoder model (is it a preprocess model?)")
    return obj


def root_attributes(path: str | Path) -> set[str]:
    """Names of the root object's children in a SavedModel, read without loading it.

    Cheap even for BERT-Large: only ``saved_model.pb``'s object graph is parsed.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(path)
    _check_dir(path, "SavedModel")
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((path / "saved_model.pb").read_bytes())
        nodes = proto.meta_graphs[0].object_graph_def.nodes
    except Exception as e:
        raise ModelFormatError(f"{path}/saved_model.pb is corrupt ({type(e).__name__}); rebuild it") from None
    return {child.local_name for child in nodes[0].children} if nodes else set()
