# One command to run, one to test. Both set up everything from a fresh clone.
# Python 3.13+: what Flex Consumption runs and what the worker runtime (azure-functions-runtime) needs.
PYTHON ?= $(shell sh dev/find_python.sh)
ifeq ($(PYTHON),)
$(error No Python 3.13 or later: see the message above, or run make PYTHON=/path/to/python3.13)
endif
# major.minor of $(PYTHON); empty when it is not a 3.13+ interpreter (a PYTHON given by hand is checked too).
PYVER := $(shell $(PYTHON) -c 'import sys; sys.version_info >= (3, 13) and print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifeq ($(PYVER),)
$(error $(PYTHON) is not Python 3.13 or later: run make PYTHON=/path/to/python3.13)
endif
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7071

.PHONY: run test lint unit integration browser resilience infra-check js-deps bench load real-model clean

# A .venv made by another Python (an older clone's 3.11 one) is rebuilt, not installed over.
$(VENV)/.python-$(PYVER):
	@if [ -x $(PY) ] && [ "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PYVER)" ]; then \
	  echo "$(VENV) was made by $$($(PY) -V 2>&1): rebuilding it with $(PYTHON)"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.installed: $(VENV)/.python-$(PYVER) requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## run: serve the app (and the web chat at /) on PORT; uses the simulator when no Azure OpenAI endpoint is set
run: $(VENV)/.installed
	PORT=$(PORT) $(PY) -m dev.run

## test: lint, unit, integration, JS-client, browser, fuzz/overload and infrastructure checks
test: lint unit integration browser resilience infra-check

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit -q

integration: $(VENV)/.installed js-deps
	$(PY) -m pytest tests/integration -q

tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

js-deps: tests/js/node_modules/.installed

browser: $(VENV)/.installed
	bash tests/browser/setup.sh
	$(PY) -m pytest tests/browser -q

resilience: $(VENV)/.installed
	$(PY) -m pytest tests/resilience -q

infra-check:
	$(PYTHON) -m venv .venv-infra
	.venv-infra/bin/python -m pip install --quiet -r tests/infra/requirements.txt
	.venv-infra/bin/python -m pytest tests/infra -q --confcutdir=tests/infra

## bench: the benchmark suite (loopback only, bounded); writes benchmarks/results/
bench: $(VENV)/.installed
	$(PY) -m benchmarks

## load: hundreds of concurrent streams for a fixed time against the local host and simulator
load: $(VENV)/.installed
	$(PY) -m tests.load

## real-model: stream through a real small model (llama-cpp-python + Gemma 3 270M), opt-in
real-model: $(VENV)/.installed
	bash tests/realmodel/run.sh

clean:
	rm -rf $(VENV) .venv-infra .pytest_cache .ruff_cache tests/js/node_modules web/node_modules web/dist benchmarks/.deps

## web: build the web chat into web/dist (the served and deployed folder): npm ci when the lockfile changed, then the copy
.PHONY: web
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web: web/node_modules/.package-lock.json
	cd web && npm run --silent build

run browser: web
