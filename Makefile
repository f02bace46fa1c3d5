# The whole set-up is two commands:  `make demo`  (the main job)  and  `make test`.
# Both install get3d first. An importable torch (CPU or CUDA) is always kept; only when none
# is importable does `install` add torch==$(TORCH_VERSION) (override TORCH_SPEC, e.g.
# TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu" for a CPU-only build).
PYTHON ?= python3
VENV ?= .venv
# The interpreter actually used: $(PYTHON), or $(VENV)/bin/python when $(PYTHON) is a
# distribution's externally managed interpreter (PEP 668) outside any venv/conda env
# (scripts/pick_python.sh creates the venv once and says so). Evaluated when a recipe runs.
PY = $(shell sh scripts/pick_python.sh "$(PYTHON)" "$(VENV)")
TORCH_VERSION ?= 2.13.0
TORCH_SPEC ?= torch==$(TORCH_VERSION)
OUTDIR ?= out/demo
PYTEST_ARGS ?=

.PHONY: install demo test test-all bench

install:
	@py="$(PY)"; $$py -c "import torch" 2>/dev/null \
	  || { echo "get3d: no torch found, installing $(TORCH_SPEC)"; $$py -m pip install $(TORCH_SPEC); }
	$(PY) -m pip install -q -e ".[test]"

demo: install
	$(PY) -m get3d demo --outdir $(OUTDIR)

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest -q -m "" $(PYTEST_ARGS)

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
