# Two entry points for a fresh machine with python3: `make demo` and `make test`.
# Each creates .venv when missing and installs the project into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs-img test-long test-jit-long fuzz install-check bench bench-quick clean examples

$(STAMP): pyproject.toml setup.py kernel_model/btf/_accel.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,plot]'
	touch $(STAMP)

# The verifier compiled with mypyc (verifier/accel.py), rebuilt when its sources change;
# without a C compiler or the Python headers it stays pure Python (same results, slower).
ACCEL := $(VENV)/.accel
$(ACCEL): $(STAMP) $(wildcard verifier/*.py kernel_model/*.py)
	$(BIN)/python -m verifier.build_accel build
	touch $(ACCEL)

demo: $(STAMP) $(ACCEL)
	$(BIN)/structops demo

# Tests needing clang find it as `make examples` does: $(CLANG), else the newest clang / clang-NN.
test: $(STAMP) $(ACCEL)
	$(BIN)/python -m pytest -q

# Lint: ruff over the whole tree and mypy over the verifier (rules of both in pyproject.toml),
# in its own venv extra.
lint: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lint]'
	$(BIN)/ruff check .
	$(BIN)/mypy

# The fuzz suite alone (tests/fuzz; HYPOTHESIS_PROFILE=long for thousands of cases per target).
fuzz: $(STAMP)
	$(BIN)/python -m pytest -q tests/fuzz

# Longer property-based runs (more hypothesis examples).
test-long: $(STAMP) $(ACCEL)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q

# The JIT-vs-interpreter differential test with many more examples.
test-jit-long: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q tests/jit/test_bpf_jit_diff.py

# A whole (not editable) install in a fresh venv, run from an empty directory: what a user
# of `pip install .` gets (the demo reads its data from the package, not from examples/).
install-check:
	rm -rf build/install-check && $(PY) -m venv build/install-check/venv && mkdir -p build/install-check/empty
	build/install-check/venv/bin/python -m pip install --quiet .
	rm -rf build/lib build/bdist.*
	cd build/install-check/empty && ../venv/bin/structops --version && ../venv/bin/structops profiles \
		&& ../venv/bin/structops demo > demo.out && tail -1 demo.out \
		&& printf 'r0 = 0\nexit\n' > ok.s && ../venv/bin/structops verify ok.s --json > ok.json \
		&& ../venv/bin/python -c 'import json; print("verify --json:", json.load(open("ok.json"))["exit_status"])' \
		&& ../venv/bin/structops tramp --type bpf_dummy_ops --svg p.svg > /dev/null \
		&& ../venv/bin/python -c 'import xml.etree.ElementTree as E; print("tramp --svg:", E.parse("p.svg").getroot().tag)' \
		&& ../venv/bin/structops verify $(CURDIR)/examples/dummy_st_ops.bpf.o --dot g.dot > /dev/null \
		&& head -1 g.dot

bench: $(STAMP) $(ACCEL)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

bench-quick: $(STAMP) $(ACCEL)
	for b in benchmarks/*.py; do $(BIN)/python $$b --quick || exit 1; done

# The example BPF objects: vmlinux.h from the emulated kernel, then clang (see examples/README.md).
# clang: $(CLANG) when set, else the newest of clang and clang-NN on PATH (emu/host/toolchain.py, the
# rule the tests use too).
BPF_CFLAGS := -target bpf -O2 -g -Wall -Wno-unused-variable -fdebug-prefix-map=$(CURDIR)=. \
	-Iexamples -I/usr/include/x86_64-linux-gnu
examples: $(STAMP)
	$(BIN)/structops btf dump --kernel --format c > examples/vmlinux.h
	clang=$$(CLANG="$(CLANG)" $(BIN)/python -m emu.host.toolchain clang) || exit 1; echo "clang: $$clang"; \
	for f in examples/*.bpf.c; do $$clang $(BPF_CFLAGS) -c $$f -o $${f%.c}.o || exit 1; done

# The pictures of README.md and docs/ (docs/img), drawn by the tool itself.
docs-img: $(STAMP)
	$(BIN)/structops sim tcp --algo cubic --flows 2 --bw 50 --rtt 40 --buffer 80 --loss 0.0002 \
		--duration 20 --seed 1 --plot docs/img/sim-tcp-cubic.svg > /dev/null
	$(BIN)/structops sim sched examples/scx_vtime.bpf.o --cpus 4 --tasks 8 --duration 2 --seed 1 \
		--plot docs/img/sim-sched-vtime.svg > /dev/null
	$(BIN)/structops tramp --decl examples/many_ops.h:many_ops --svg docs/img/tramp-pages-6.18.svg > /dev/null
	-$(BIN)/structops tramp --decl examples/many_ops.h:many_ops --profile 6.8 \
		--svg docs/img/tramp-pages-6.8.svg > /dev/null 2>&1

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis verifier/_accel
