# Every target installs what it needs first, so each works on a fresh clone.
SHELL := /bin/bash
UV_VERSION := 0.13.9
# uv on PATH, else where `make install` puts it (~/.local/bin, often not on a new shell's PATH).
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
# What the project runs (the function archive build, the pinned tools of the tests) finds uv here.
export UV
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run run-emulated test test-unit lint format schema demo clean bench bench-latency browser

install:
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || python3 -m pip install --quiet --user "uv==$(UV_VERSION)" \
		|| python3 -m pip install --quiet --user --break-system-packages "uv==$(UV_VERSION)"
	@$(UV) sync --frozen --quiet --extra embedded

run: install
	$(UV) run svmflow run

# Walks through the loop against a running system (make run in another shell).
demo: install
	$(UV) run svmflow demo

# The emulated stack on this machine's Redis (6379) and Postgres (5432, database svmflow); Ctrl-C stops it.
run-emulated: install
	$(UV) run python -m devstack

test: install lint browser
	$(UV) run pytest

test-unit: install
	$(UV) run pytest tests/unit

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run lint-imports --no-cache

format: install
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

schema: install
	$(UV) run svmflow schema write

bench: install
	$(UV) run python -m bench

# Ingest-to-pollable latency over the emulated stack (p50/p95).
bench-latency: install
	$(UV) run python -m bench.emulated_latency

clean:
	rm -rf .svmflow .pytest_cache .ruff_cache .mypy_cache

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
APT := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get
browser:
	@test -x /usr/bin/chromium || { $(APT) update -qq && $(APT) install -y -qq chromium; }
