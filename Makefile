# `make demo` and `make test` set up what they need (a local virtual environment) first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench lint venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	PYTHON=$(PY) examples/orders/demo.sh

test: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m pytest -q -rs

test-fast: $(STAMP)
	$(PY) -m pytest -q -rs -m "not slow"

bench: $(STAMP)
	@$(PY) -c "import dbos" 2>/dev/null || $(PY) -m pip install -q -e '.[peers]' || \
		echo "dbos (the peers extra) could not be installed: the bench skips DBOS Transact and says so"
	$(PY) -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
