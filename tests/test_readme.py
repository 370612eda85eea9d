"""The README runs as written: every ```python block, and every ```bash command from a fresh folder.

Python blocks run offline on the embedded default. Bash blocks run in order in
one new, empty folder (so ``evaluate`` finds what ``train`` wrote), with small
stand-ins for the files a user would bring (``texts.txt``, ``sms.tsv``,
``test.tsv``, ``topics.tsv``, ``ratings.tsv``, ``path/to/checkpoint``, ``path/to/vocab.txt``). ``bert-hub``
commands run in this process; anything else in a shell with the venv's
``bin`` first on ``PATH``. The two set-up commands (``make demo``, ``make
test``) are what CI itself runs, so they are not run again here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sms_sample import write_sms_file

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
SETUP = {"make demo", "make test"}


def bash_commands(text: str) -> list[str]:
    """The commands of every ```bash block: comments dropped, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


COMMANDS = bash_commands(TEXT)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, minilm, capsys):
    exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out.strip()


def test_readme_links_stay_inside_the_repository():
    prose = re.sub(r"```.*?```", "", TEXT, flags=re.S)
    assert "../" not in prose  # a path outside the repository means nothing to a user of the package
    for target in re.findall(r"\]\(([^)#]+)\)", re.sub(r"`[^`]*`", "", prose)):
        if not target.startswith(("http://", "https://")):
            path = (README.parent / target).resolve()
            assert path.is_relative_to(README.parent) and path.exists(), target


def test_readme_setup_is_the_two_make_commands():
    assert [" ".join(shlex.split(c, comments=True)) for c in COMMANDS[:2]] == ["make demo", "make test"]


@pytest.fixture(scope="module")
def fresh_folder(tmp_path_factory, minilm_checkpoint):
    folder = tmp_path_factory.mktemp("readme_user")
    (folder / "texts.txt").write_text("This is a spam mail\nsee you at lunch\n\nWINNER!! Claim your prize\n")
    write_sms_file(folder / "sms.tsv", 60, seed=11)
    write_sms_file(folder / "test.tsv", 20, seed=12)
    topics = ["animals\tthe cat sat on the mat", "animals\ta dog runs in the park", "food\tsee you at lunch",
              "food\tthe soup was hot", "travel\tthe train leaves at noon", "travel\tour flight was late"]
    (folder / "topics.tsv").write_text("\n".join(topics * 5) + "\n")
    ratings = ["4.5\ta lovely film", "4\tgreat acting", "1\ta dull film", "0.5\tI walked out", "3\tfine"]
    (folder / "ratings.tsv").write_text("\n".join(ratings * 6) + "\n")
    shutil.copytree(minilm_checkpoint, folder / "path" / "to" / "checkpoint")
    shutil.copy(minilm_checkpoint / "vocab.txt", folder / "path" / "to" / "vocab.txt")
    return folder


def test_readme_bash_commands_run_as_written(fresh_folder, monkeypatch, capsys, minilm):
    from bert_hub.cli import main

    monkeypatch.chdir(fresh_folder)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    ran = 0
    for command in COMMANDS:
        words = shlex.split(command, comments=True)
        if " ".join(words) in SETUP:
            continue
        if words[0] == "bert-hub" and not set(command) & set("|;&>"):
            rc = main(words[1:])
            out, err = capsys.readouterr()
        else:
            proc = subprocess.run(command, shell=True, executable="/bin/bash", cwd=fresh_folder, env=env,
                                  capture_output=True, text=True, timeout=600)
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
        assert rc == 0, f"README command failed: {command}\n{err[-2000:]}"
        assert out.strip(), f"README command printed nothing: {command}"
        ran += 1
    assert ran >= 10
