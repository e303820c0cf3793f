# `make run`  : set up .venv if missing, then train the default agent (DQN on Catch).
# `make test` : set up .venv if missing, then run the test suite.
# `make .venv`: the set-up alone (pinned versions from requirements.lock).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/dqn_catch

.PHONY: run test bench clean-venv

$(VENV): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $(VENV)

run: $(VENV)
	$(PY) -m scripts.train --config=configs/dqn.py:catch --workdir=$(WORKDIR)

test: $(VENV)
	$(PY) -m pytest -n 2 --dist=loadgroup -q tests

bench: $(VENV)
	$(PY) -m scripts.benchmark

clean-venv:
	rm -rf $(VENV)
