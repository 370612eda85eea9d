"""The model catalog: every config shipped in ``configs/``, and whether it is on disk.

The catalog is data: one YAML file per model (BERT-Base/Large cased and
uncased, multilingual BERT, the 24 Small BERTs, ALBERT, ELECTRA, BERT
Experts, Talking-Heads BERT, and the embedded default). `catalog`
loads them all; `availability` says, without any network access,
whether a model's preprocess and encoder can be loaded right now (cached by
kagglehub or tensorflow_hub, a local directory, or the embedded package).

Examples:
    >>> from bert_hub.hub.catalog import catalog
    >>> names = [entry.config.name for entry in catalog()]
    >>> "bert_en_uncased_L-12_H-768_A-12" in names and len(names) > 30
    True
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

from bert_hub.core.caches import kagglehub_cache_dir, tfhub_cache_dir, untrusted_reason
from bert_hub.core.config import ModelConfig, load_config, shipped_configs
from bert_hub.core.handles import Handle, kagglehub_cached_path, tfhub_cached_path
from bert_hub.hub.embedded import EMBEDDED_MODELS


@dataclasses.dataclass(frozen=True)
class CatalogEntry:
    """A model of the catalog: its config, shape and handles."""

    config: ModelConfig
    file: str

    def as_dict(self) -> dict[str, Any]:
        """The entry as ``bert-hub models --json`` reports it."""
        c, a = self.config, self.config.architecture
        pre, enc = availability(c.preprocess), availability(c.encoder)
        return {
            "name": c.name,
            "family": c.family,
            "description": c.description,
            "file": self.file,
            "layers": a.layers,
            "hidden": a.hidden,
            "heads": a.heads,
            "intermediate": a.intermediate,
            "vocab_size": a.vocab_size,
            "cased": a.cased,
            "params": c.params,
            "params_from_architecture": a.param_count(),
            "preprocess": c.preprocess.text,
            "encoder": c.encoder.text,
            "preprocess_offline": pre,
            "encoder_offline": enc,
            "offline": pre is not None and enc is not None,
            "notes": c.notes,
        }


def catalog() -> list[CatalogEntry]:
    """All shipped model configs, sorted by family then size."""
    entries = [CatalogEntry(load_config(p), p.name) for p in shipped_configs()]
    return sorted(entries, key=lambda e: (e.config.family, e.config.architecture.param_count(), e.config.name))


def availability(handle: Handle) -> str | None:
    """Where a handle is served from offline (``kagglehub cache``, ...), or None.

    A cached model that `bert_hub.core.caches.check_trusted` would refuse
    (another user could have put it there) is not available.
    """
    if handle.kind == "local":
        ok = handle.path is not None and handle.path.is_dir() and untrusted_reason(handle.path) is None
        return "local directory" if ok else None
    if handle.kind == "embedded":
        name = handle.text.removeprefix("embedded:").split("/")[0]
        model = EMBEDDED_MODELS.get(name)
        return "embedded package" if model and importlib.util.find_spec(model.package) else None
    if handle.kaggle is not None:
        cached = kagglehub_cached_path(handle.kaggle)
        if cached is not None and untrusted_reason(cached, cache=kagglehub_cache_dir()) is None:
            return "kagglehub cache"
    if handle.kind != "kaggle":
        cached = tfhub_cached_path(handle.text)
        if cached is not None and untrusted_reason(cached, cache=tfhub_cache_dir()) is None:
            return "tensorflow_hub cache"
    return None
