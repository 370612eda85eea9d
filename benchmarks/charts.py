"""The benchmarks' charts: one horizontal bar per engine (texts/s or examples/s), bert_hub's bars highlighted.

Drawn with matplotlib's object API (no pyplot), for docs/benchmarks.md: ``bench_embed.py --chart`` and
``bench_train.py --chart`` write one each.
"""

from __future__ import annotations

from pathlib import Path

OURS_COLOUR, PEER_COLOUR = "#d9480f", "#868e96"


def bar_chart(panels: dict[str, dict[str, float]], unit: str, title: str, path: Path) -> Path:
    """Writes ``path`` (png or svg by its suffix): a panel per workload (``{panel: {engine: speed}}``), engines
    sorted by speed, bert_hub's in colour, each bar labelled with its value."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 1.2 + 0.42 * sum(len(p) for p in panels.values())), dpi=110)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (panel, speeds) in zip(axes, panels.items()):
        order = sorted(speeds, key=speeds.get)
        values = [speeds[e] for e in order]
        colours = [OURS_COLOUR if e.startswith(("bert_hub", "kaggle")) else PEER_COLOUR for e in order]
        bars = ax.barh(order, values, color=colours)
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], padding=3, fontsize=8)
        ax.set_title(panel, fontsize=9, loc="left")
        ax.set_xlabel(unit, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_xlim(0, max(values) * 1.18)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path
