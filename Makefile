# One command each: `make run` (the whole group locally) and `make test` (every test).
# Both create .venv from the pinned requirements.txt on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test validate clean-state

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) deploy.py run $(ARGS)

# Three pytest-xdist workers on two cores: much of an e2e test is waiting (a run starting, a device's
# cycle), so a third worker fills the idle CPU (docs/benchmarks.md, test suite). Each platform's shared
# e2e run stays on one worker (tests/e2e/conftest.py). Work goes out in collection order (e2e first), not
# largest group first, so the long runs start early and the many short unit tests fill the end.
TEST_WORKERS ?= 3

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(ARGS)

validate: $(STAMP)
	$(PY) deploy.py validate

clean-state:
	rm -rf .gg certs
