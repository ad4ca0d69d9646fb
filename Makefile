# edgevision: the two commands of the quick start are `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= runs/demo

.PHONY: setup demo test test-fast lint clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh $(DEMO_OUT)

# Two interpreters: the training and video tests (DataLoader worker forks, real signals) crashed
# the whole pytest process (SIGSEGV) when they ran after ~1300 tests that had loaded GStreamer,
# OpenVINO and MQTT client threads into it; each half alone passes. Not explained yet.
TRAIN_TESTS = tests/train tests/video

test: setup
	@$(PY) -m pytest -q --timeout=600 $(addprefix --ignore=,$(TRAIN_TESTS))
	@$(PY) -m pytest -q --timeout=600 $(TRAIN_TESTS)

test-fast: setup
	@$(PY) -m pytest -q -m "not slow" --timeout=300 $(addprefix --ignore=,$(TRAIN_TESTS))
	@$(PY) -m pytest -q -m "not slow" --timeout=300 $(TRAIN_TESTS)

lint: setup
	@$(VENV)/bin/ruff check src tests
	@$(VENV)/bin/mypy

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
