# rnnlab: `make train` runs the main job, `make test` runs the tests. Both set up .venv first if needed.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# The machine's pip config may point at a local CPU-only torch wheel that PyPI's torchvision cannot load
# beside; install from the package index only.
PIPENV  := PIP_FIND_LINKS= PIP_NO_FIND_LINKS=1

# Use the MNIST copy beside the checkout when there is one and nothing else was chosen.
ifeq ($(RNNLAB_DATA_DIR),)
ifneq ($(wildcard ../shared/data/MNIST/raw),)
export RNNLAB_DATA_DIR := $(abspath ../shared/data)
endif
endif

.PHONY: install test test-fast lint format train notebook clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(PIPENV) $(BIN)/pip install --quiet --upgrade pip
	$(PIPENV) $(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The inner loop: everything but the tests marked slow (processes, torchrun, kill -9, Triton's interpreter and
# compiler, the notebook). `make test` runs those too, and CI runs `make test`.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# The tutorial in JupyterLab: installs the notebook extra into .venv the first time, then opens the notebook (as
# root, as in a container, JupyterLab asks for --allow-root)
notebook: $(STAMP)
	$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(PIPENV) $(BIN)/pip install --quiet -e '.[notebook]'
	$(BIN)/jupyter lab docs/tutorial.ipynb $(if $(filter 0,$(shell id -u)),--allow-root)

# ruff on everything; mypy on rnnlab/ at the strictness pyproject.toml states ([tool.mypy])
lint: $(STAMP)
	$(BIN)/ruff check rnnlab tests scripts
	$(BIN)/ruff format --check rnnlab tests scripts
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format rnnlab tests scripts
	$(BIN)/ruff check --fix rnnlab tests scripts

train: $(STAMP)
	$(BIN)/python scripts/train_default.py

clean:
	rm -rf $(VENV) build *.egg-info
