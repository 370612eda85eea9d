"""The fine-tuning guides run as written: their ```bash commands, in the site's order, in one new folder.

They start where the getting-started guide leaves a user: with the sample
files of ``bert-hub samples`` in ``samples/``. (The other guides run in
tests/test_guides.py, at the same time.)
"""

from __future__ import annotations

import pytest
from docs_examples import FINETUNING_GUIDES, bash_commands, run_in


@pytest.mark.slow
def test_finetuning_guides_bash_commands_run_as_written(tmp_path, monkeypatch, capsys, minilm):
    commands = ["bert-hub samples"] + [c for page in FINETUNING_GUIDES for c in bash_commands(page)]
    assert run_in(tmp_path, commands, monkeypatch, capsys) >= 15
