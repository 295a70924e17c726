# The README's two commands: `make run` and `make test`. Each creates .venv once and reuses it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,scale,rail]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/photcat run

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check photcat tests benchmarks
	$(BIN)/ruff format --check photcat tests benchmarks

clean:
	rm -rf $(VENV) photcat-output
