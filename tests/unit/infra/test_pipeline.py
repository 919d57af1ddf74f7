"""cloudbuild.yaml and the function source archive."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.unit.infra import tools
from tests.unit.infra.terraform_model import REPO

LOAD_YAML = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"


def cloudbuild() -> dict:
    result = tools.python_with(tools.PYYAML, LOAD_YAML, str(REPO / "cloudbuild.yaml"))
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def ci_test_command() -> str:
    """The README's test command, as .ci/run runs it (its last command)."""
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    commands = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return commands[-1]


def test_cloudbuild_runs_the_readme_test_command_then_deploys() -> None:
    build = cloudbuild()
    steps = {step["id"]: step for step in build["steps"]}
    assert list(steps) == [
        "test",
        "build-image",
        "push-image",
        "function-source",
        "terraform-plan",
        "terraform-apply",
        "migrate",
        "smoke-test",
    ]
    command = ci_test_command()
    assert command == "make test"
    readme = (REPO / "README.md").read_text()
    named = re.findall(r"^\s*(make test\S*|uv run pytest.*)$", readme, flags=re.MULTILINE)
    assert all(c.strip() == command for c in named), f"README names {named}, CI runs {command}"
    assert re.search(r"^test:.*$", (REPO / "Makefile").read_text(), flags=re.MULTILINE)
    script = steps["test"]["args"][-1]
    script_lines = (REPO / script).read_text().strip().splitlines()
    assert script_lines[-1] == command, "the Cloud Build test step must end with the test command"
    assert "terraform plan" in steps["terraform-plan"]["args"][-1]
    assert '-var-file="environments/${_ENV}.tfvars"' in steps["terraform-plan"]["args"][-1]
    assert (REPO / "infra" / "environments" / f"{build['substitutions']['_ENV']}.tfvars").exists()
    assert "-lockfile=readonly" in steps["terraform-plan"]["args"][-1]
    assert "gcloud run jobs execute" in steps["migrate"]["args"][-1]
    assert "terraform apply -input=false tfplan" in steps["terraform-apply"]["args"][-1]
    assert "smoke_test.py" in steps["smoke-test"]["args"][-1]
    assert build["serviceAccount"].endswith("svmflow-deployer@${PROJECT_ID}.iam.gserviceaccount.com")


PINNED = re.compile(r"^[\w./-]+:(?P<tag>[\w.-]+)@sha256:[0-9a-f]{64}$")


def test_test_and_terraform_images_are_pinned_by_tag_and_digest() -> None:
    substitutions = cloudbuild()["substitutions"]
    for name in ("_PYTHON_IMAGE", "_TERRAFORM_IMAGE"):
        assert PINNED.match(substitutions[name]), f"{name} is not pinned by tag and digest"
    steps = {step["id"]: step for step in cloudbuild()["steps"]}
    assert steps["test"]["name"] == "${_PYTHON_IMAGE}"
    assert steps["terraform-plan"]["name"] == steps["terraform-apply"]["name"] == "${_TERRAFORM_IMAGE}"


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECK_PYTHON = REPO / "infra" / "ci" / "check_python.py"


def test_the_test_steps_python_satisfies_requires_python() -> None:
    """The step's own check, run with the pinned image's Python version, and with the versions on
    either side of pyproject's bounds."""
    tag = PINNED.match(cloudbuild()["substitutions"]["_PYTHON_IMAGE"]).group("tag")  # type: ignore[union-attr]
    image_python = re.match(r"(\d+\.\d+\.\d+)", tag).group(1)  # type: ignore[union-attr]
    check = load_module(CHECK_PYTHON)
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'requires-python = "{check.requires_python()}"' in pyproject
    run = [sys.executable, str(CHECK_PYTHON), "--version"]
    assert subprocess.run([*run, image_python], check=False).returncode == 0
    assert subprocess.run([*run, "3.13.0"], capture_output=True, check=False).returncode == 1
    assert subprocess.run([*run, "3.10.14"], capture_output=True, check=False).returncode == 1
    assert check.problems("3.13.1", ">=3.11,<3.13") == ["<3.13"]
    assert check.problems("3.11.0", ">=3.11,<3.13") == []
    # The step checks before it installs anything.
    script = (REPO / "infra" / "ci" / "test-in-cloud-build.sh").read_text().splitlines()
    commands = [line for line in script if line and not line.startswith("#")]
    first = next(i for i, line in enumerate(commands) if "check_python.py" in line)
    assert first < next(i for i, line in enumerate(commands) if "apt-get" in line)


def load_builder() -> ModuleType:
    path = REPO / "infra" / "scripts" / "build_function_source.py"
    spec = importlib.util.spec_from_file_location("build_function_source", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_function_archive_holds_exactly_the_source_and_is_reproducible(tmp_path: Path) -> None:
    builder = load_builder()
    first = builder.build(tmp_path / "a.zip")
    second = builder.build(tmp_path / "b.zip")
    assert first == second
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        names = archive.namelist()
        requirements = archive.read("requirements.txt").decode()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"main.py", "requirements.txt", "functions", "svmflow", "data"}
    assert "svmflow/topology.py" in names
    assert "data/banknote.csv" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "functions-framework==" in requirements
    assert "pytest" not in requirements, "development dependencies must not ship"


def test_function_archive_ships_no_development_harness_nor_fakeredis(tmp_path: Path) -> None:
    """The emulated stack (devstack/) and the tests are development tools, and fakeredis is embedded
    mode's extra: none of them reaches Cloud Functions, and nothing that ships imports them."""
    builder = load_builder()
    builder.build(tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        names = archive.namelist()
        requirements = archive.read("requirements.txt").decode()
        sources = {name: archive.read(name).decode() for name in names if name.endswith(".py")}
    harness = ("devstack/", "svmflow/emulated/", "tests/", "bench/")
    assert not [name for name in names if name.startswith(harness)]
    assert "svmflow/bootstrap.py" in sources
    importing = re.compile(r"^\s*(from|import)\s+(devstack|tests|bench)\b", re.MULTILINE)
    assert not [name for name, text in sources.items() if importing.search(text)]
    requirement_names = {line.split("==")[0].split("[")[0] for line in requirements.splitlines()}
    assert "redis" in requirement_names
    assert "fakeredis" not in requirement_names
    assert "lupa" not in requirement_names, "fakeredis[lua]'s Lua runtime must not ship either"


def test_the_wheel_packages_leave_the_development_harness_out() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert "svmflow" in packages
    assert not [p for p in packages if p.split("/")[0] in ("devstack", "tests", "bench")]
    assert not (REPO / "svmflow" / "emulated").exists()
    assert "fakeredis" not in " ".join(pyproject["project"]["dependencies"])
    assert any("fakeredis" in d for d in pyproject["project"]["optional-dependencies"]["embedded"])


def _real_uv() -> Path:
    return Path(tools.uv()).resolve()


def test_the_archive_builder_finds_the_uv_make_install_put_in_local_bin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new shell after `make install`: uv sits in ~/.local/bin, which is not on PATH."""
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "uv").symlink_to(_real_uv())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    monkeypatch.delenv("UV", raising=False)
    builder = load_builder()
    assert builder.find_uv() == str(home / ".local" / "bin" / "uv")
    builder.build(tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert "functions-framework==" in archive.read("requirements.txt").decode()


def test_the_archive_builder_prefers_the_uv_the_makefile_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_uv = _real_uv()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    monkeypatch.setenv("UV", str(real_uv))
    assert load_builder().find_uv() == str(real_uv)
    monkeypatch.delenv("UV")
    with pytest.raises(SystemExit, match="make install"):
        load_builder().find_uv()


def test_ci_runs_the_test_command_without_local_bin_on_path(tmp_path: Path) -> None:
    """.ci/run is what a new user's shell does: `make test` with ~/.local/bin off PATH. A stand-in
    `make` reports the PATH and uv it was given."""
    home = tmp_path / "home"
    local_bin = home / ".local" / "bin"
    local_bin.mkdir(parents=True)
    (local_bin / "uv").symlink_to(_real_uv())
    stand_in = tmp_path / "stand-in"
    stand_in.mkdir()
    fake_make = stand_in / "make"
    fake_make.write_text('#!/bin/sh\necho "args=$*"\necho "PATH=$PATH"\necho "uv=$(command -v uv)"\n')
    fake_make.chmod(0o755)
    env = {"HOME": str(home), "PATH": f"{stand_in}:{local_bin}:/usr/local/bin:/usr/bin:/bin"}
    result = subprocess.run(
        [str(REPO / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert lines["args"] == "test"
    assert str(local_bin) not in lines["PATH"].split(":")
    assert str(stand_in) in lines["PATH"].split(":")
    assert lines["uv"] == ""


def test_nothing_the_project_prints_or_documents_needs_uv_on_path() -> None:
    """`uv run ...` fails in a new user's shell (uv lives in ~/.local/bin); what the project prints or
    documents is `make ...` or `.venv/bin/...`, which work as printed."""
    texts = [REPO / "README.md", *REPO.glob("*/README.md"), *REPO.glob("docs/*.md")]
    texts += [*REPO.glob("svmflow/**/*.py"), *REPO.glob("api/*.py"), *REPO.glob("bench/*.py")]
    texts += [*REPO.glob("infra/scripts/*.py"), *REPO.glob("notebooks/*.ipynb")]
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in texts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"(?<![\w)])uv run\b", line)
    ]
    assert offenders == []
