# The two commands a newcomer needs are `make demo` and `make test`;
# each creates .venv and installs what it needs by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/archinspect count configs/unet.yaml

test: $(STAMP)
	$(BIN)/pytest -q -n 2 -m "not slow"
	$(BIN)/ruff check archinspect tests benchmarks
	$(BIN)/archinspect check --require-budget configs/*.yaml

# Every case, the slow ends of the seeded grids included.
test-all: $(STAMP)
	$(BIN)/pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check archinspect tests benchmarks
	$(BIN)/ruff format --check archinspect tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_count.py

clean:
	rm -rf $(VENV) build *.egg-info
