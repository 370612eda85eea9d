"""MkDocs hook: the command-line reference, written from ``bert-hub``'s own parsers at build time."""

from __future__ import annotations

import os
from typing import Any

MARKER = "<!-- the parsers' help, written by docs/hooks.py -->"


def _help(argv: list[str]) -> str:
    from bert_hub.cli.args import subcommands
    from bert_hub.cli.program import build_parser

    parser = build_parser(argv)
    target = parser
    for word in argv:
        if word.startswith("-"):
            break
        target = subcommands(target)[word]
    return target.format_help()


def cli_reference() -> str:
    from bert_hub.cli.args import subcommands
    from bert_hub.cli.program import build_parser
    from bert_hub.finetune.tasks import TASKS

    os.environ["COLUMNS"] = "100"  # the same line breaks on every machine
    commands = list(subcommands(build_parser()))
    parts = ["## bert-hub\n", "```text\n" + _help([]) + "```\n"]
    for name in commands:
        if name == "train":
            for task in TASKS:
                parts += [
                    f"## bert-hub train --task {task}\n",
                    "```text\n" + _help(["train", "--task", task]) + "```\n",
                ]
            continue
        parts += [f"## bert-hub {name}\n", "```text\n" + _help([name]) + "```\n"]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
