"""Starting TensorFlow quietly: its start-up log is for its own developers, not for bert_hub's users.

Importing TensorFlow writes a dozen lines to stderr on a CPU machine
(``oneDNN custom operations are on``, ``Could not find cuda drivers``,
``failed call to cuInit``, the CPU feature guard). Some come from its native
libraries as they load, before ``TF_CPP_MIN_LOG_LEVEL`` is read, so that
setting alone does not hide them.
[`import_tensorflow_quietly`][bert_hub.runtime.tensorflow_start.import_tensorflow_quietly]
imports TensorFlow, TensorFlow Hub and TensorFlow Text with that output held
back (and shown if the import fails), and sets ``TF_CPP_MIN_LOG_LEVEL`` to 3
unless it is set already.

The ``bert-hub`` program calls it at start-up; the library calls it when a
script first reaches a model through ``import bert_hub`` (``bert_hub.load_pipeline``,
``bert_hub.Embedder``, ``bert_hub.train``, ...) and TensorFlow is not imported yet,
so a notebook's first cell shows bert_hub's output only. A script that
imports TensorFlow itself first, or sets ``TF_CPP_MIN_LOG_LEVEL``, keeps
TensorFlow's log as it chose.

Examples:
    >>> from bert_hub.runtime.tensorflow_start import import_tensorflow_quietly
    >>> import_tensorflow_quietly()  # TensorFlow is already imported here: nothing to do
    False
"""

from __future__ import annotations

import os
import sys
import tempfile

LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
"""TensorFlow's C++ log level (0: everything, 3: nothing but fatal errors), read once at its start-up."""


def import_tensorflow_quietly(*, verbose: bool = False) -> bool:
    """Imports TensorFlow (with TensorFlow Hub and Text) with its start-up log held back; returns whether it did.

    Does nothing when TensorFlow is imported already (its log was shown or
    hidden then). ``verbose`` shows the log instead (``TF_CPP_MIN_LOG_LEVEL``
    0 unless set). A failed import shows what TensorFlow wrote, then raises.
    """
    if "tensorflow" in sys.modules:
        return False
    if verbose:
        os.environ.setdefault(LOG_LEVEL_VARIABLE, "0")
        return False
    os.environ.setdefault(LOG_LEVEL_VARIABLE, "3")
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
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        pass
    return True
