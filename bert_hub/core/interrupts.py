"""Ctrl-C and SIGTERM held back for the instant an output is put in place, so that it is whole.

Examples:
    >>> from bert_hub.core.interrupts import deferred_interrupts
    >>> with deferred_interrupts():
    ...     pass  # a rename here is never cut short by Ctrl-C
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def deferred_interrupts(redeliver: bool = True) -> Iterator[None]:
    """Holds back SIGINT and SIGTERM for the block; one that arrived is delivered after it.

    With ``redeliver=False`` (clean-up after an interrupt already being
    handled) one that arrived is dropped. Python signal handlers run in the
    main thread only; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous: dict[int, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: pending.append(signum))
        yield
    finally:
        _restore_handlers(list(previous.items()))
        if pending and redeliver:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(pending[0])


def _restore_handlers(handlers: list[tuple[int, Any]]) -> None:
    """Puts back signal handlers, each in its own ``finally``: a signal handled between two of them
    cannot leave the others replaced."""
    if handlers:
        try:
            signal.signal(*handlers[0])
        finally:
            _restore_handlers(handlers[1:])
