# Two entry points: `make demo` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_DIR ?= demo-output

.PHONY: demo test install lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# compiles the kernels into the cache once (seconds when they are already there)
install: $(STAMP)
	$(PY) -m gridbt.workflows.warm

demo: install
	$(VENV)/bin/gridbt demo --out $(DEMO_DIR)

test: install
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check gridbt tests benchmarks
	$(VENV)/bin/mypy gridbt

bench: install
	$(PY) benchmarks/data.py
	$(PY) benchmarks/kernel.py
	$(PY) benchmarks/sweep.py
	$(PY) benchmarks/mlflow_logging.py
	$(PY) benchmarks/startup.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .gridbt-cache
