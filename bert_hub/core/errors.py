"""The errors bert_hub raises for bad input.

Every error is one line that names the thing at fault (a file, a field, a
handle, a text) and the way out. The CLI prints ``error: <message>`` and exits
with status 2; it never shows a traceback for these.
"""

from __future__ import annotations


def plural(n: int, word: str) -> str:
    """``1 text``, ``2 texts``: counts in messages read as English."""
    return f"{n} {word}" + ("" if n == 1 else "s")


class BertHubError(Exception):
    """Base class: a user-facing, one-line error."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class ConfigError(BertHubError):
    """A config file is missing, unreadable, or has a bad field."""


class ResolveError(BertHubError):
    """A model handle could not be turned into a local SavedModel directory."""


class ModelFormatError(BertHubError):
    """A directory is not a usable TF-Hub-format BERT SavedModel."""


class CheckpointError(BertHubError):
    """A BERT checkpoint directory cannot be converted."""


class VocabError(BertHubError):
    """A WordPiece vocab file is missing required tokens or is unreadable."""


class InputError(BertHubError):
    """Texts or arguments given to a task are not acceptable."""


class Interrupted(BertHubError):
    """Work was interrupted (Ctrl-C); the message says what was left on disk."""
