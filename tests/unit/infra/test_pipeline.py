"""cloudbuild.yaml and the function source archive."""

from __future__ import annotations

import importlib.util
import json
import re
import zipfile
from pathlib import Path
from types import ModuleType

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
    assert "emulators" in build["substitutions"]["_GCLOUD_IMAGE"]
    assert "terraform plan" in steps["terraform-plan"]["args"][-1]
    assert "terraform apply -input=false tfplan" in steps["terraform-apply"]["args"][-1]
    assert "smoke_test.py" in steps["smoke-test"]["args"][-1]
    assert build["serviceAccount"].endswith("svmflow-deployer@${PROJECT_ID}.iam.gserviceaccount.com")


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
    assert tops == {"main.py", "requirements.txt", "svmflow", "functions", "data"}
    assert "svmflow/topology.py" in names
    assert "data/banknote.csv" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "functions-framework==" in requirements
    assert "pytest" not in requirements, "development dependencies must not ship"
