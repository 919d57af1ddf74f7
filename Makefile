# Every target installs what it needs first, so each works on a fresh clone.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run run-emulated test test-unit lint format schema demo clean bench

install:
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || python3 -m pip install --quiet --user "uv==$(UV_VERSION)"
	@$(UV) sync --frozen --quiet

run: install
	$(UV) run svmflow run

test: install lint
	$(UV) run pytest

test-unit: install
	$(UV) run pytest tests/unit

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .

format: install
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

schema: install
	$(UV) run svmflow schema write

bench: install
	$(UV) run python -m bench

clean:
	rm -rf .svmflow .pytest_cache .ruff_cache
