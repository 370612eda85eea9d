"""Model handles: what they look like, and where each kind is cached on disk.

This module only parses handles and looks in caches; turning a handle into a
local SavedModel directory (downloading, converting the embedded model) is
[`bert_hub.hub.resolution`][bert_hub.hub.resolution]. Four kinds of handle are understood:

* a Kaggle Models handle ``owner/model/framework/variation/version``, fetched
  through ``kagglehub.model_download`` (its cache is ``$KAGGLEHUB_CACHE``,
  default ``~/.cache/kagglehub``; a cached, versioned handle needs no network);
* an ``https://`` URL: a Kaggle model page URL (short or long form, mapped to
  the Kaggle handle) or a tfhub.dev URL, fetched through tensorflow_hub's
  resolver (its cache is ``$TFHUB_CACHE_DIR``, default
  ``~/.cache/tfhub_modules``: see `bert_hub.core.caches`);
* a local directory (absolute, or starting with ``./``, ``../`` or ``~``),
  used as it is;
* ``embedded:<name>/<role>``, a model bert_hub builds from weights that a
  Python package ships (see `bert_hub.hub.embedded`).

Examples:
    >>> from bert_hub.core.handles import parse_handle
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

from bert_hub.core.caches import kagglehub_cache_dir, tfhub_cache_dir

_PART = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_KAGGLE_HANDLE = re.compile(rf"^({_PART})/({_PART})/({_PART})/({_PART})(?:/(\d+))?$")
# https://www.kaggle.com/models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION (short form)
_KAGGLE_SHORT_URL = re.compile(
    rf"^https://(?:www\.)?kaggle\.com/models/({_PART})/({_PART})/({_PART})/({_PART})(?:/(\d+))?/?$"
)
# .../models/OWNER/MODEL/frameworks/FRAMEWORK/variations/VARIATION/versions/VERSION (long form)
_KAGGLE_LONG_URL = re.compile(
    rf"^https://(?:www\.)?kaggle\.com/models/({_PART})/({_PART})/frameworks/({_PART})"
    rf"/variations/({_PART})(?:/versions/(\d+))?/?$"
)
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
        """Whether the handle names a version (a Kaggle handle's ``/N``)."""
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
    if text.startswith(("https://www.kaggle.com/", "https://kaggle.com/")):
        raise ValueError(
            f"{text!r} is not a Kaggle model URL; expected "
            "https://www.kaggle.com/models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION"
        )
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
        "or embedded:NAME/ROLE"
    )


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
