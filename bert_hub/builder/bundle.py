"""Model bundles: a directory with ``preprocess/``, ``encoder/`` and ``bert_hub.yaml``.

``bert-hub build`` (random weights) and ``bert-hub convert`` (a checkpoint)
write a bundle; every command that takes ``--config`` accepts its
``bert_hub.yaml`` (or the directory itself). The bundle is written into a
temporary sibling and renamed into place, so it is either complete or absent.

Examples:
    Random weights, the shape of BERT-Base, for benchmarks:

    >>> from bert_hub.builder.bundle import build_random_bundle  # doctest: +SKIP
    >>> build_random_bundle("out/bert_base_random", layers=12, hidden=768, heads=12,
    ...                     vocab_file="vocab.txt")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from bert_hub.builder.checkpoint import Checkpoint, read_checkpoint
from bert_hub.builder.encoder import write_encoder_savedmodel
from bert_hub.builder.preprocess import write_preprocess_savedmodel
from bert_hub.builder.vocab import read_vocab, special_token_ids
from bert_hub.builder.weights import check_weights, random_weights
from bert_hub.core.config import Architecture, ModelConfig, SentenceEmbedding, config_from_dict, write_config
from bert_hub.core.errors import InputError
from bert_hub.core.manifests import FolderKind
from bert_hub.core.outputs import atomic_directory
from bert_hub.core.pause import pause_point

CONFIG_NAME = "bert_hub.yaml"


BUNDLE = FolderKind("bundle", frozenset({"preprocess", "encoder", "bert_hub.yaml"}))
"""What a bundle folder holds: the two SavedModels and the config naming them."""


def write_bundle(
    out: str | Path,
    *,
    name: str,
    architecture: Architecture,
    weights: Mapping[str, np.ndarray],
    vocab_file: str | Path,
    lower_case: bool,
    seq_length: int = 128,
    dropout_rate: float = 0.1,
    attention_dropout_rate: float = 0.1,
    description: str = "",
    sentence: SentenceEmbedding | None = None,
    overwrite: bool = False,
) -> ModelConfig:
    """Writes a complete bundle atomically and returns its config (``sentence``: the model's own sentence
    vector, when it has one: see [`SentenceEmbedding`][bert_hub.core.config.SentenceEmbedding])."""
    out = Path(out)
    if not architecture.is_plain_bert:
        raise InputError(
            f"{name}: bert_hub builds the original BERT layout only (no factorized "
            "embeddings, shared layers or gated feed-forward blocks)"
        )
    tokens = read_vocab(vocab_file)
    special_token_ids(tokens, source=str(vocab_file))
    check_weights(architecture, weights, source=name)
    raw = {
        "name": name,
        "description": description,
        "preprocess": "./preprocess",
        "encoder": "./encoder",
        "seq_length": seq_length,
        "trainable": False,
        "architecture": architecture.to_dict(),
    }
    if sentence is not None:
        raw["sentence"] = sentence.to_dict()
    config_from_dict(raw, source=str(out / CONFIG_NAME))  # validate before writing anything
    with atomic_directory(out, kind=BUNDLE, overwrite=overwrite) as tmp:
        write_preprocess_savedmodel(
            vocab_file,
            tmp / "preprocess",
            lower_case=lower_case,
            seq_length=seq_length,
            text_normalization=architecture.text_normalization,
        )
        pause_point("converting")
        write_encoder_savedmodel(
            architecture,
            weights,
            tmp / "encoder",
            vocab_file=vocab_file,
            lower_case=lower_case,
            dropout_rate=dropout_rate,
            attention_dropout_rate=attention_dropout_rate,
        )
        config = config_from_dict(raw, source=str(tmp / CONFIG_NAME))
        write_config(config, tmp / CONFIG_NAME)
    return config_from_dict(raw, source=str(out.absolute() / CONFIG_NAME))


def build_random_bundle(
    out: str | Path,
    *,
    layers: int,
    hidden: int,
    heads: int,
    vocab_file: str | Path,
    intermediate: int | None = None,
    lower_case: bool = True,
    max_position_embeddings: int = 512,
    seq_length: int = 128,
    seed: int = 0,
    with_mlm: bool = True,
    name: str | None = None,
    overwrite: bool = False,
) -> ModelConfig:
    """Builds a bundle with randomly initialised weights (fixtures, benchmarks)."""
    vocab = read_vocab(vocab_file)
    arch = Architecture(
        layers=layers,
        hidden=hidden,
        heads=heads,
        vocab_size=len(vocab),
        intermediate=intermediate or 4 * hidden,
        cased=not lower_case,
        max_position_embeddings=max_position_embeddings,
    )
    for field, message in arch.problems():
        raise InputError(f"`{field}`: {message}")
    name = _name(name) or f"random_L-{layers}_H-{hidden}_A-{heads}"
    return write_bundle(
        out,
        name=name,
        architecture=arch,
        weights=random_weights(arch, seed=seed, with_mlm=with_mlm),
        vocab_file=vocab_file,
        lower_case=lower_case,
        seq_length=seq_length,
        description=f"random weights (seed {seed})",
        overwrite=overwrite,
    )


def _name(name: str | None) -> str | None:
    """A bundle's ``name`` as given (``None``: the default); an empty one is an error."""
    if name is not None and not name.strip():
        raise InputError("`name` is empty; give the model a name for bert_hub.yaml, or leave it out for the default")
    return name


def convert_checkpoint_bundle(
    checkpoint: str | Path | Checkpoint,
    out: str | Path,
    *,
    lower_case: bool | None = None,
    seq_length: int = 128,
    name: str | None = None,
    overwrite: bool = False,
) -> ModelConfig:
    """Converts a BERT checkpoint directory (config.json, model.safetensors, vocab.txt).

    ``checkpoint`` may also be a `Checkpoint`
    already read (and so validated) with ``read_checkpoint``.
    """
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else read_checkpoint(checkpoint, lower_case)
    return write_bundle(
        out,
        name=_name(name) or ckpt.name,
        architecture=ckpt.architecture,
        weights=ckpt.weights,
        vocab_file=ckpt.vocab_file,
        lower_case=ckpt.lower_case,
        seq_length=seq_length,
        dropout_rate=ckpt.dropout_rate,
        attention_dropout_rate=ckpt.attention_dropout_rate,
        description=f"converted from {ckpt.source.name}",
        sentence=ckpt.sentence,
        overwrite=overwrite,
    )


__all__ = ["CONFIG_NAME", "write_bundle", "build_random_bundle", "convert_checkpoint_bundle"]
