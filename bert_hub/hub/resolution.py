"""Resolution: from a model handle to a local SavedModel directory.

The layer above `bert_hub.core.handles` (parsing, cache look-ups) and
`bert_hub.hub.embedded` (converting the embedded default):

* ``local``: the directory itself;
* ``embedded:NAME/ROLE``: the cached conversion of a checkpoint a Python
  package ships (converted on first use);
* Kaggle handles and Kaggle URLs: the kagglehub cache when present (served by
  kagglehub with no network access), else ``kagglehub.model_download``; a
  Kaggle URL is also looked up in the tensorflow_hub cache;
* tfhub.dev and other URLs: the tensorflow_hub cache, else ``hub.resolve``.

There is never a silent fallback to another model: a handle that is neither
cached nor reachable raises [`ResolveError`][bert_hub.core.errors.ResolveError] naming the
handle, the caches looked in and the ways out. A SavedModel is a program, so
every directory returned has passed `bert_hub.core.caches.check_trusted`: a
model from a cache that another user could have written is refused.

Examples:
    >>> from bert_hub.hub.resolution import resolve
    >>> resolve("embedded:all-MiniLM-L6-v2/encoder").name
    'encoder'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from bert_hub.core.caches import check_trusted, kagglehub_cache_dir, tfhub_cache_dir
from bert_hub.core.errors import ResolveError
from bert_hub.core.handles import Handle, kagglehub_cached_path, parse_handle, tfhub_cached_path
from bert_hub.hub.embedded import embedded_model_dir


def resolve(handle: Handle | str) -> Path:
    """Returns the local SavedModel directory a handle names.

    Cached models are served with no network access. An uncached Kaggle or URL
    handle is fetched (kagglehub / tensorflow_hub); if that fails, the
    [`ResolveError`][bert_hub.core.errors.ResolveError] names the handle, the caches and the ways out.
    """
    if isinstance(handle, str):
        try:
            handle = parse_handle(handle)
        except ValueError as e:
            raise ResolveError(str(e)) from None
    if handle.kind == "local":
        assert handle.path is not None
        if not handle.path.is_dir():
            raise ResolveError(
                f"model directory {handle.path} (from {handle.text!r}) does not exist; "
                "build one with `bert-hub build` or `bert-hub convert`"
            )
        return check_trusted(handle.path, handle=handle.text)
    if handle.kind == "embedded":
        return embedded_model_dir(handle.text)
    if handle.kind in ("kaggle", "kaggle_url"):
        assert handle.kaggle is not None
        cached = kagglehub_cached_path(handle.kaggle)
        if cached is not None:
            return _from_kagglehub(handle, _kagglehub_download(cached))
        if handle.kind == "kaggle_url":
            cached = tfhub_cached_path(handle.text)
            if cached is not None:
                return _from_tfhub(handle, cached)
        return _fetch(handle)
    cached = tfhub_cached_path(handle.text)
    return _from_tfhub(handle, cached) if cached is not None else _fetch(handle)


def _from_kagglehub(handle: Handle, path: Path) -> Path:
    return check_trusted(path, handle=handle.text, cache=kagglehub_cache_dir(), env="KAGGLEHUB_CACHE")


def _from_tfhub(handle: Handle, path: Path) -> Path:
    return check_trusted(path, handle=handle.text, cache=tfhub_cache_dir(), env="TFHUB_CACHE_DIR")


@contextlib.contextmanager
def _tfhub_cache() -> Iterator[None]:
    """Points tensorflow_hub at `tfhub_cache_dir` for one download (its own
    default, when ``TFHUB_CACHE_DIR`` is unset, is a predictable folder in the shared temp folder)."""
    before = os.environ.get("TFHUB_CACHE_DIR")
    os.environ["TFHUB_CACHE_DIR"] = str(tfhub_cache_dir())
    try:
        yield
    finally:
        if before is None:
            del os.environ["TFHUB_CACHE_DIR"]
        else:
            os.environ["TFHUB_CACHE_DIR"] = before


def _fetch_errors() -> tuple[type[BaseException], ...]:
    """What kagglehub and tensorflow_hub raise when a model cannot be had (not bugs)."""
    import requests
    import tensorflow as tf
    from kagglehub import exceptions as kaggle

    return (
        OSError,
        ValueError,
        requests.RequestException,
        tf.errors.OpError,
        kaggle.BackendError,
        kaggle.NotFoundError,
        kaggle.DataCorruptionError,
        kaggle.UnauthenticatedError,
        kaggle.CredentialError,
        kaggle.KaggleEnvironmentError,
    )


def _kagglehub_download(cached: Path) -> Path:
    """Serves a cached entry through kagglehub itself (it needs no network then)."""
    import kagglehub

    rel = cached.relative_to(kagglehub_cache_dir() / "models")
    try:
        return Path(kagglehub.model_download("/".join(rel.parts)))
    except _fetch_errors():
        return cached  # the complete cache entry is there: use it as it is


def _fetch(handle: Handle) -> Path:
    try:
        if handle.kaggle is not None:
            import kagglehub

            return _from_kagglehub(handle, Path(kagglehub.model_download(handle.kaggle)))
        import tensorflow_hub as hub

        with _tfhub_cache():
            return _from_tfhub(handle, Path(hub.resolve(handle.text)))
    except _fetch_errors() as e:
        raise ResolveError(_not_available_message(handle, e)) from None


def _not_available_message(handle: Handle, cause: BaseException) -> str:
    looked = []
    if handle.kaggle is not None:
        looked.append(f"kagglehub cache {kagglehub_cache_dir()} (KAGGLEHUB_CACHE)")
    if handle.kind != "kaggle":
        looked.append(f"tensorflow_hub cache {tfhub_cache_dir()} (TFHUB_CACHE_DIR)")
    reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    if "Name or service not known" in reason or "Failed to resolve" in reason or "urlopen" in reason:
        reason = "the network is not reachable"
    unversioned = "" if handle.versioned else " (an unversioned Kaggle handle always needs the network; add /VERSION)"
    return (
        f"model {handle.text!r} is not cached and could not be downloaded: {reason[:200]}{unversioned}. "
        f"Looked in: {'; '.join(looked)}. Ways out: pre-populate that cache, point the config at a "
        "local SavedModel directory, or use the embedded default (`config` default)"
    )
