# Neural Architecture Search with reinforcement learning: build, test, run.
#
# libtorch: when LIBTORCH is set, tch links against it. Otherwise the first
# target that needs it creates a Python virtual environment ($(VENV)),
# installs torch==$(TORCH_VERSION) from PyPI into it, and tch is built with
# LIBTORCH_USE_PYTORCH=1 against that torch.

SHELL := /bin/bash
.DEFAULT_GOAL := help

TORCH_VERSION := 2.11.0
VENV ?= $(CURDIR)/.venv
PYTHON ?= python3
CARGO ?= cargo
CARGO_FLAGS ?= --release --locked

ifeq ($(strip $(LIBTORCH)),)
TORCH_STAMP := $(VENV)/.torch-$(TORCH_VERSION)
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
else
TORCH_STAMP :=
endif

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.torch-$(TORCH_VERSION):
	@echo "Setting up libtorch: torch==$(TORCH_VERSION) into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --quiet torch==$(TORCH_VERSION)
	$(VENV)/bin/python -c 'import torch; assert torch.__version__.split("+")[0] == "$(TORCH_VERSION)", torch.__version__'
	touch $@

.PHONY: libtorch
libtorch: $(TORCH_STAMP) ## Install libtorch (torch from PyPI) unless LIBTORCH is set

.PHONY: build
build: $(TORCH_STAMP) ## Build nas-controller and nas-worker into target/release/
	$(CARGO) build $(CARGO_FLAGS) --workspace --bins

.PHONY: services
services: ## Start what the tests need: RabbitMQ (if down) and a Garage S3 server
	tests/services/rabbitmq.sh
	tests/services/garage.sh start > /dev/null

.PHONY: test
test: build services ## Run every test (what CI runs)
	. "$$(tests/services/garage.sh env)" && $(CARGO) test $(CARGO_FLAGS) --workspace

.PHONY: lint
lint: $(TORCH_STAMP) ## rustfmt check and clippy with warnings denied
	$(CARGO) fmt --all --check
	$(CARGO) clippy $(CARGO_FLAGS) --workspace --all-targets -- -D warnings

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: schemas
schemas: ## Regenerate the JSON Schemas in schemas/ from the Rust types
	$(CARGO) run $(CARGO_FLAGS) -p nas-schemas

.PHONY: simulate
simulate: build ## REINFORCE against random search on the synthetic oracle (800 children, 10 seeds)
	./target/release/nas-controller simulate --oracle synthetic --space cnn --strategies reinforce,random --budget 800 --seeds 10

.PHONY: bench-train
bench-train: build ## nas-worker against PyTorch eager on one CNN spec (real CIFAR-10 from ../shared/data)
	$(VENV)/bin/python bench/bench_train.py $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove build outputs (keeps the virtual environment)
	$(CARGO) clean
