"""``bert-hub models``: the model catalog and what is available offline."""

from __future__ import annotations

import argparse
from typing import Any

from bert_hub.cli.args import command, emit


def register(sub: Any, common: Any) -> None:
    """Declares ``models``."""
    command(
        sub,
        "models",
        run_models,
        common=common,
        help="list the model catalog and what is available offline",
        description="Every model config in configs/: L/H/A, parameters, handles, and whether its "
        "preprocess and encoder are on disk right now (no network used).",
    )


def run_models(args: argparse.Namespace) -> None:
    """``bert-hub models``: the catalog, and which models are available offline."""
    from bert_hub.hub.catalog import catalog, format_catalog

    rows = [entry.as_dict() for entry in catalog()]
    emit(args, {"models": rows}, format_catalog(rows))
