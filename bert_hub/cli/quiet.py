"""The CLI's output is for people: TensorFlow's logging silenced, bert_hub's progress lines shown.

The program owns its process, so this is the one place bert_hub changes
process-wide logging and warning filters; the library never does.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from typing import Any

#: Modules whose warnings are for their own developers, not for a bert-hub user.
_NOISY_MODULES = r"(tensorflow|tf_keras|keras|tensorflow_hub|tensorflow_text|apache_beam|google|absl|kagglehub|" \
                 r"h5py|pyarrow)(\.|$)"


def quiet_tensorflow(verbose: bool) -> None:
    """Silences TensorFlow's C++ and Python logging (and its libraries' warnings) unless ``verbose``."""
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module=_NOISY_MODULES)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        pass
    for name in ("tensorflow", "kagglehub", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)  # Apache Beam warns on the root logger
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)  # its failures reach us as exceptions
    # TensorFlow's native libraries log at load time, before absl's logging is
    # initialised, ignoring TF_CPP_MIN_LOG_LEVEL; hold file descriptor 2 while
    # they load, and replay what was written only if the import fails.
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
            import tensorflow_hub  # noqa: F401
            import tensorflow_text  # noqa: F401
        except BaseException as e:
            os.dup2(saved, 2)
            if not isinstance(e, KeyboardInterrupt):  # a failed import: show what TensorFlow said
                held.seek(0)
                sys.stderr.write(held.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _StderrHandler(logging.StreamHandler):
    """Progress lines of the ``bert_hub`` logger, to whatever ``sys.stderr`` is now."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property  # type: ignore[override]
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
