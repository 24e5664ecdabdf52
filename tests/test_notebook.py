"""notebooks/walkthrough.ipynb: stored without outputs, and runs from top to bottom with its small budget."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


def test_outputs_stripped():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for index, cell in enumerate(code_cells):
        assert cell.outputs == [], f"code cell {index} has stored outputs: clear them before committing"
        assert cell.execution_count is None, f"code cell {index} has an execution count"


@pytest.mark.slow
def test_runs_end_to_end(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("LITCIFAR_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 7, f"expected the notebook to show at least 7 figures, it showed {len(images)}"
    run_dirs = list((tmp_path / "runs").iterdir())
    assert len(run_dirs) == 1
    for name in ("lr_find.png", "metrics.csv", "gradcam.png", "faithfulness.png", "report.html"):
        assert (run_dirs[0] / name).is_file(), f"{name} missing after the notebook ran"
