"""The documentation site: its guides run as written and it builds strictly.

Every ```python block of the guides runs offline on the embedded default.
Their ```bash commands run in order, in the site's order, in one new, empty
folder (so ``evaluate`` finds what ``train`` wrote); the files they use come
from ``bert-hub samples`` as the guides say, except the two a user brings to
``convert`` and ``build`` (``path/to/checkpoint``, ``path/to/vocab.txt``). The
fine-tuning guides run in a folder of their own (tests/test_guides_finetuning.py),
so that the two halves can run at once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from docs_examples import (
    FINETUNING_GUIDES,
    GUIDES,
    PAGES,
    ROOT,
    TRAINS,
    bash_commands,
    python_blocks,
    run_in,
    run_python_block,
)

BLOCKS = [
    pytest.param(
        page, i, marks=[pytest.mark.slow] if TRAINS.search(code) else [], id=f"{page.relative_to(ROOT)}:{i + 1}"
    )
    for page in PAGES[1:]
    for i, code in enumerate(python_blocks(page))
]


def test_every_page_of_the_site_is_in_its_navigation():
    assert set((ROOT / "docs").rglob("*.md")) == set(PAGES[1:])


@pytest.mark.parametrize("page, index", BLOCKS)
def test_python_block_runs(page, index, minilm, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_python_block(page, index)
    assert capsys.readouterr().out.strip()


@pytest.mark.slow
def test_guides_bash_commands_run_as_written(tmp_path, monkeypatch, capsys, minilm, minilm_checkpoint):
    shutil.copytree(minilm_checkpoint, tmp_path / "path" / "to" / "checkpoint")
    shutil.copy(minilm_checkpoint / "vocab.txt", tmp_path / "path" / "to" / "vocab.txt")
    commands = [c for page in GUIDES if page not in FINETUNING_GUIDES for c in bash_commands(page)]
    assert run_in(tmp_path, commands, monkeypatch, capsys) >= 10


@pytest.mark.slow
def test_site_builds_strictly_with_every_command_in_its_reference(tmp_path):
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    from bert_hub.cli import build_parser
    from bert_hub.cli.args import subcommands

    for command in subcommands(build_parser()):
        assert f"usage: bert-hub {command}" in reference, command
    assert "--doc-stride" in reference and "--max-query-length" in reference  # the QA task's own flags
    site = tmp_path / "site"
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    # docstrings as mkdocstrings renders them: no Sphinx roles, examples as code, cross-references resolved
    assert not re.findall(r":(?:class|func|meth|mod|attr|data|exc):", api)
    assert "<blockquote>" not in api and "&gt;&gt;&gt;" in api
    assert api.count('class="autorefs autorefs-internal"') >= 40
    assert not list(site.rglob("*.py"))  # the build's hook is not a page asset
    guide = (site / "guides" / "fine-tuning" / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<li class="md-nav__item">\s*<a href="#', guide)) >= 8  # its sections are headings


def test_docstrings_are_written_for_mkdocstrings():
    """Google style with Markdown: no Sphinx roles or `#:` comments; examples in an indented Examples section."""
    for path in sorted((ROOT / "bert_hub").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.findall(r":(?:class|func|meth|mod|attr|data|exc):`", text), path
        assert not re.findall(r"^\s*#:", text, re.M), path
        assert not re.findall(r"^(\s*)Example( \(.*\))?:\n\n\1>>>", text, re.M), path
