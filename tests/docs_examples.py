"""Reading the examples of the README and of the documentation site, and running them as a user would.

``python_blocks`` and ``bash_commands`` read a page's examples;
``run_in`` runs commands in a folder (``bert-hub`` in this process, anything
else in a shell with the venv's ``bin`` first on ``PATH``). The two set-up
commands (``make demo``, ``make test``) are what CI itself runs, so they are
not run again.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SETUP = {"make demo", "make test"}
#: An example that trains (a slow test).
TRAINS = re.compile(r"\btrain\(|\.fit\(|beam\.Pipeline")


def nav_pages() -> list[Path]:
    """The site's pages in the order of its navigation."""

    def walk(items: list) -> list[str]:
        out = []
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            out += walk(value) if isinstance(value, list) else [value]
        return out

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8").replace("!!python", "python"))
    return [ROOT / "docs" / page for page in walk(config["nav"])]


PAGES = [README, *nav_pages()]
GUIDES = [p for p in PAGES if p.parent.name == "guides"]
#: The guides that fine-tune (and the cluster guide, which scores with their spam model), in site order.
FINETUNING_GUIDES = [p for p in GUIDES if p.stem in ("fine-tuning", "token-tasks", "clusters")]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def bash_commands(page: Path) -> list[str]:
    """The commands of every ```bash block: comments dropped, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def run_python_block(page: Path, index: int) -> None:
    """Runs the ``index``-th ```python block of ``page`` as a script (its own module: ``__main__``'s
    ``__dict__`` while it runs, and none of this file's ``__future__`` imports)."""
    import types

    code = python_blocks(page)[index]
    module = types.ModuleType("__docs__")
    saved = sys.modules.get("__docs__")
    sys.modules["__docs__"] = module
    try:
        exec(compile(code, f"{page.name} python block {index + 1}", "exec", dont_inherit=True), module.__dict__)
    finally:
        if saved is None:
            sys.modules.pop("__docs__", None)
        else:
            sys.modules["__docs__"] = saved


def run_in(folder: Path, commands: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> int:
    """Runs ``commands`` in ``folder`` as a user would type them; returns how many ran."""
    from bert_hub.cli import main

    monkeypatch.chdir(folder)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    ran = 0
    for command in commands:
        words = shlex.split(command, comments=True)
        if " ".join(words) in SETUP:
            continue
        if words[0] == "bert-hub" and not set(command) & set("|;&>"):
            rc = main(words[1:])
            out, err = capsys.readouterr()
        else:
            proc = subprocess.run(
                command,
                shell=True,
                executable="/bin/bash",
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
        assert rc == 0, f"command failed: {command}\n{err[-2000:]}"
        assert out.strip(), f"command printed nothing: {command}"
        ran += 1
    return ran
