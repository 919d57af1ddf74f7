"""``svmflow init``: a spec inferred from a CSV; a bad CSV gets one line, exit 2, nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from svmflow.cli import main
from svmflow.datasets import spec as specs
from svmflow.datasets.inference import model_name_from
from svmflow.datasets.seed_data import read_seed_rows


@pytest.fixture(autouse=True)
def quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVMFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SVMFLOW_LOG_LEVEL", "WARNING")


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _wine_csv(path: Path) -> Path:
    bunch = load_wine()
    names = ["barolo", "grignolino", "barbera"]
    rows = [[*row, names[t]] for row, t in zip(bunch.data.tolist(), bunch.target, strict=True)]
    return _write(path, [*bunch.feature_names, "cultivar"], rows)


def test_init_infers_previews_and_writes_a_spec_that_reads_the_data_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    data = _wine_csv(tmp_path / "data" / "Wine Cultivars.csv")
    out = tmp_path / "specs" / "wine.toml"
    assert main(["init", str(data), "--label", "cultivar", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "178 rows, 13 features, label 'cultivar' with 3 classes" in printed
    assert "grignolino        71   39.9%" in printed
    assert "proline" in printed and "1680" in printed  # noqa: PT018 (one preview line)
    spec = specs.load(out)
    assert spec.name == "wine-cultivars"
    assert spec.class_names == ["barbera", "barolo", "grignolino"]
    assert spec.feature_names == list(load_wine().feature_names)
    assert spec.seed_data == "../data/Wine Cultivars.csv"
    assert '# observed 278 .. 1680\n[[features]]\nname = "proline"' in out.read_text()
    rows = read_seed_rows(spec, out)
    assert len(rows) == 178
    assert {r.label for r in rows} == {0, 1, 2}


def test_init_orders_integer_classes_numerically_and_takes_a_name(tmp_path: Path) -> None:
    bunch = load_breast_cancer()
    data = _write(
        tmp_path / "cancer.csv",
        [*bunch.feature_names, "target"],
        [[*row, t] for row, t in zip(bunch.data.tolist(), bunch.target, strict=True)],
    )
    assert main(["init", str(data), "--label", "target", "--name", "breast-cancer"]) == 0
    spec = specs.load(tmp_path / "cancer.toml")
    assert (spec.name, len(spec.features), spec.class_names) == ("breast-cancer", 30, ["0", "1"])


def test_init_matches_the_shipped_banknote_spec_on_the_banknote_data(tmp_path: Path) -> None:
    out = tmp_path / "banknote.toml"
    assert main(["init", str(specs.DATA_DIR / "banknote.csv"), "--label", "class", "--out", str(out)]) == 0
    inferred, shipped = specs.load(out), specs.load_default()
    assert inferred.feature_names == shipped.feature_names
    assert [c.data_value for c in inferred.classes] == [c.data_value for c in shipped.classes]


HEADER = ["a", "b", "label"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a,b,label\n1,2,x\n3,4\n", "line 3 has 2 cells, the header has 3"),
        ("a,b,label\n1,2,x\n3,4,x\n", "column 'label' has one class only ('x'); a model needs two or more"),
        ("a,b,label\n1,2,x\n3,four,y\n", "line 3, column 'b': 'four' is not a number"),
        ("a,b,label\n1,,x\n3,4,y\n", "line 2, column 'b': an empty cell is not a number"),
        ("a,b,label\n1,nan,x\n3,4,y\n", "line 2, column 'b': 'nan' is not a finite number"),
        ("a,b,class\n1,2,x\n3,4,y\n", "no column 'label'; the columns are a, b, class"),
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("a,b,label\n", "a header row but no data rows"),
        ("a,a,label\n1,2,x\n3,4,y\n", "column name 'a' appears twice in the header row"),
        ("a,,label\n1,2,x\n3,4,y\n", "column 2 of the header row has no name"),
        ("label\nx\ny\n", "only the label column 'label'"),
        ("a,b,label\n1,2,x\n3,4,\n", "line 3, column 'label': the label is empty"),
    ],
)
def test_a_bad_csv_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(content)
    assert main(["init", str(data), "--label", "label"]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.startswith(f"error: {data}: ")
    assert err.count("\n") == 1
    assert not (tmp_path / "bad.toml").exists()


def test_a_missing_csv_and_an_existing_spec_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "none.csv"), "--label", "y"]) == 2
    assert "none.csv: no such file" in capsys.readouterr().err
    data = _write(tmp_path / "ok.csv", HEADER, [[1, 2, "x"], [3, 4, "y"]])
    (tmp_path / "ok.toml").write_text("keep me")
    assert main(["init", str(data), "--label", "label"]) == 2
    assert "ok.toml exists; pass --force" in capsys.readouterr().err
    assert (tmp_path / "ok.toml").read_text() == "keep me"
    assert main(["init", str(data), "--label", "label", "--force"]) == 0
    assert specs.load(tmp_path / "ok.toml").class_names == ["x", "y"]


def test_an_invalid_model_name_is_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(tmp_path / "ok.csv", HEADER, [[1, 2, "x"], [3, 4, "y"]])
    assert main(["init", str(data), "--label", "label", "--name", "Not Valid"]) == 2
    assert "at `$.name`" in capsys.readouterr().err
    assert not (tmp_path / "ok.toml").exists()


def test_a_continuous_label_is_refused_as_not_a_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(tmp_path / "prices.csv", ["size", "price"], [[i, i * 1.5] for i in range(150)])
    assert main(["init", str(data), "--label", "price"]) == 2
    assert "has 150 distinct values, more than 100 classes" in capsys.readouterr().err
    assert not (tmp_path / "prices.toml").exists()


@pytest.mark.parametrize(
    ("file_name", "model_name"),
    [
        ("wine.csv", "wine"),
        ("Wine Quality (red).csv", "wine-quality-red"),
        ("2024_sales.csv", "model-2024-sales"),
    ],
)
def test_model_names_come_from_file_names(file_name: str, model_name: str) -> None:
    assert model_name_from(Path(file_name)) == model_name
