# The two commands a newcomer needs are `make demo` and `make test`;
# each creates .venv and installs what it needs by itself.
# `make demo` installs what a user installs (the package alone); `make test`, `make lint` and
# `make bench` add the test extra and the dev extra (ruff, which `make test` runs, and mypy).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check
USER_STAMP := $(VENV)/.installed-user
STAMP := $(VENV)/.installed-test

.PHONY: demo test test-all test-min lint install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(USER_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $(USER_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[plot,test,dev]'
	touch $(USER_STAMP) $(STAMP)

install: $(STAMP)

demo: $(USER_STAMP)
	$(BIN)/archinspect count configs/unet.yaml

test: $(STAMP)
	$(BIN)/pytest -q -n 2 -m "not slow"
	$(BIN)/ruff check archinspect tests benchmarks
	$(BIN)/archinspect check --require-budget configs/*.yaml

# Every case, the slow ends of the seeded grids included.
test-all: $(STAMP)
	$(BIN)/pytest -q -n 2

# The suite at the lowest declared versions (README "Set-up"): pip has no lowest-version
# resolution, so tools/min_constraints.py pins every `>=` floor of pyproject.toml with `==`.
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed-min

$(MIN_STAMP): pyproject.toml tools/min_constraints.py
	$(PYTHON) -m venv $(MIN_VENV)
	$(PYTHON) tools/min_constraints.py > $(MIN_VENV)/constraints.txt
	$(MIN_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-c $(MIN_VENV)/constraints.txt -e '.[plot,flax,test]'
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(MIN_VENV)/bin/pip check
	$(MIN_VENV)/bin/python tools/min_constraints.py --verify
	$(MIN_VENV)/bin/pytest -q -n 2 -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check archinspect tests benchmarks
	$(BIN)/ruff format --check archinspect tests benchmarks
	$(BIN)/mypy

# One Markdown table (README, "Performance"); e.g. make bench BENCH_ARGS="--runs 5 --plot docs/bench.png"
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(MIN_VENV) build *.egg-info
