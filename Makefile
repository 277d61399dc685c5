# One-command setup: `make demo` and `make test` create .venv from nothing and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast hosts bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch first, so nothing pulls a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[music,diffusion,vgg,test]"
	# only for the real CLIP BPE vocabulary used by the tiny test pipelines; its deps would pull torchvision
	$(BIN)/pip install -q --no-deps open-clip-torch ftfy
	touch $@

# Host applications for the end-to-end tests (Debian packages; installed only when running as root)
hosts:
	bash .ci/install-hosts.sh

demo: $(STAMP)
	$(BIN)/muselink demo

test: $(STAMP) hosts
	$(BIN)/python -m pytest -ra

test-fast: $(STAMP)
	$(BIN)/python -m pytest -ra -m "not host and not slow"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache out
