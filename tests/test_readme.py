"""The README, the repository's front page, runs as written.

Its ```python blocks run offline on the embedded default; its ```bash
commands run in order in one new, empty folder (the tour writes its own
sample files with ``bert-hub samples``).
"""

from __future__ import annotations

import re
import shlex

import pytest
from docs_examples import README, bash_commands, python_blocks, run_in, run_python_block


def test_readme_is_a_front_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert len(python_blocks(README)) >= 2 and len(bash_commands(README)) >= 6


def test_readme_setup_is_the_two_make_commands():
    assert [" ".join(shlex.split(c, comments=True)) for c in bash_commands(README)[:2]] == ["make demo", "make test"]


def test_readme_links_stay_inside_the_repository():
    prose = re.sub(r"```.*?```", "", README.read_text(encoding="utf-8"), flags=re.S)
    assert "../" not in prose  # a path outside the repository means nothing to a user of the package
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", re.sub(r"`[^`]*`", "", prose)):
        if not target.startswith(("http://", "https://")):
            path = (README.parent / target).resolve()
            assert path.is_relative_to(README.parent) and path.exists(), target


@pytest.mark.parametrize("index", range(len(python_blocks(README))))
def test_readme_python_block_runs(index, minilm, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_python_block(README, index)
    assert capsys.readouterr().out.strip()


@pytest.mark.slow
def test_readme_bash_commands_run_as_written(tmp_path, monkeypatch, capsys, minilm):
    assert run_in(tmp_path, bash_commands(README), monkeypatch, capsys) >= 6
