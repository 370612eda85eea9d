"""The CLI's output is for people: TensorFlow's logging silenced, bert_hub's progress lines shown.

The program owns its process, so this is the one place bert_hub changes
process-wide logging and warning filters; the library never does.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

_NOISY_MODULES = (
    r"(tensorflow|tf_keras|keras|tensorflow_hub|tensorflow_text|apache_beam|google|absl|kagglehub|"
    r"h5py|pyarrow)(\.|$)"
)
"""Modules whose warnings are for their own developers, not for a bert-hub user."""


def quiet_tensorflow(verbose: bool) -> None:
    """Silences TensorFlow's C++ and Python logging (and its libraries' warnings) unless ``verbose``."""
    from bert_hub.runtime.tensorflow_start import import_tensorflow_quietly

    if verbose:
        import_tensorflow_quietly(verbose=True)
        return
    warnings.filterwarnings("ignore", module=_NOISY_MODULES)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    for name in ("tensorflow", "kagglehub", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)  # Apache Beam warns on the root logger
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)  # its failures reach us as exceptions
    import_tensorflow_quietly()


class _FlagsFormatter(logging.Formatter):
    """A log line as a command-line user reads it: the library's argument names as flags."""

    def format(self, record: logging.LogRecord) -> str:
        from bert_hub.cli.flags import in_flags

        return in_flags(super().format(record))


class _StderrHandler(logging.StreamHandler):
    """Progress lines of the ``bert_hub`` logger, to whatever ``sys.stderr`` is now."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_FlagsFormatter("%(message)s"))

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def show_progress_lines(verbose: bool) -> None:
    """Library code logs to the ``bert_hub`` logger; the CLI shows its INFO lines on stderr."""
    logger = logging.getLogger("bert_hub")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
