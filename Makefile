# edgevision: the two commands of the quick start are `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= runs/demo

.PHONY: setup demo test test-fast lint clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh $(DEMO_OUT)

test: setup
	@$(PY) -m pytest -q --timeout=600

test-fast: setup
	@$(PY) -m pytest -q -m "not slow" --timeout=300

lint: setup
	@$(VENV)/bin/ruff check src tests
	@$(VENV)/bin/mypy

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
