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
  `check_trusted` refuses anything else in one line with the fix.
* **A folder you name follows the same rule** (``--config ./my_model``,
  ``predict --model runs/x``): it, its files and the folders above it must
  be yours (or root's) and closed to other users' writes (a sticky folder
  such as the shared ``/tmp`` is fine above it), so one another user owns or
  can change is refused (`untrusted_reason`).

Examples:
    >>> from bert_hub.core.caches import cache_root
    >>> cache_root().name
    'bert_hub_cache'
"""

from __future__ import annotations

import functools
import json
import os
import stat
from pathlib import Path
from typing import Any

from bert_hub.core.atomic import atomic_write_text
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


@functools.cache
def _group_has_others(gid: int) -> bool:
    """Whether a user other than this one is in group ``gid`` (a member, or it is their primary group)."""
    import grp
    import pwd

    try:
        members = set(grp.getgrgid(gid).gr_mem)
    except KeyError:
        return True  # a group with no name: assume others are in it
    members |= {u.pw_name for u in pwd.getpwall() if u.pw_gid == gid}
    try:
        members.discard(pwd.getpwuid(os.getuid()).pw_name)
    except KeyError:
        pass
    return bool(members)


def _problem(path: Path, *, above: bool = False) -> str | None:
    """What lets another user change ``path`` (its owner, or who may write to it), or None.

    ``above``: ``path`` is a folder above the model, where sticky (``/tmp``) keeps others from renaming
    what is not theirs, so writable by every user is no problem there.
    """
    try:
        info = path.lstat()
    except OSError:
        return None  # absent: nothing there to trust or distrust
    if stat.S_ISLNK(info.st_mode):
        try:
            info = path.stat()
        except OSError:
            return None
    if info.st_uid not in (os.getuid(), 0):
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_mode & stat.S_IWOTH and not (above and info.st_mode & stat.S_ISVTX):
        return "is writable by every user"
    if info.st_mode & stat.S_IWGRP and not (above and info.st_mode & stat.S_ISVTX) and _group_has_others(info.st_gid):
        return f"is writable by its group (gid {info.st_gid}), which has other users"
    return None


def untrusted_reason(model_dir: Path, *, cache: Path | None = None) -> str | None:
    """Why loading ``model_dir`` could run someone else's code, or None when it cannot.

    One rule for every model bert_hub loads (from a cache, a folder the
    user named, a run folder): the model folder, everything in it and every
    folder above it must belong to you or root, and no other user may write
    to them (every user, or a group with other users in it), but for folders
    above it that are sticky (as ``/tmp``, where only an entry's owner may
    rename it). A link inside the model counts as the file or folder it
    points to, with the folders above that. ``cache`` (the cache folder the
    model came from) is checked too, wherever it is.
    """
    checks = [cache] if cache is not None else []
    checks.append(model_dir)
    linked = [model_dir]  # where the model's files really are: the folders above them count too
    for root, dirs, files in os.walk(model_dir, followlinks=True):
        for name in dirs + files:
            path = Path(root) / name
            checks.append(path)
            if path.is_symlink():
                linked.append(path)
    for path in checks:
        problem = _problem(path)
        if problem:
            return f"{path} {problem}"
    for path in linked:
        for parent in Path(os.path.realpath(path)).parents:
            problem = _problem(parent, above=True)
            if problem:
                where = "the model" if path == model_dir else f"{os.path.realpath(path)}, to which {path} links"
                return f"{parent} (a folder above {where}) {problem}"
    return None


def check_trusted(model_dir: Path, *, handle: str, cache: Path | None = None, env: str | None = None) -> Path:
    """Returns ``model_dir``, or raises [`ResolveError`][bert_hub.core.errors.ResolveError] when another user could
    have planted it.

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
        fix = f"point {env} at a folder of your own (e.g. under ~/.cache)" if env else "use a folder of your own"
        raise ResolveError(
            f"refusing to load {handle!r} from {model_dir}: {reason}, so another user could "
            f"have put it there, and a SavedModel is a program; {fix} and fetch the model again"
        )
    raise ResolveError(
        f"refusing to load model folder {model_dir}: {reason}, so another user could have "
        "changed it, and a SavedModel is a program; copy it to a folder of your own (or, if it "
        "is yours, `chown` it to you and `chmod go-w` it)"
    )


def read_cache_file(path: Path) -> dict[str, Any]:
    """A JSON cache file (an object of entries) as a dict; empty when absent or unreadable: a cache is
    only an optimisation, what it held is measured again."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_cache_entry(path: Path, key: str, entry: Any) -> None:
    """Sets ``key`` in the JSON cache file at ``path``, re-read first (another process may have added other
    keys meanwhile), written atomically; a read-only cache is left as it is (measured again next time)."""
    cache = read_cache_file(path)
    cache[key] = entry
    try:
        atomic_write_text(path, json.dumps(cache, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass
