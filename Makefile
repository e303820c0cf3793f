# `make run`  : set up .venv if needed, then train the default agent (DQN on Catch).
# `make test` : set up .venv if needed, then run the test suite.
# `make .venv`: the set-up alone (pinned versions from requirements.lock).
# `make control`: add the optional continuous-control extra to .venv (MuJoCo
#   Playground for the dmc:<Name> tasks), pinned by requirements-control.lock,
#   constrained by requirements.lock so no base version changes.
# The set-up reinstalls only when requirements.lock's content changes: the
# hash of the lock it installed is kept in .venv/requirements.lock.sha256.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/requirements.lock.sha256
WORKDIR ?= runs/dqn_catch

.PHONY: run test bench format control clean-venv $(VENV)

$(VENV):
	@hash=$$(sha256sum requirements.lock | cut -d' ' -f1); \
	if [ -x $(PY) ] && [ "$$(cat $(STAMP) 2>/dev/null)" = "$$hash" ]; then \
	  exit 0; \
	fi; \
	echo "installing requirements.lock into $(VENV)"; \
	set -e; \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	$(PY) -m pip install --quiet --upgrade pip; \
	$(PY) -m pip install --quiet -r requirements.lock; \
	echo "$$hash" > $(STAMP)

control: $(VENV)
	$(PY) -m pip install --quiet -r requirements-control.lock -c requirements.lock

run: $(VENV)
	$(PY) -m scripts.train --config=configs/dqn.py:catch --workdir=$(WORKDIR)

test: $(VENV)
	$(PY) -m pytest -n 2 --dist=loadgroup -q --durations=30 tests

bench: $(VENV)
	$(PY) -m scripts.benchmark

# The project's style (2-space, 80 columns; [tool.pyink] in pyproject.toml).
# tests/test_formatting.py fails when a file is not formatted.
format: $(VENV)
	$(VENV)/bin/pyink .

clean-venv:
	rm -rf $(VENV)
