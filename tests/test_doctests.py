"""The ``>>>`` examples in bert_hub's docstrings run (doctest), offline, on the embedded default."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import bert_hub

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(bert_hub.__path__, "bert_hub.") if not name.endswith("__main__")
)  # running the program is not an example


def test_every_module_is_listed():
    assert {"bert_hub.runtime.batching", "bert_hub.core.outputs", "bert_hub.runtime.embedder", "bert_hub.cli"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", ["bert_hub", *MODULES])
def test_docstring_examples_run(name, minilm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see output)"
