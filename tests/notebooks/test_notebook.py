"""The experiment notebook runs from top to bottom, in this project's environment."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "experiment.ipynb"


def test_experiment_notebook_runs_and_the_export_matches_scikit_learn() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # "python3" is the kernel of the interpreter running the tests (ipykernel is a dev dependency),
    # so the notebook sees exactly the locked packages and this checkout of svmflow.
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and the traceback, if any cell fails

    text = "\n".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    images = sum(
        1
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    )
    assert "linear SVM (svmflow)         accuracy" in text
    assert "the loaded artifact predicts exactly what scikit-learn predicts on all 1372 rows" in text
    assert "contributions plus the intercept equal the served score on all" in text
    assert images >= 4
