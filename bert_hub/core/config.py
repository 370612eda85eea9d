"""Model configs: YAML files that name a preprocess and an encoder model.

A config is data. It names the two SavedModels (by Kaggle handle, URL, local
directory or ``embedded:`` name), the default sequence length, whether the
encoder is fine-tuned, and the architecture the encoder is expected to have:

```text
name: bert_en_uncased_L-12_H-768_A-12
preprocess: tensorflow/bert/tensorFlow2/en-uncased-preprocess/3
encoder: tensorflow/bert/tensorFlow2/en-uncased-l-12-h-768-a-12/4
seq_length: 128
trainable: false
architecture:
  layers: 12
  hidden: 768
  heads: 12
  intermediate: 3072
  vocab_size: 30522
  cased: false
```

Loading validates every field; each error names the file and the field.

Examples:
    >>> from bert_hub.core.config import load_config
    >>> cfg = load_config("default")
    >>> cfg.architecture.layers, cfg.seq_length
    (6, 128)
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bert_hub.core.atomic import atomic_write_text
from bert_hub.core.errors import ConfigError
from bert_hub.core.handles import Handle, parse_handle
from bert_hub.core.inputs import decode_utf8

CONFIG_PACKAGE = "bert_hub.configs"
"""The package the shipped configs are installed as (the repository's ``configs/`` folder)."""

DEFAULT_CONFIG = "default"
"""The config used when none is given: the embedded all-MiniLM-L6-v2."""


GELU_FORMS = ("exact", "tanh")
"""The forms of GELU an encoder may compute (``Architecture.gelu``)."""

TEXT_NORMALIZATIONS = ("tensorflow_text", "huggingface")
"""How a model's tokenizer normalises text before WordPiece (``Architecture.text_normalization``)."""


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The shape of a BERT encoder.

    Attributes:
        layers: number of Transformer blocks (L).
        hidden: hidden size (H).
        heads: attention heads (A); ``hidden`` must divide by it.
        intermediate: feed-forward size (defaults to ``4 * hidden``).
        vocab_size: number of WordPiece ids.
        cased: False for an uncased (lower-casing) vocab.
        max_position_embeddings: the longest sequence the encoder takes.
        type_vocab_size: number of segment (type) ids.
        gelu: the feed-forward activation's form: ``exact`` (erf, the
            original BERT's and Hugging Face's ``gelu``) or ``tanh`` (the
            approximation tensorflow/models computes, so every Kaggle / TF Hub
            BERT exported by it; Hugging Face's ``gelu_new``).
        text_normalization: what the tokenizer does to text before splitting
            it: ``tensorflow_text`` (the Kaggle / TF Hub preprocess models:
            tensorflow-text's ``BertTokenizer``, which folds case with NFKC,
            so ``…`` becomes ``...``) or ``huggingface`` (Hugging Face's
            ``BertTokenizer``, for checkpoints converted from it: control
            characters removed, accents stripped after NFD, lower-cased,
            no compatibility mapping, so ``…`` stays one token).
    """

    layers: int
    hidden: int
    heads: int
    vocab_size: int
    intermediate: int = 0
    cased: bool = dataclasses.field(default=False, metadata={"required": True})  # YAML must say
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    embedding_size: int = 0
    shared_layers: bool = False
    gated_ffn: bool = False
    gelu: str = "exact"
    text_normalization: str = "tensorflow_text"

    def __post_init__(self) -> None:
        if not self.intermediate:
            object.__setattr__(self, "intermediate", 4 * self.hidden)
        if not self.embedding_size:
            object.__setattr__(self, "embedding_size", self.hidden)

    @property
    def is_plain_bert(self) -> bool:
        """True for the original BERT layout, which bert_hub's builder writes."""
        return self.embedding_size == self.hidden and not self.shared_layers and not self.gated_ffn

    def param_count(self) -> int:
        """Parameters of the encoder (embeddings, Transformer blocks, pooler; no MLM head).

        Covers ALBERT's factorized embeddings (``embedding_size`` < ``hidden``,
        projected up) and shared layers, and gated feed-forward blocks.
        """
        H, I, E = self.hidden, self.intermediate, self.embedding_size
        embeddings = (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) * E + 2 * E
        if E != H:
            embeddings += E * H + H
        ffn = (2 if self.gated_ffn else 1) * (H * I + I) + I * H + H
        block = 4 * (H * H + H) + 2 * H + ffn + 2 * H
        return embeddings + (1 if self.shared_layers else self.layers) * block + H * H + H

    @property
    def head_size(self) -> int:
        """Hidden size per attention head (``hidden // heads``)."""
        return self.hidden // self.heads

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) pairs for values that cannot make a BERT."""
        out = []
        for name in (
            "layers",
            "hidden",
            "heads",
            "vocab_size",
            "intermediate",
            "max_position_embeddings",
            "type_vocab_size",
            "embedding_size",
        ):
            if getattr(self, name) < 1:
                out.append((name, f"must be a positive integer, got {getattr(self, name)}"))
        if self.heads >= 1 and self.hidden % self.heads:
            out.append(("heads", f"hidden size {self.hidden} must be divisible by heads={self.heads}"))
        if self.gelu not in GELU_FORMS:
            out.append(("gelu", f"must be one of {', '.join(GELU_FORMS)}, got {self.gelu!r}"))
        if self.text_normalization not in TEXT_NORMALIZATIONS:
            out.append(
                (
                    "text_normalization",
                    f"must be one of {', '.join(TEXT_NORMALIZATIONS)}, got {self.text_normalization!r}",
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """The architecture as the YAML config writes it."""
        out = dataclasses.asdict(self)
        if self.embedding_size == self.hidden:
            del out["embedding_size"]
        for flag in ("shared_layers", "gated_ffn"):
            if not out[flag]:
                del out[flag]
        if self.text_normalization == "tensorflow_text":
            del out["text_normalization"]
        return out


SENTENCE_POOLINGS = ("pooled_output", "cls", "mean", "max")
"""How a model's sentence vector is made from its outputs (`SentenceEmbedding.pooling`)."""


@dataclasses.dataclass(frozen=True)
class SentenceEmbedding:
    """How a model makes its own sentence vector (``bert-hub embed --key sentence``).

    A checkpoint converted from sentence-transformers records its pooling,
    its ``max_seq_length`` and whether it normalises (its ``modules.json``,
    ``sentence_bert_config.json`` and pooling config); a model without the
    record (the Kaggle BERTs) uses ``pooled_output``, the config's
    ``seq_length`` and no normalisation.

    Attributes:
        pooling: ``pooled_output`` (the encoder's pooler), ``cls`` (the first
            token's vector of ``sequence_output``), ``mean`` or ``max`` over
            the real tokens of ``sequence_output``.
        max_seq_length: the tokens a text is cut to for this vector (wins over
            the config's ``seq_length`` for ``--key sentence`` unless a length
            is given); ``None``: the config's.
        normalize: scale each vector to length 1.
        source: where the record was read (``sentence-transformers``).

    Examples:
        In YAML, under a config's ``sentence`` field:

        ```text
        sentence:
          pooling: mean
          max_seq_length: 256
          normalize: true
        ```
    """

    pooling: str = "pooled_output"
    max_seq_length: int | None = None
    normalize: bool = False
    source: str = ""

    def problems(self, max_positions: int) -> list[tuple[str, str]]:
        """(field, message) pairs for values a model of ``max_positions`` positions cannot use."""
        out = []
        if self.pooling not in SENTENCE_POOLINGS:
            out.append(("pooling", f"must be one of {', '.join(SENTENCE_POOLINGS)}, got {self.pooling!r}"))
        if self.max_seq_length is not None and not 3 <= self.max_seq_length <= max_positions:
            out.append(
                (
                    "max_seq_length",
                    f"must be between 3 and architecture.max_position_embeddings={max_positions}, "
                    f"got {self.max_seq_length}",
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """The record as the YAML config writes it (unset fields left out)."""
        out: dict[str, Any] = {"pooling": self.pooling}
        if self.max_seq_length is not None:
            out["max_seq_length"] = self.max_seq_length
        out["normalize"] = self.normalize
        if self.source:
            out["source"] = self.source
        return out


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A validated model config (see the module docstring for the YAML form)."""

    name: str
    preprocess: Handle
    encoder: Handle
    architecture: Architecture
    seq_length: int = 128
    trainable: bool = False
    description: str = ""
    family: str = ""
    params: int = 0
    notes: str = ""
    sentence: SentenceEmbedding | None = None
    source: str = dataclasses.field(default="<memory>", metadata={"yaml": False})  # where it was read

    @property
    def sentence_embedding(self) -> SentenceEmbedding:
        """The model's own sentence vector: its record, else ``pooled_output`` at ``seq_length``."""
        return self.sentence or SentenceEmbedding()

    def to_yaml_dict(self) -> dict[str, Any]:
        """The YAML mapping that [`load_config`][bert_hub.core.config.load_config] reads back to this config."""
        out: dict[str, Any] = {"name": self.name}
        for key in ("description", "family", "params", "notes"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out.update(
            preprocess=self.preprocess.text,
            encoder=self.encoder.text,
            seq_length=self.seq_length,
            trainable=self.trainable,
            architecture=self.architecture.to_dict(),
        )
        if self.sentence is not None:
            out["sentence"] = self.sentence.to_dict()
        return out


_FLOAT_OR_NONE = (float, int, type(None))
"""A number or null (an integer is a number)."""
_YAML_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "int | None": (int, type(None)),
    "float": float,
    "float | None": _FLOAT_OR_NONE,
    "bool": bool,
    "str | None": (str, type(None)),
    "Handle": str,
    "Architecture": dict,
    "SentenceEmbedding | None": (dict, type(None)),
}
"""How the type of a config dataclass field is written in YAML (annotations are strings here)."""


def yaml_schema(cls: type) -> dict[str, tuple[Any, bool]]:
    """``{field: (YAML type, required)}`` of a config dataclass, in field order.

    A field is required when it has no default, or when its metadata says
    ``required``; metadata ``yaml=False`` keeps a field out of the YAML.
    """
    return {
        f.name: (_YAML_TYPES[str(f.type)], f.default is dataclasses.MISSING or f.metadata.get("required", False))
        for f in dataclasses.fields(cls)
        if f.metadata.get("yaml", True)
    }


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    dict: "a mapping",
    float: "a number",
    (int, type(None)): "an integer or null",
    _FLOAT_OR_NONE: "a number or null",
    (str, type(None)): "a string or null",
    (dict, type(None)): "a mapping or null",
}


def shipped_config_dir() -> Path:
    """The folder of the shipped configs, read as package data (works from a checkout or a wheel)."""
    return Path(str(importlib.resources.files(CONFIG_PACKAGE)))


def shipped_configs() -> list[Path]:
    """Every shipped config file, sorted by name."""
    return sorted(shipped_config_dir().glob("*.yaml"))


def find_config(name_or_path: str | os.PathLike[str]) -> Path:
    """Turns a config name (``default``) or a path into an existing file path."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.is_dir() and (path / "bert_hub.yaml").is_file():
        return path / "bert_hub.yaml"
    text = str(name_or_path)
    if os.sep not in text and "/" not in text:
        folder = shipped_config_dir()
        for candidate in (folder / text, folder / f"{text}.yaml"):
            if candidate.is_file():
                return candidate
        for candidate in shipped_configs():  # the model's name, as `bert-hub models` shows it
            if _declared_name(candidate) == text:
                return candidate
    raise ConfigError(
        f"config {text!r} not found: give a YAML file path, a directory with bert_hub.yaml, "
        f"or a shipped config name such as 'default' (`bert-hub models` lists them)"
    )


def _declared_name(path: Path) -> str | None:
    """The ``name:`` field of a config file, read without validating the rest."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return raw.get("name") if isinstance(raw, dict) else None


def load_config(name_or_path: str | os.PathLike[str] = DEFAULT_CONFIG) -> ModelConfig:
    """Loads and validates a config file.

    Args:
        name_or_path: a path to a YAML file, a directory holding
            ``bert_hub.yaml`` (as written by ``bert-hub build``/``convert``), or
            a shipped config in ``configs/``, by file name (``default``) or by
            model name (``all-MiniLM-L6-v2``, as ``bert-hub models`` lists it).

    Raises:
        ConfigError: naming the file and the field at fault.
    """
    path = find_config(name_or_path)
    return config_from_dict(read_yaml(path, "config"), source=str(path))


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that gives a key twice (YAML would keep the last in silence)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: Path, what: str) -> Any:
    """The YAML document in ``path`` (a ``what``: ``config``, ``training config``); unreadable, not UTF-8,
    invalid or with a key given twice, one line naming the file and the line."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what} ({e.strerror})") from None
    text = decode_utf8(raw, path, f"save the {what} as UTF-8", ConfigError)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where} {problem}; fix the YAML") from None


def config_from_dict(raw: Any, source: str = "<memory>") -> ModelConfig:
    """Validates a mapping (as read from YAML) into a [`ModelConfig`][bert_hub.core.config.ModelConfig].

    Relative local handles (``./encoder``) are taken relative to the folder of
    ``source`` when it is a file.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the config must be a YAML mapping of fields, got {type(raw).__name__}")
    top = check_fields(raw, yaml_schema(ModelConfig), source, prefix="")
    arch_raw = check_fields(top["architecture"], yaml_schema(Architecture), source, prefix="architecture.")
    arch = Architecture(**arch_raw)
    for field, message in arch.problems():
        raise ConfigError(f"{source}: field 'architecture.{field}': {message}")
    base = Path(source).parent if source != "<memory>" else Path.cwd()
    handles = {}
    for field in ("preprocess", "encoder"):
        try:
            handles[field] = parse_handle(top[field], base_dir=base)
        except ValueError as e:
            raise ConfigError(f"{source}: field '{field}': {e}") from None
    seq_length = top.get("seq_length", 128)
    if not 3 <= seq_length <= arch.max_position_embeddings:
        raise ConfigError(
            f"{source}: field 'seq_length': must be between 3 and "
            f"architecture.max_position_embeddings={arch.max_position_embeddings}, got {seq_length}"
        )
    if not top["name"].strip():
        raise ConfigError(f"{source}: field 'name': must not be empty")
    sentence = None
    if top.get("sentence") is not None:
        sentence = SentenceEmbedding(
            **check_fields(top["sentence"], yaml_schema(SentenceEmbedding), source, prefix="sentence.")
        )
        for field, message in sentence.problems(arch.max_position_embeddings):
            raise ConfigError(f"{source}: field 'sentence.{field}': {message}")
    return ModelConfig(
        name=top["name"],
        preprocess=handles["preprocess"],
        encoder=handles["encoder"],
        architecture=arch,
        seq_length=seq_length,
        trainable=top.get("trainable", False),
        description=top.get("description", ""),
        family=top.get("family", ""),
        params=top.get("params", 0),
        notes=top.get("notes", ""),
        sentence=sentence,
        source=source,
    )


def check_fields(raw: Any, spec: Mapping[str, tuple[Any, bool]], source: str, prefix: str = "") -> dict[str, Any]:
    """Checks a mapping against ``{field: (type, required)}``; errors name source and field.

    A ``float`` field also takes an integer; an ``int`` field refuses booleans.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: field '{prefix.rstrip('.')}': expected a mapping, got {type(raw).__name__}")
    for key in raw:
        if key not in spec:
            allowed = ", ".join(spec)
            raise ConfigError(f"{source}: unknown field '{prefix}{key}'; allowed fields: {allowed}")
    for key, (typ, required) in spec.items():
        if key not in raw:
            if required:
                raise ConfigError(f"{source}: missing required field '{prefix}{key}'")
            continue
        value = raw[key]
        if typ in (float, _FLOAT_OR_NONE) and isinstance(value, str):
            value = _yaml_number(value, value)  # YAML 1.1 reads 3e-5 (no dot) as a string
            raw = {**raw, key: value}
        # bool is a subclass of int: `layers: true` must not pass as 1.
        ok = (isinstance(value, typ) or (typ is float and isinstance(value, int))) and not (
            typ in (int, float, (int, type(None)), _FLOAT_OR_NONE) and isinstance(value, bool)
        )
        if not ok:
            raise ConfigError(f"{source}: field '{prefix}{key}': expected {_TYPE_NAMES[typ]}, got {value!r}")
        if typ in (float, _FLOAT_OR_NONE) and value is not None and not math.isfinite(value):
            raise ConfigError(f"{source}: field '{prefix}{key}': expected a finite number, got {value!r}")
    return dict(raw)


def _yaml_number(text: str, default: Any) -> Any:
    """``3e-5`` as a float (YAML 1.1 wants ``3.0e-5``); ``default`` when it is not a number."""
    try:
        return float(text.strip()) if text.strip().lower() not in ("nan", "inf", "-inf", "+inf") else default
    except ValueError:
        return default


def write_config(config: ModelConfig, path: str | os.PathLike[str]) -> None:
    """Writes ``config`` as YAML to ``path`` atomically."""
    atomic_write_text(Path(path), yaml.safe_dump(config.to_yaml_dict(), sort_keys=False))
