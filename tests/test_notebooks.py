"""The notebooks run top to bottom, offline, on the embedded default."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]  # runs the notebooks in a kernel of their own

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "bert_hub_demo.ipynb"
SPAM_NOTEBOOK = NOTEBOOK.with_name("spam_finetune.ipynb")


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert code[0].source.startswith('CONFIG = "default"')


def test_notebook_executes_without_errors(minilm, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Raises CellExecutionError on the first failing cell.
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "len(encoder_outputs) = 6 (L = 6)" in text
    assert "encoder_outputs[-1] == sequence_output: True" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1


def test_spam_notebook_fine_tunes_evaluates_exports_and_serves(minilm, tmp_path):
    """As committed: on the generated sample files, for one epoch (its first cell says how to run the real data)."""
    nb = nbformat.read(SPAM_NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    first = code[0].source
    assert 'DATA = "samples/sms.tsv"' in first and 'DATA = "SMSSpamCollection"' in first and "EPOCHS = 1" in first
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "160 messages" in text and "threshold" in text and "F1" in text
    assert text.count("served: ") == 2
    assert (tmp_path / "spam_model" / "saved_model.pb").is_file()  # beside the notebook, not left in /tmp
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # class balance, training curves, confusion matrix + precision-recall
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("name") == "stderr"]
    assert not [o for o in errors if "I0000" in o["text"] or "cuInit" in o["text"] or "oneDNN" in o["text"]]
