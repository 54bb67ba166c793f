# Two entry points: `make demo` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_DIR ?= demo-output
# the results browser (frontend/): npm ci from the lock file, vite build into the package
NPM ?= npm
WEB := frontend
WEB_DEPS := $(WEB)/node_modules/.package-lock.json
WEB_BUILD := gridbt/api/static/index.html
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/public -type f 2>/dev/null) $(WEB)/index.html \
	$(WEB)/vite.config.ts $(WEB)/tsconfig.json $(WEB)/package.json
# root needs no sudo; others use it when it is there
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: demo test install lint bench clean frontend browser services

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# compiles the kernels into the cache once (seconds when they are already there) and builds
# the results browser that `gridbt serve` serves
install: $(STAMP) $(WEB_BUILD)
	$(PY) -m gridbt.workflows.warm

$(WEB_DEPS): $(WEB)/package-lock.json
	command -v $(NPM) >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q nodejs npm; }
	cd $(WEB) && $(NPM) ci --no-audit --no-fund

$(WEB_BUILD): $(WEB_DEPS) $(WEB_SOURCES)
	cd $(WEB) && $(NPM) run build

frontend: $(WEB_BUILD)

# the browser tests drive the system Chromium (Debian's package); nothing is downloaded by them
browser:
	command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

# the cluster tests start a real PostgreSQL (study storage, MLflow backend store) and a real
# Prometheus (scraping Ray's metrics for the dashboards), from Debian's packages; the packages'
# own services are not used (the tests run the binaries in temporary directories)
services:
	{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v prometheus >/dev/null; } || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q postgresql prometheus; }

demo: install
	$(VENV)/bin/gridbt demo --out $(DEMO_DIR)

test: install browser services
	cd $(WEB) && $(NPM) test
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check gridbt tests benchmarks
	$(VENV)/bin/mypy gridbt
	cd $(WEB) && $(NPM) run lint

bench: install
	$(PY) benchmarks/data.py
	$(PY) benchmarks/kernel.py
	$(PY) benchmarks/sweep.py
	$(PY) benchmarks/mlflow_logging.py
	$(PY) benchmarks/startup.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .gridbt-cache $(WEB)/node_modules gridbt/api/static
