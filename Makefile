# Two commands for a new user: `make run` (set up, publish the bundled content and send the
# daily digest to demo readers into a local Maildir, then run the service) and
# `make test` (set up, then lint, type-check and test). Only Python 3.11+ and make are needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint imports typecheck pytest format bench bench-build bench-digest bench-web clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/publisher publish
	$(BIN)/publisher subscribers import config/demo-subscribers.csv
	$(BIN)/publisher digest daily
	@echo "Static site: public/index.html; digests: var/outbox/new/ (a Maildir)"
	$(BIN)/publisher signin
	$(BIN)/publisher run

test: check

check: lint imports typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# One test process per core (pytest-xdist): every test owns its folders, databases and ports.
pytest: $(STAMP)
	$(BIN)/python -m pytest -n auto

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/bench_publish.py

# publisher against Hugo (Debian package hugo) at 1,000, 10,000 and 100,000 articles; long
bench-build: $(STAMP)
	$(BIN)/python bench/bench_build.py

bench-digest: $(STAMP)
	$(BIN)/python bench/bench_digest.py

bench-web: $(STAMP)
	$(BIN)/python bench/bench_web.py

clean:
	rm -rf $(VENV) var public .pytest_cache .mypy_cache .ruff_cache .hypothesis
