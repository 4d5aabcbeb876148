# Back-office robots: the two commands are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ROBOT := $(BIN)/robot --pythonpath keywords --outputdir output
export PYTHONPATH := $(CURDIR)/keywords

.PHONY: help setup system run test test-setup servers pytest acceptance dryrun lint format bench corpus accuracy clean

help:
	@echo "make run    set up and run the robots on the bundled sample mailbox"
	@echo "make test   set up (with the test servers) and run every test"
	@echo "make lint   ruff and Robocop, check only"
	@echo "make bench  benchmarks, each printed as a ratio against a same-run baseline"
	@echo "make corpus    generate the labelled invoice corpus in var/corpus"
	@echo "make accuracy  per-field extraction accuracy over that corpus"

system:
	@bash scripts/install-system.sh

$(BIN)/.installed: pyproject.toml | system
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: system $(BIN)/.installed

# make run works for the sample company unless you have your own .env (or BACKOFFICE_ENV_FILE).
run: export BACKOFFICE_ENV_FILE ?= $(if $(wildcard .env),.env,resources/samples/company.env)
run: setup
	$(ROBOT) --name "Back office" --consolewidth 100 \
		--variable CONTRACT_FORMS:resources/samples/contracts \
		robots/sample-mailbox.robot robots/intake.robot robots/payments.robot \
		robots/invoices.robot \
		robots/contracts.robot robots/billing.robot robots/access.robot robots/reminders.robot \
		robots/outbox.robot robots/status.robot
	@$(BIN)/backoffice status

test-setup: setup
	@bash scripts/install-system.sh --test
	@bash scripts/servers.sh start

servers: test-setup

pytest: test-setup
	$(BIN)/pytest

dryrun: setup
	$(ROBOT) --dryrun --output NONE --report NONE --log NONE robots
	$(ROBOT) --dryrun --output NONE --report NONE --log NONE tests/acceptance

acceptance: test-setup
	$(ROBOT) --outputdir output/acceptance tests/acceptance

test: test-setup dryrun pytest acceptance

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/robocop check robots resources tests/acceptance
	$(BIN)/robocop format --check robots resources tests/acceptance

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/robocop format robots resources tests/acceptance

bench: test-setup
	@bash scripts/install-system.sh --bench
	$(BIN)/python -m bench

corpus: setup
	$(BIN)/python bench/corpus/generate.py --out var/corpus

accuracy: corpus
	$(BIN)/python bench/accuracy.py --corpus var/corpus

clean:
	rm -rf output var .pytest_cache
