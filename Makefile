# Set-up and entry points. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS ?= dev,spark,s3
# Airflow, for the example DAG's test: an environment of its own (not a package dependency)
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-stamp
AIRFLOW_PINS := examples/airflow/requirements.txt examples/airflow/constraints.txt

.PHONY: install airflow run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

$(AIRFLOW_STAMP): $(AIRFLOW_PINS)
	rm -rf $(AIRFLOW_VENV)
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -r examples/airflow/requirements.txt \
		-c examples/airflow/constraints.txt
	touch $(AIRFLOW_STAMP)

airflow: $(AIRFLOW_STAMP)

run: $(STAMP)
	$(BIN)/healthanalytics run

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

# the Airflow environment is given by name: the example DAG's test fails, not skips, without it
test: $(STAMP) $(AIRFLOW_STAMP) lint
	HEALTHANALYTICS_AIRFLOW_PYTHON=$(CURDIR)/$(AIRFLOW_VENV)/bin/python $(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_benchmarks.py

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) output logs .pytest_cache
