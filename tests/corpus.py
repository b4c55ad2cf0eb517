"""The test corpora in tests/data/, read in one place.

* ``CONFORMANCE``: uBPF's instruction-semantics files (tests/data/conformance/README.md).
* The kernel-selftest corpus (tests/data/selftests/README.md), built by
  tests/data/selftests/build.py from Debian's linux-source-6.12 and labelled by a
  real kernel:

  - :func:`program_labels`: one record per program of the compiled
    ``progs/*.c`` objects (``objects/``): the host's verdict when libbpf loads
    the program alone, and the selftest's own annotations;
  - :func:`raw_cases`: the raw-instruction tests of ``verifier/*.c`` with
    their host labels; :func:`raw_case_program` turns one into instructions and
    a :class:`verifier.VerifierEnv` for the model (maps by fixup, the ``lddw``
    immediates pointing at them).

The sources ``progs/verifier_*.c`` are not in this corpus: they are kept for an
independent check (benchmarks/selftests_check.py).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from emu.kernel import SUPPORTED_PROG_TYPES

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
CONFORMANCE = DATA / "conformance" / "ubpf"
SELFTESTS = DATA / "selftests"
OBJECTS = SELFTESTS / "objects"
LABELS = SELFTESTS / "labels.jsonl"
RAW_CASES = SELFTESTS / "raw_cases.jsonl"
MANIFEST = SELFTESTS / "manifest.json"

#: host verdicts that come from the verifier (the others: ``host_policy`` -- this host
#: refuses the program type or a map type before verifying; ``libbpf_error`` -- libbpf
#: stopped before BPF_PROG_LOAD, e.g. a kfunc of a module the host lacks)
VERIFIER_VERDICTS = ("accepted", "rejected")


def conformance_files() -> list[Path]:
    """Every uBPF ``.data`` file: the runtime cases, then ``errors/``."""
    return sorted(CONFORMANCE.glob("*.data")) + sorted((CONFORMANCE / "errors").glob("*.data"))


def _jsonl(path: Path) -> tuple[dict[str, Any], ...]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the corpus is part of the repository "
                                "(rebuild it with tests/data/selftests/build.py)")
    return tuple(json.loads(line) for line in path.read_text().splitlines() if line.strip())


@lru_cache(maxsize=1)
def program_labels() -> tuple[dict[str, Any], ...]:
    """The records of labels.jsonl (README.md lists the fields); ``id`` is ``object:program``."""
    rows = _jsonl(LABELS)
    for r in rows:
        r["id"] = f"{r['object']}:{r.get('program')}"
    return rows


@lru_cache(maxsize=1)
def raw_cases() -> tuple[dict[str, Any], ...]:
    """The records of raw_cases.jsonl; ``id`` is ``file:index``."""
    return _jsonl(RAW_CASES)


@lru_cache(maxsize=1)
def manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text())


def build_module() -> Any:
    """tests/data/selftests/build.py as a module (its compile, label and annotation functions)."""
    import importlib.util
    import sys

    name = "selftests_build"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SELFTESTS / "build.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # dataclasses look their module up while the file runs
        spec.loader.exec_module(mod)
    return sys.modules[name]


def object_path(label: dict[str, Any]) -> Path:
    return OBJECTS / label["object"]


# --- raw cases as programs for the model ------------------------------------------------------------

#: test_verifier's map fixups the model has map types for: (type, key, value, max entries, flags)
#: (tools/testing/selftests/bpf/test_verifier.c, do_test_fixup, Linux 6.12; hash maps get
#: BPF_F_NO_PREALLOC there)
MODELLED_FIXUPS = {
    "map_hash_8b": (1, 8, 8, 1, 1),
    "map_hash_48b": (1, 8, 48, 1, 1),
    "map_hash_16b": (1, 8, 16, 1, 1),
    "map_array_48b": (2, 4, 48, 1, 0),
    "map_array_ro": (2, 4, 48, 1, 1 << 7),
    "map_array_wo": (2, 4, 48, 1, 1 << 8),
    "map_array_small": (2, 4, 1, 1, 0),
}
#: what test_verifier writes at key 0 of its array maps (struct test_val: index 28, foo[6] = 0xabcdef12)
TEST_VAL = struct.pack("<I11i", 28, 0, 0, 0, 0, 0, 0, -0x543210EE, 0, 0, 0, 0)
#: program types the model verifies
MODELLED_PROG_TYPES = SUPPORTED_PROG_TYPES
#: the program types whose raw cases the live whole-log comparison (test_host_diff's corpus d)
#: and the test-run comparison (tests/emu/test_corpus_run.py) cover: the ones modelled before
#: the tracing and packet types, which are verify-only and compared for verdict and last line
#: (tests/verifier/test_corpus.py)
WHOLE_LOG_PROG_TYPES = (1, 27, 31)


@dataclass(frozen=True)
class RawProgram:
    """A raw case ready for the model, or why it is not (``not_modelled``)."""

    insns: list[Any]
    env: Any
    #: key (the lddw immediate) -> (map type, key size, value size, max entries, flags)
    maps: dict[int, tuple[int, int, int, int, int]]
    not_modelled: str | None = None
    #: instruction index -> map key, for the instructions test_verifier's fixups patch
    map_insns: dict[int, int] | None = None


def raw_case_program(case: dict[str, Any], *, privileged: bool = True) -> RawProgram:
    """Instructions and a :class:`verifier.VerifierEnv` for a raw case, loaded the way
    the host label was: the case's prog_flags, a map per fixup (key ``k`` in
    ``env.maps`` is the ``lddw`` immediate), socket filter when the type is 0."""
    from kernel_model.bpf_map import MapSpec
    from kernel_model.insn import Insn, decode
    from verifier import VerifierEnv

    prog_type = case["prog_type"] or 1
    if case.get("insns_hex") is None:
        return RawProgram([], None, {}, "program generated at run time", {})
    raw = decode(bytes.fromhex(case["insns_hex"]), case["id"])
    why = None
    if prog_type not in MODELLED_PROG_TYPES:
        why = f"program type {prog_type}"
    maps: dict[int, tuple[int, int, int, int, int]] = {}
    by_insn: dict[int, int] = {}
    for name, idxs in case["fixups"].items():
        if name not in MODELLED_FIXUPS:
            why = why or f"map fixup {name}"
            continue
        key = len(maps)
        maps[key] = MODELLED_FIXUPS[name]
        for i in idxs:
            by_insn[i] = key
    if case.get("kfunc_fixups"):
        why = why or "kfunc calls"
    if case.get("btf_types_hex"):
        why = why or "program BTF (func_info)"
    insns = [Insn(x.code, x.dst, x.src, x.off, by_insn[k]) if k in by_insn else x for k, x in enumerate(raw)]
    kernel = case.get("kernel") or {}
    attach: dict[str, Any] = {}
    if case.get("kfunc") and case.get("expected_attach_type") == BPF_TRACE_ITER:
        # test_verifier's .kfunc names the attach target: libbpf_find_vmlinux_btf_id, for an
        # iterator the FUNC bpf_iter_<target> of vmlinux
        from kernel_model.btf import structs as BS
        from kernel_model.vmlinux import build_vmlinux_btf
        vml = build_vmlinux_btf()
        fid = vml.find(f"bpf_iter_{case['kfunc']}", BS.KIND_FUNC)
        if fid is None:
            why = why or f"iterator target {case['kfunc']} (not in the emulated vmlinux)"
        attach = dict(attach_btf=vml, vmlinux_btf=vml, attach_btf_id=fid or 0)
    env = VerifierEnv(prog_type=prog_type, prog_flags=kernel.get("prog_flags", 0),
                      expected_attach_type=case.get("expected_attach_type", 0), privileged=privileged,
                      maps={k: MapSpec(t, ks, vs, n, fl, name="", id=k + 1) for k, (t, ks, vs, n, fl) in maps.items()},
                      **attach)
    return RawProgram(insns, env, maps, why, by_insn)


#: enum bpf_attach_type BPF_TRACE_ITER
BPF_TRACE_ITER = 28


def map_init(spec: tuple[int, int, int, int, int]) -> bytes | None:
    """The value test_verifier writes at key 0 of an array fixup map (None: nothing)."""
    t, _k, v, _n, _f = spec
    return TEST_VAL[:v] if t == 2 else None
