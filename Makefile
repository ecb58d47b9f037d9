# lynxid: the two commands in README.md are `make demo` and `make test`.
# Both set everything up from the project's own files (Debian packages for R, a Python
# virtual environment from PyPI), so they work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export RETICULATE_PYTHON := $(abspath $(PY))
# R tests must not skip just because Python was not found: here it is set up for them.
export LYNXID_REQUIRE_PYTHON := 1
DEMO_OUT ?= demo-output
# TORCH=cpu: PyTorch's CPU-only builds, for machines without an NVIDIA GPU. PyPI's Linux
# wheels are CUDA builds: of a 6.4 GB .venv, about 4.5 GB (nvidia libraries, triton,
# libtorch_cuda) serve only such GPUs. Installed from PyTorch's own index before the rest, so
# pip keeps them. Default (empty): PyPI's torch, as before.
TORCH ?=
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

ifneq ($(filter-out cpu,$(TORCH)),)
$(error TORCH=$(TORCH) is not known: use TORCH=cpu for the CPU-only PyTorch, or leave it unset)
endif

.PHONY: setup system-deps venv rpkg rpkg-wheel rpkg-vignette demo demo-r test test-fast test-python test-r check-r clean

setup: system-deps venv rpkg

system-deps:
	@bash scripts/install-system-deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
ifeq ($(TORCH),cpu)
	$(PY) -m pip install torch torchvision --index-url $(TORCH_CPU_INDEX)
endif
	$(PY) -m pip install -e '.[dev,r]'
	touch $@

# An existing .venv keeps the torch it has: say so rather than leave the CUDA build in place.
ifeq ($(TORCH),cpu)
venv:
	@$(PY) -c 'import sys, torch; sys.exit(3 if torch.version.cuda else 0)'; rc=$$?; \
	  if [ $$rc = 3 ]; then echo "TORCH=cpu: $(VENV) already holds a PyTorch built for CUDA; remove it (rm -rf $(VENV)) and run 'make setup TORCH=cpu' again" >&2; fi; \
	  exit $$rc
endif

# The vignette has one source, vignettes/lynxid.Rmd; the R package gets a copy when it is
# built or installed (rpkg/vignettes/lynxid.Rmd is not in git).
rpkg-vignette:
	mkdir -p rpkg/vignettes && cp vignettes/lynxid.Rmd rpkg/vignettes/lynxid.Rmd

# The R package carries a wheel of the matching Python package, so install_lynxid()
# installs exactly this version of the Python side.
rpkg-wheel: venv
	rm -rf rpkg/inst/python && mkdir -p rpkg/inst/python
	$(PY) -m pip wheel --no-deps --no-build-isolation -q -w rpkg/inst/python . 2>/dev/null || \
	  $(PY) -m pip wheel --no-deps -q -w rpkg/inst/python .

rpkg: rpkg-wheel rpkg-vignette
	R CMD INSTALL --no-multiarch rpkg

# The demo once, from the command line. `make demo-r` runs the same job from R.
demo: setup
	$(VENV)/bin/lynxid demo --out $(DEMO_OUT)

demo-r: setup
	Rscript -e 'res <- lynxid::run_demo(out = "$(DEMO_OUT)/from-R"); print(head(res))'

test: setup test-python check-r

test-python:
	$(PY) -m pytest -q

# While developing: the Python tests without the slow ones (marked `slow`: model fitting,
# feature extraction, examples). CI runs `make test`, everything.
test-fast: venv
	$(PY) -m pytest -q -m "not slow"

# R CMD check builds the vignette and runs the testthat suite against the real Python side;
# any ERROR or WARNING fails the build.
check-r: rpkg-wheel rpkg-vignette
	rm -rf build/rcheck && mkdir -p build/rcheck
	cd build/rcheck && R CMD build ../../rpkg && \
	  _R_CHECK_FORCE_SUGGESTS_=false R CMD check --no-manual lynxid_*.tar.gz; \
	  status=$$?; cat lynxid.Rcheck/00check.log | tail -n 40; \
	  if [ $$status -ne 0 ] || grep -qE '^Status:.*(ERROR|WARNING)' lynxid.Rcheck/00check.log; then \
	    cat lynxid.Rcheck/tests/testthat.Rout.fail 2>/dev/null | tail -n 80; exit 1; fi

clean:
	rm -rf build dist rpkg/inst/python rpkg/vignettes/lynxid.Rmd $(DEMO_OUT)
