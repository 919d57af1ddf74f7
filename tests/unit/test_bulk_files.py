"""Bulk input files: naming, formats, bad lines; progress arithmetic; the progress line."""

from __future__ import annotations

from pathlib import Path

import pytest

from svmflow.bulk.files import BadRow, BulkFileError, Row, check_head, locate, read_rows
from svmflow.bulk.progress import BulkView, _with_rate
from svmflow.terminal import render


@pytest.mark.parametrize(
    ("uri", "path", "fmt"),
    [
        ("gs://models/bulk/a.csv", "bulk/a.csv", "csv"),
        ("bulk/x/y.jsonl", "bulk/x/y.jsonl", "jsonl"),
        ("bulk/y.NDJSON", "bulk/y.NDJSON", "jsonl"),
    ],
)
def test_locate_names_an_object_under_bulk(uri: str, path: str, fmt: str) -> None:
    location = locate(uri, "models")
    assert (location.path, location.format) == (path, fmt)


def test_a_local_path_under_the_bucket_folder(tmp_path: Path) -> None:
    assert locate(str(tmp_path / "bulk" / "a.csv"), "models", tmp_path).path == "bulk/a.csv"
    with pytest.raises(BulkFileError, match="under the bucket folder"):
        locate("/etc/passwd.csv", "models", tmp_path)


@pytest.mark.parametrize(
    "uri",
    ["gs://other/bulk/a.csv", "models/a.csv", "bulk/../models/a.csv", "bulk/a.parquet", "bulk/", "/a.csv"],
)
def test_locate_refuses_anything_else(uri: str) -> None:
    with pytest.raises(BulkFileError):
        locate(uri, "models")


def test_csv_rows_bad_lines_and_line_numbers() -> None:
    lines = [
        b"\xef\xbb\xbfid,a,b\n",  # a byte order mark, and "id" as the subject column
        b"n1,1,2\n",
        b"\n",
        b'"n,2",3,4\n',  # a quoted subject with a comma
        b"n3,1e999,4\n",
        b"n4,1\n",
        b"\xff\xfe,1,2\n",
        b"n5,5,6\r\n",
    ]
    got = list(read_rows(lines, "csv", 2))
    assert got[0] == Row(2, "n1", [1.0, 2.0])
    assert got[1] == Row(4, "n,2", [3.0, 4.0])
    assert isinstance(got[2], BadRow)
    assert got[2].line == 5
    assert "finite" in got[2].reason
    assert isinstance(got[3], BadRow)
    assert got[3].line == 6
    assert got[4] == BadRow(7, "not UTF-8 text")
    assert got[5] == Row(8, "n5", [5.0, 6.0])


def test_jsonl_rows() -> None:
    lines = [
        b'{"features": [1, 2], "subject": "s"}',
        b"[3, 4]",
        b'{"features": [1, 2], "x": 1}',
        b"[1, true]",
    ]
    got = list(read_rows(lines, "jsonl", 2))
    assert got[:2] == [Row(1, "s", [1.0, 2.0]), Row(2, None, [3.0, 4.0])]
    assert [type(g) for g in got[2:]] == [BadRow, BadRow]


def test_check_head() -> None:
    check_head(b"a,b\n1,2\n3,", "csv", 2, complete=False)  # the cut last line is not judged
    with pytest.raises(BulkFileError, match="expects 2"):
        check_head(b"a,b,c\n1,2,3\n", "csv", 2, complete=True)
    with pytest.raises(BulkFileError, match="line 2"):
        check_head(b"a,b\nx,y\n", "csv", 2, complete=True)
    with pytest.raises(BulkFileError, match="empty"):
        check_head(b"\n\n", "jsonl", 2, complete=True)
    with pytest.raises(BulkFileError, match="longer"):
        check_head(b"[1, 2" + b"0" * 100, "jsonl", 2, complete=False)


def test_rate_and_eta() -> None:
    running = BulkView(job_id="j", status="running", rows_total=1000, rows_done=250, started_at=100.0)
    view = _with_rate(running, now=110.0)
    assert view.rows_per_second == 25.0
    assert view.eta_seconds == 30.0
    splitting = BulkView(
        job_id="j",
        status="splitting",
        rows_read=400,
        rows_done=100,
        bytes_read=40,
        bytes_total=100,
        started_at=0.0,
    )
    assert _with_rate(splitting, now=10.0).eta_seconds == 90.0  # 1,000 rows estimated from the bytes read


def test_progress_line() -> None:
    line = render(500, 1000, 250.0, 2.0, width=60)
    assert line.startswith(" 50.0% [")
    assert line.endswith(" 500/1,000 rows  250 rows/s  ETA 00:02")
    assert len(line) == 60
    assert render(5, None, None, None) == "5 rows  - rows/s  ETA --:--"
