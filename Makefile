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
# Ctrl-C stops them (see Procfile); honcho waits up to HONCHO_KILL_WAIT seconds (its own 5 s
# are shorter than a Celery worker's warm shutdown) before it kills, and make ends quietly
# instead of reporting "Error 130".
HONCHO_KILL_WAIT ?= 30
HONCHO = import sys, honcho.manager, honcho.command; \
	honcho.manager.KILL_WAIT = float(sys.argv.pop(1)); honcho.command.main()
run: venv
	$(BIN)/flask --app app setup
	trap : INT; PATH=$(abspath $(BIN)):$$PATH \
	  $(BIN)/python -c '$(HONCHO)' $(HONCHO_KILL_WAIT) start -f Procfile; \
	  status=$$?; [ $$status -eq 130 ] || exit $$status

## Lint, check formatting, then run every test.
test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
