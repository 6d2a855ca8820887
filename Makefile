# phi-lab: the two commands are `make reproduce` and `make test`; both do their own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.phi-lab-installed
PRESET ?= micro
OUT ?= runs/$(PRESET)
PYTEST_ARGS ?=

.PHONY: setup test lint reproduce smoke lab bench clean-venv

setup: $(STAMP)

# Re-installs only when pyproject.toml or this file changes; otherwise `make setup` is a no-op.
# DeepSpeed builds no ops at install time (DS_BUILD_OPS=0): on CPU it JIT-compiles the few it needs.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	DS_BUILD_OPS=0 $(PY) -m pip install --quiet -e '.[test,notebooks,deepspeed]'
	$(PY) -m ipykernel install --prefix $(VENV) --name phi-lab --display-name "phi-lab (.venv)" >/dev/null
	$(PY) -c "from phi_lab.lab import install_lab_settings; install_lab_settings()"
	@touch $@

lint: setup
	$(VENV)/bin/ruff check phi_lab tests bench
	$(VENV)/bin/ruff format --check phi_lab tests bench

# pytest exit code 5 means "no tests collected": for us that is a failure, never a pass.
test: setup lint
	@set +e; $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

reproduce: setup
	$(VENV)/bin/phi-lab reproduce --preset $(PRESET) --out $(OUT)

smoke:
	$(MAKE) reproduce PRESET=smoke

# JupyterLab on notebooks/: a double-click opens a notebook as a notebook, with the phi-lab kernel.
lab: setup
	$(PY) -m phi_lab.lab

bench: setup
	$(PY) bench/model_step.py

clean-venv:
	rm -rf $(VENV)
