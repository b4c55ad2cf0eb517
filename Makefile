# Two entry points for a fresh machine with python3: `make demo` and `make test`.
# Each creates .venv when missing and installs the project into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-long test-jit-long bench bench-quick clean examples

$(STAMP): pyproject.toml setup.py kernel_model/btf/_accel.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,plot]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/structops demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Longer property-based runs (more hypothesis examples).
test-long: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q

# The JIT-vs-interpreter differential test with many more examples.
test-jit-long: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q tests/jit/test_bpf_jit_diff.py

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

bench-quick: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b --quick || exit 1; done

# The example BPF objects: vmlinux.h from the emulated kernel, then clang (see examples/README.md).
CLANG ?= clang
BPF_CFLAGS := -target bpf -O2 -g -Wall -Wno-unused-variable -fdebug-prefix-map=$(CURDIR)=. \
	-Iexamples -I/usr/include/x86_64-linux-gnu
examples: $(STAMP)
	$(BIN)/structops btf dump --kernel --format c > examples/vmlinux.h
	for f in examples/*.bpf.c; do $(CLANG) $(BPF_CFLAGS) -c $$f -o $${f%.c}.o || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
