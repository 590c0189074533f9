# Two commands for a new machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: run test format venv clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

## Start web, worker and beat on the embedded defaults (SQLite, no Redis needed).
# app.supervise refuses to start (exit 1) when another `make run` uses the data dir or the port
# is taken, then runs honcho (see Procfile): the first process to end stops the others, and its
# exit code is make's. Ctrl-C stops them; honcho waits up to HONCHO_KILL_WAIT seconds (its own
# 5 s are shorter than a Celery worker's warm shutdown) before it kills, and make ends quietly
# instead of reporting "Error 130".
HONCHO_KILL_WAIT ?= 30
run: venv
	$(BIN)/flask --app app setup
	trap : INT; PATH=$(abspath $(BIN)):$$PATH \
	  $(BIN)/python -m app.supervise $(HONCHO_KILL_WAIT) start -f Procfile; \
	  status=$$?; [ $$status -eq 130 ] || exit $$status

## Lint, check formatting and types, then run every test.
test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
