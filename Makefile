# The whole set-up is two commands:  `make demo`  (the main job)  and  `make test`.
# Both install get3d first. An importable torch (CPU or CUDA) is always kept; only when none
# is importable does `install` add torch==$(TORCH_VERSION) (override TORCH_SPEC, e.g.
# TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu" for a CPU-only build).
PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
TORCH_SPEC ?= torch==$(TORCH_VERSION)
OUTDIR ?= out/demo
PYTEST_ARGS ?=

.PHONY: install demo test test-all bench

install:
	@$(PYTHON) -c "import torch" 2>/dev/null \
	  || { echo "get3d: no torch found, installing $(TORCH_SPEC)"; $(PYTHON) -m pip install $(TORCH_SPEC); }
	$(PYTHON) -m pip install -q -e ".[test]"

demo: install
	$(PYTHON) -m get3d demo --outdir $(OUTDIR)

test: install
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

test-all: install
	$(PYTHON) -m pytest -q -m "" $(PYTEST_ARGS)

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(PYTHON) $$b || exit 1; done
