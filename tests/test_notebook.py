"""The demo notebook runs top to bottom, offline, on the embedded default."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "bert_hub_demo.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert code[0].source.startswith('CONFIG = "default"')


def test_notebook_executes_without_errors(minilm, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Raises CellExecutionError on the first failing cell.
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "len(encoder_outputs) = 6 (L = 6)" in text
    assert "encoder_outputs[-1] == sequence_output: True" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
