"""Where models are kept on disk, and which of those places can be trusted.

A SavedModel is a program: loading one runs its TensorFlow graph, and a graph
can read and write files (``tf.io.write_file``) with your rights. So bert_hub
loads models only from places that no other user of the machine could have
written to:

* **Its caches are private.** bert_hub's own cache (``$BERT_HUB_CACHE``,
  default ``~/.cache/bert_hub``: the embedded default, calibrations, the
  record of files it wrote), kagglehub's (``$KAGGLEHUB_CACHE``, default
  ``~/.cache/kagglehub``) and tensorflow_hub's (``$TFHUB_CACHE_DIR``, default
  ``~/.cache/tfhub_modules``; tensorflow_hub's own default, a folder in the
  shared temporary folder whose name anyone can predict, is never used).
  Every model taken from a cache, and the cache folder itself, must belong to
  you (or to root) and must not be writable by other users;
  :func:`check_trusted` refuses anything else in one line with the fix.
* **A folder you name is yours to vouch for** (``--config ./my_model``,
  ``predict --model runs/x``): bert_hub refuses it only when other users can
  write to it.

Example:

>>> from bert_hub.core.caches import cache_root
>>> cache_root().name
'bert_hub_cache'
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bert_hub.core.errors import ResolveError


def _user_cache_home() -> Path:
    """``$XDG_CACHE_HOME`` or ``~/.cache``: the user's own cache folder."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()


def cache_root() -> Path:
    """bert_hub's own cache folder (``$BERT_HUB_CACHE`` or ``~/.cache/bert_hub``)."""
    return Path(os.environ.get("BERT_HUB_CACHE") or _user_cache_home() / "bert_hub").expanduser()


def kagglehub_cache_dir() -> Path:
    """The kagglehub cache folder (``$KAGGLEHUB_CACHE`` or its default, ``~/.cache/kagglehub``)."""
    from kagglehub.config import get_cache_folder

    return Path(get_cache_folder()).expanduser()


def tfhub_cache_dir() -> Path:
    """The tensorflow_hub cache folder: ``$TFHUB_CACHE_DIR``, else ``~/.cache/tfhub_modules``.

    Never tensorflow_hub's own fallback (``$TMPDIR/tfhub_modules``), which any
    local user can create first and fill.
    """
    return Path(os.environ.get("TFHUB_CACHE_DIR") or _user_cache_home() / "tfhub_modules").expanduser()


def _problem(path: Path, *, owner_required: bool) -> str | None:
    """What makes ``path`` untrustworthy, or None."""
    try:
        info = path.lstat()
    except OSError:
        return None  # absent: nothing there to trust or distrust
    if stat.S_ISLNK(info.st_mode):
        try:
            info = path.stat()
        except OSError:
            return None
    if owner_required and info.st_uid not in (os.getuid(), 0):
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_mode & stat.S_IWOTH:
        return "is writable by every user"
    return None


def untrusted_reason(model_dir: Path, *, cache: Path | None = None) -> str | None:
    """Why loading ``model_dir`` could run someone else's code, or None when it cannot.

    With ``cache`` (the model came from that cache folder), the cache folder,
    the model folder and everything in it must belong to you or root and not
    be writable by others. Without it (a folder the user named), only
    writability by others is refused.
    """
    owner_required = cache is not None
    checks = [cache] if cache is not None else []
    checks.append(model_dir)
    for root, dirs, files in os.walk(model_dir):
        checks += [Path(root) / name for name in dirs + files]
    for path in checks:
        problem = _problem(path, owner_required=owner_required)
        if problem:
            return f"{path} {problem}"
    return None


def check_trusted(model_dir: Path, *, handle: str, cache: Path | None = None, env: str | None = None) -> Path:
    """Returns ``model_dir``, or raises :class:`ResolveError` when another user could have planted it.

    Args:
        model_dir: the SavedModel folder about to be loaded.
        handle: the handle as the user wrote it (named in the message).
        cache: the cache folder it was found in (stricter rule: it must be yours).
        env: the environment variable that sets that cache (named in the fix).
    """
    reason = untrusted_reason(model_dir, cache=cache)
    if reason is None:
        return model_dir
    if cache is not None:
        fix = (f"point {env} at a folder of your own (e.g. under ~/.cache)" if env else
               "use a folder of your own")
        raise ResolveError(f"refusing to load {handle!r} from {model_dir}: {reason}, so another user could "
                           f"have put it there, and a SavedModel is a program; {fix} and fetch the model again")
    raise ResolveError(f"refusing to load model folder {model_dir}: {reason}, so another user could have "
                       "changed it, and a SavedModel is a program; `chmod -R o-w` it if it is yours, or copy "
                       "it to a folder of your own")
