"""The kernel-selftest corpus (tests/data/selftests): the model against the host's recorded labels.

Two parts, both labelled by a real kernel (the release is in every label):

* the raw-instruction tests of ``verifier/*.c`` (raw_cases.jsonl), loaded as
  test_verifier loads them -- root, and CAP_BPF only for socket filters and
  cgroup skb programs -- checked on verdict, errno, the kernel's message (the
  last log line before the statistics) and the ``processed`` count;
* every program of the compiled ``progs/*.c`` objects (labels.jsonl), loaded
  alone through the libbpf-like loader into the emulated kernel
  (:mod:`emu.libbpf.per_prog`), checked on verdict, errno and message.

Programs of a type the model does not have are left out of the per-program
tests; those of a modelled type that need maps, kernel types or helpers the
model lacks are skipped with the reason. Both are "not modelled": counted apart
(by :func:`test_no_false_accepts`), never as agreement. A false accept (the model accepts what the host rejected) is a
soundness bug and fails :func:`test_no_false_accepts`, which also prints the
counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from emu.host.hostbpf import comparable_log
from tests.corpus import (
    VERIFIER_VERDICTS, manifest, object_path, program_labels, raw_case_program, raw_cases,
)
from verifier import verify

#: BPF_LOG_LEVEL1 | BPF_LOG_STATS, the level of every host label
LOG_LEVEL = 5
MODES = {"root": ("kernel", True), "cap_bpf": ("kernel_cap_bpf", False)}
#: differences that are not the model's: (case id, mode) -> why
KNOWN = {
    ("ld_imm64.c:10", "root"): "the case loads map fd 1, which in the labelling process was its stdout: "
                               "the host said EINVAL (an open fd that is not a map); with no fd 1 the model "
                               "says EBADF, as the kernel would (__bpf_map_get)",
    ("ld_imm64.c:10", "cap_bpf"): "as for root: fd 1 was the labeller's stdout",
    # model differences (strict xfails, named in docs/verifier.md)
    ("calls.c:0", "root"): "a kfunc call with imm 0 is deferred by the kernel (add_kfunc_call, check_kfunc_call) "
                           "and refused after verifying; the model refuses it at once",
    ("calls.c:1", "root"): "as calls.c:0: the deferred imm-0 kfunc call, here unreachable, is accepted",
}


def _raw_params() -> list[Any]:
    out = []
    for c in raw_cases():
        for mode, (key, _priv) in MODES.items():
            k = c.get(key)
            if not k or k["verdict"] not in VERIFIER_VERDICTS or raw_case_program(c).not_modelled:
                continue
            why = KNOWN.get((c["id"], mode))
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            out.append(pytest.param(c["id"], mode, id=f"{c['id']}-{mode}", marks=marks))
    return out


_RAW = {c["id"]: c for c in raw_cases()}


def check_raw(cid: str, mode: str) -> tuple[str, Any]:
    """('not_modelled', why) or ('checked', (host label, model result))."""
    key, priv = MODES[mode]
    c = _RAW[cid]
    prog = raw_case_program(c, privileged=priv)
    if prog.not_modelled:
        return "not_modelled", prog.not_modelled
    r = verify(prog.insns, prog.env, log_level=LOG_LEVEL)
    if not r.accepted and r.error_line and "is not modelled by structops" in r.error_line:
        return "not_modelled", r.error_line  # a helper the model has no prototype for
    return "checked", (c[key], r)


@pytest.mark.parametrize("cid,mode", _raw_params())
def test_raw_case_agrees_with_host(cid: str, mode: str) -> None:
    kind, val = check_raw(cid, mode)
    if kind == "not_modelled":
        pytest.skip(f"not modelled: {val}")
    host, r = val
    assert r.accepted == (host["verdict"] == "accepted"), f"host: {host.get('error_line')}\nmodel:\n{r.log}"
    if not r.accepted:
        assert (r.errno, comparable_log(r.error_line)) == (host["errno"], comparable_log(host["error_line"]))
    if not host.get("log_overflow"):
        assert r.processed == host["processed"]


# --- the programs of the compiled objects ------------------------------------------------------------

_PROGS = {r["id"]: r for r in program_labels() if r.get("program") and r["verdict"] in VERIFIER_VERDICTS}


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    from emu.kernel import Kernel

    k = Kernel(modules=())  # the host has no bpf_testmod either
    yield k
    k.shutdown()


def check_program(pid: str, kernel: Any) -> tuple[str, Any]:
    from emu.kernel import SUPPORTED_PROG_TYPES as MODELLED_PROG_TYPES
    from emu.libbpf.per_prog import verify_program

    r = _PROGS[pid]
    if r["prog_type"] not in MODELLED_PROG_TYPES.values():
        return "not_modelled", f"program type {r['prog_type']}"
    o = verify_program(str(object_path(r)), r["program"], kernel=kernel)
    if not o.modelled:
        return "not_modelled", o.detail or o.libbpf
    return "checked", (r, o)


def _modelled_type(pid: str) -> bool:
    from emu.kernel import SUPPORTED_PROG_TYPES as MODELLED_PROG_TYPES

    return _PROGS[pid]["prog_type"] in MODELLED_PROG_TYPES.values()


#: object programs the model rejects where the host accepts (false rejects; never a false
#: accept): program id -> the missing feature. Strict: each must start to agree once built.
KNOWN_OBJECTS: dict[str, str] = {}
#: differences on program types the model verifies (strict xfails, in docs/verifier.md)
KNOWN_OBJECTS.update({
})
KNOWN_OBJECTS.update({
    # both reject at bpf_this_cpu_ptr's type check; only the register's type differs
    "linked_list_fail.o:ptr_walk_scalar": "6.18 reads a pointer member of an allocated object of program BTF "
                                          "as rdonly_untrusted_mem; the model reads it as a scalar",
})


@pytest.mark.parametrize("pid", [pytest.param(p, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_OBJECTS[p])]
                                              if p in KNOWN_OBJECTS else []) for p in
                                 sorted(p for p in _PROGS if _modelled_type(p))])
def test_object_program_agrees_with_host(pid: str, kernel: Any) -> None:
    kind, val = check_program(pid, kernel)
    if kind == "not_modelled":
        pytest.skip(f"not modelled: {val}")
    host, o = val
    assert o.verdict == host["verdict"], f"host: {host.get('error_line')}\nmodel:\n{o.log}"
    if o.verdict == "rejected":
        assert (o.errno, comparable_log(o.error_line)) == (host["errno"], comparable_log(host["error_line"]))


def test_no_false_accepts(kernel: Any) -> None:
    """The model never accepts what the host rejected; prints the corpus figures."""
    tally: Counter[str] = Counter()
    false_accepts = []
    for cid in _RAW:
        for mode, (key, _p) in MODES.items():
            host = _RAW[cid].get(key)
            if not host or host["verdict"] not in VERIFIER_VERDICTS:
                continue
            kind, val = check_raw(cid, mode)
            tally[f"raw {mode}: {kind}"] += 1
            if kind == "checked":
                h, r = val
                tally[f"raw {mode}: agree"] += r.accepted == (h["verdict"] == "accepted")
                if r.accepted and h["verdict"] == "rejected":
                    false_accepts.append(f"{cid} ({mode}): host: {h['error_line']}")
    for pid in _PROGS:
        kind, val = check_program(pid, kernel)
        tally[f"objects: {kind}"] += 1
        if kind == "checked":
            h, o = val
            tally["objects: agree"] += o.verdict == h["verdict"]
            if o.verdict == "accepted" and h["verdict"] == "rejected":
                false_accepts.append(f"{pid}: host: {h['error_line']}")
    print("\n" + "\n".join(f"{k}: {v}" for k, v in sorted(tally.items())))
    assert not false_accepts, "\n".join(false_accepts)
    # the corpus is what it was labelled as: a classification gone wrong would empty it
    assert tally["raw root: checked"] >= 250 and tally["objects: checked"] >= 15, tally


# --- the corpus data itself ---------------------------------------------------------------------------

def test_corpus_is_complete_and_keeps_out_the_independent_check() -> None:
    m = manifest()
    objs = {r["object"] for r in program_labels()}
    assert len(objs) == m["compiled"]
    assert all(object_path({"object": o}).exists() for o in objs)
    assert not any(o.startswith("verifier_") for o in objs)
    assert not any(c["id"].startswith("verifier_") for c in raw_cases())  # raw files are verifier/<name>.c
    assert sum(1 for r in program_labels() if r.get("program")) == m["programs"]
    assert len(raw_cases()) == m["raw_cases"]
    assert {r["kernel"] for r in program_labels() if r.get("program") and "kernel" in r} == {m["host_kernel"]}


def test_annotations_are_read_as_test_loader_reads_them() -> None:
    """build.py's reading of bpf_misc.h's decl tags: __msg in __COUNTER__ order (BTF does not
    keep source order), __flag as a list, values as written, unknown tags kept apart."""
    from tests.corpus import build_module

    build = build_module()
    a = build.parse_annotations([
        "test_expect_msg=12=second", "test_expect_failure", "test_expect_msg=3=first: a=b",
        "test_prog_flags=BPF_F_ANY_ALIGNMENT", "test_prog_flags=BPF_F_TEST_STATE_FREQ", "test_log_level=2",
        "test_retval=POINTER_VALUE", "test_description=x=1", "test_expect_msg_unpriv=5=u", "test_new_tag=1"])
    assert a["msgs"] == ["first: a=b", "second"] and a["msgs_unpriv"] == ["u"]
    assert a["failure"] and not a["success"] and not a["auxiliary"]
    assert a["flags"] == ["BPF_F_ANY_ALIGNMENT", "BPF_F_TEST_STATE_FREQ"]
    assert (a["log_level"], a["retval"], a["description"]) == (2, "POINTER_VALUE", "x=1")
    assert a["other"] == ["test_new_tag=1"]


def test_recorded_annotations_match_the_selftests_expectations() -> None:
    """The second label is read right: where the host ran a program the selftest annotates
    and the host gives a verdict, the annotation and the 6.18 host agree but for a few
    programs whose verdict changed after 6.12."""
    agree = disagree = 0
    for r in program_labels():
        a = r.get("annotations") or {}
        if not r.get("program") or r["verdict"] not in VERIFIER_VERDICTS or a.get("success") == a.get("failure"):
            continue
        want = "accepted" if a["success"] else "rejected"
        agree += want == r["verdict"]
        disagree += want != r["verdict"]
    assert agree >= 290 and disagree <= 5, (agree, disagree)
