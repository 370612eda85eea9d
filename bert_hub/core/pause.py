"""Pause points: named moments where a test can stop bert_hub to interrupt it there.

The fault tests send Ctrl-C, SIGTERM or a second writer at exact moments (the
instant an output is swapped in, an epoch's end, the middle of a
conversion). ``BERT_HUB_PAUSE_AT=NAME`` makes the process write ``bert_hub:
paused at NAME`` to stderr when it reaches the pause point ``NAME`` and wait
there ``BERT_HUB_PAUSE_SECONDS`` (default 30), then go on. Unset, a pause
point costs one dictionary look-up.

Pause points: ``before-swap:NAME`` and ``swap:NAME`` (output folder ``NAME`` put in place,
the second with interrupts held back), ``commit-files`` (single files put in
place, interrupts held back), ``history-written`` (an epoch's record written, its
checkpoint not yet), ``epoch-end`` (a training epoch saved),
``training-done`` (a run trained, before its export), ``embedding`` (after
the first chunk of ``embed``), ``converting`` (a bundle half written),
``train-start`` (a run's folder locked and checked).

Examples:
    >>> from bert_hub.core.pause import pause_point
    >>> pause_point("swap")  # returns at once unless BERT_HUB_PAUSE_AT=swap
"""

from __future__ import annotations

import os
import sys
import time


def pause_point(name: str) -> None:
    """Waits here if ``BERT_HUB_PAUSE_AT`` names this point (see the module's docstring)."""
    if os.environ.get("BERT_HUB_PAUSE_AT") != name:
        return
    sys.stderr.write(f"bert_hub: paused at {name}\n")
    sys.stderr.flush()
    deadline = time.monotonic() + float(os.environ.get("BERT_HUB_PAUSE_SECONDS", "30"))
    while time.monotonic() < deadline:
        time.sleep(0.05)
