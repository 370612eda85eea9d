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
    from bert_hub.hub.catalog import catalog

    rows = [entry.as_dict() for entry in catalog()]
    emit(args, {"models": rows}, format_catalog(rows))


def format_catalog(rows: list[dict[str, Any]]) -> str:
    """The catalog, for people: one model a line."""
    lines = [f"{'name':<40} {'L':>3} {'H':>5} {'A':>3} {'params':>8}  offline  encoder handle"]
    for r in rows:
        params = f"{r['params'] / 1e6:.1f}M"
        offline = "yes" if r["offline"] else "no"
        lines.append(
            f"{r['name']:<40} {r['layers']:>3} {r['hidden']:>5} {r['heads']:>3} {params:>8}  "
            f"{offline:<7}  {r['encoder']}"
        )
    n = sum(r["offline"] for r in rows)
    lines.append(
        f"\n{len(rows)} models, {n} available offline now (cached, local or embedded). Use one with --config NAME."
    )
    return "\n".join(lines)
