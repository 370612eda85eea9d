"""Handle resolution: from the name of a model to a local SavedModel directory.

Four kinds of handle are understood:

* a Kaggle Models handle ``owner/model/framework/variation/version``, fetched
  through ``kagglehub.model_download`` (its cache is ``$KAGGLEHUB_CACHE``,
  default ``~/.cache/kagglehub``; a cached, versioned handle needs no network);
* an ``https://`` URL: a Kaggle model page URL (short or long form, mapped to
  the Kaggle handle) or a tfhub.dev URL, fetched through tensorflow_hub's
  resolver (its cache is ``$TFHUB_CACHE_DIR``);
* a local directory (absolute, or starting with ``./``, ``../`` or ``~``),
  used as it is;
* ``embedded:<name>/<role>``, a model bert_hub builds from weights that a
  Python package ships (see :mod:`bert_hub.embedded`).

There is never a silent fallback to another model: a handle that is neither
cached nor reachable raises :class:`~bert_hub.errors.ResolveError` naming the
handle, the caches looked in and the ways out.

Example:

>>> from bert_hub.handles import parse_handle
>>> h = parse_handle("https://www.kaggle.com/models/tensorflow/bert/TensorFlow2/en-uncased-preprocess/3")
>>> h.kind, h.kaggle
('kaggle_url', 'tensorflow/bert/TensorFlow2/en-uncased-preprocess/3')
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

from bert_hub.errors import ResolveError

_PART = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_KAGGLE_HANDLE = re.compile(rf"^({_PART})/({_PART})/({_PART})/({_PART})(?:/(\d+))?$")
# https://www.kaggle.com/models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION (short form)
_KAGGLE_SHORT_URL = re.compile(
    rf"^https://(?:www\.)?kaggle\.com/models/({_PART})/({_PART})/({_PART})/({_PART})(?:/(\d+))?/?$")
# .../models/OWNER/MODEL/frameworks/FRAMEWORK/variations/VARIATION/versions/VERSION (long form)
_KAGGLE_LONG_URL = re.compile(
    rf"^https://(?:www\.)?kaggle\.com/models/({_PART})/({_PART})/frameworks/({_PART})"
    rf"/variations/({_PART})(?:/versions/(\d+))?/?$")
_TFHUB_URL = re.compile(r"^https://(?:tfhub\.dev|hub\.tensorflow\.google\.cn)/[^\s?#]+$")
_EMBEDDED = re.compile(rf"^embedded:({_PART})/(preprocess|encoder)$")

KINDS = ("kaggle", "kaggle_url", "tfhub_url", "url", "local", "embedded")


@dataclasses.dataclass(frozen=True)
class Handle:
    """A parsed model handle.

    Attributes:
        text: the handle as written.
        kind: one of ``kaggle``, ``kaggle_url``, ``tfhub_url``, ``url``,
            ``local``, ``embedded``.
        kaggle: the kagglehub handle (``owner/model/framework/variation[/version]``)
            for ``kaggle`` and ``kaggle_url`` handles, else ``None``.
        path: the directory for ``local`` handles, else ``None``.
    """

    text: str
    kind: str
    kaggle: str | None = None
    path: Path | None = None

    @property
    def versioned(self) -> bool:
        return self.kaggle is None or self.kaggle.count("/") == 4

    def __str__(self) -> str:
        return self.text


def parse_handle(text: str, base_dir: str | os.PathLike[str] | None = None) -> Handle:
    """Classifies a handle string; raises ``ValueError`` saying what is wrong.

    Relative local paths are taken relative to ``base_dir`` (default: the
    current directory).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a handle must be a non-empty string")
    text = text.strip()
    if m := _KAGGLE_LONG_URL.match(text) or _KAGGLE_SHORT_URL.match(text):
        return Handle(text, "kaggle_url", kaggle="/".join(p for p in m.groups() if p))
    if text.startswith("https://www.kaggle.com/") or text.startswith("https://kaggle.com/"):
        raise ValueError(
            f"{text!r} is not a Kaggle model URL; expected "
            "https://www.kaggle.com/models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION")
    if _TFHUB_URL.match(text):
        return Handle(text, "tfhub_url")
    if text.startswith("https://"):
        return Handle(text, "url")
    if text.startswith("http://"):
        raise ValueError(f"{text!r}: only https:// URLs are supported")
    if m := _EMBEDDED.match(text):
        return Handle(text, "embedded")
    if text.startswith("embedded:"):
        raise ValueError(f"{text!r}: expected embedded:NAME/preprocess or embedded:NAME/encoder")
    if text.startswith(("/", "./", "../", "~")) or text in (".", ".."):
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path(base_dir or Path.cwd()) / path
        return Handle(text, "local", path=path.resolve())
    if _KAGGLE_HANDLE.match(text):
        return Handle(text, "kaggle", kaggle=text)
    raise ValueError(
        f"{text!r} is not a handle: use a Kaggle handle owner/model/framework/variation/version, "
        "an https:// Kaggle or tfhub.dev URL, a local directory starting with / ./ ../ or ~, "
        "or embedded:NAME/ROLE")


def kagglehub_cache_dir() -> Path:
    """The kagglehub cache folder (``$KAGGLEHUB_CACHE`` or its default)."""
    from kagglehub.config import get_cache_folder

    return Path(get_cache_folder())


def tfhub_cache_dir() -> Path:
    """The tensorflow_hub cache folder (``$TFHUB_CACHE_DIR`` or its default)."""
    from tensorflow_hub import resolver

    return Path(resolver.tfhub_cache_dir(use_temp=True))


def kagglehub_cached_path(kaggle: str) -> Path | None:
    """The completed kagglehub cache entry for a versioned handle, if present.

    Kaggle spells frameworks in varying case (``TensorFlow2``,
    ``tensorFlow2``); the cache keeps the spelling of the download, so the
    look-up ignores case.
    """
    parts = kaggle.split("/")
    if len(parts) != 5:
        return None
    here = kagglehub_cache_dir() / "models"
    for part in parts[:-1]:
        if (here / part).is_dir():
            here = here / part
            continue
        try:
            match = [p for p in here.iterdir() if p.name.lower() == part.lower() and p.is_dir()]
        except OSError:
            return None
        if not match:
            return None
        here = match[0]
    version_dir = here / parts[-1]
    if (here / f"{parts[-1]}.complete").exists() and version_dir.is_dir():
        return version_dir
    return None


def tfhub_cached_path(url: str) -> Path | None:
    """The tensorflow_hub cache entry of a URL (sha1 of the URL), if present."""
    module_dir = tfhub_cache_dir() / hashlib.sha1(url.encode("utf8")).hexdigest()
    if module_dir.is_dir() and any(module_dir.iterdir()):
        return module_dir
    return None


def resolve(handle: Handle | str) -> Path:
    """Returns the local SavedModel directory a handle names.

    Cached models are served with no network access. An uncached Kaggle or URL
    handle is fetched (kagglehub / tensorflow_hub); if that fails, the
    :class:`ResolveError` names the handle, the caches and the ways out.
    """
    if isinstance(handle, str):
        try:
            handle = parse_handle(handle)
        except ValueError as e:
            raise ResolveError(str(e)) from None
    if handle.kind == "local":
        assert handle.path is not None
        if not handle.path.is_dir():
            raise ResolveError(f"model directory {handle.path} (from {handle.text!r}) does not exist; "
                               "build one with `bert-hub build` or `bert-hub convert`")
        return handle.path
    if handle.kind == "embedded":
        from bert_hub.embedded import embedded_model_dir

        return embedded_model_dir(handle.text)
    if handle.kind in ("kaggle", "kaggle_url"):
        assert handle.kaggle is not None
        cached = kagglehub_cached_path(handle.kaggle)
        if cached is not None:
            return _kagglehub_download(cached, handle)
        if handle.kind == "kaggle_url":
            cached = tfhub_cached_path(handle.text)
            if cached is not None:
                return cached
        return _fetch(handle)
    cached = tfhub_cached_path(handle.text)
    return cached if cached is not None else _fetch(handle)


def _kagglehub_download(cached: Path, handle: Handle) -> Path:
    """Serves a cached entry through kagglehub itself (it needs no network then)."""
    import kagglehub

    rel = cached.relative_to(kagglehub_cache_dir() / "models")
    try:
        return Path(kagglehub.model_download("/".join(rel.parts)))
    except Exception:  # noqa: BLE001 - the cache entry is there; use it as it is
        return cached


def _fetch(handle: Handle) -> Path:
    try:
        if handle.kaggle is not None:
            import kagglehub

            return Path(kagglehub.model_download(handle.kaggle))
        import tensorflow_hub as hub

        return Path(hub.resolve(handle.text))
    except Exception as e:  # noqa: BLE001 - any failure to fetch becomes one clear error
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
    return (f"model {handle.text!r} is not cached and could not be downloaded: {reason[:200]}{unversioned}. "
            f"Looked in: {'; '.join(looked)}. Ways out: pre-populate that cache, point the config at a "
            "local SavedModel directory, or use the embedded default (--config default)")
