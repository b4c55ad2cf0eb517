"""Kernel functions programs name as symbols, though the emulated kernel runs none of them.

A program may name a kernel function without calling it: as an attach target
(``SEC("kprobe/bpf_fentry_test3")``), as an address (``extern const void schedule __ksym;``,
a typeless ksym libbpf resolves through ``/proc/kallsyms``), or as a typed function ksym
(``extern int bpf_fentry_test1(int a) __ksym;``, which libbpf looks up as a FUNC of vmlinux's
BTF). These are the ones the BPF selftests name, as Linux 6.18's vmlinux BTF declares them
(prototypes read from a 6.18 x86-64 BTF; the 6.12 sources have the same but for
``bpf_fentry_test10``, new since):

* net/bpf/test_run.c: ``bpf_fentry_test1`` ... ``bpf_fentry_test10``, ``bpf_fentry_test_sinfo``,
  ``bpf_fentry_shadow_test``, ``bpf_modify_return_test`` -- functions ``BPF_PROG_TEST_RUN`` of a
  tracing program calls (``bpf_modify_return_test2`` and ``_tp`` are left out: 6.18 lets programs
  call ``_tp`` as a kfunc, which the emulated kernel does not register, so a program calling it
  stays "not modelled" rather than refused). ``bpf_fentry_test1`` and the three ``bpf_modify_return_test*`` are in the
  ``bpf_test_modify_return_ids`` set (``register_btf_fmodret_id_set``): a ``BTF_KFUNCS`` set, so
  on a real kernel pahole tags their FUNCs ``bpf_kfunc`` (:data:`FMODRET_KFUNCS`), though
  programs cannot call them. The emulated BTF leaves them untagged (where we differ): its tags
  name exactly the kfuncs a program may call, which is what its ``vmlinux.h`` declares;
* kernel/sched/core.c: ``schedule``.

Every FUNC of a vmlinux BTF is a text symbol of the kernel (pahole emits FUNCs for the
functions the image's symbol table has), so these are in the emulated kernel's kallsyms too
(:meth:`emu.kernel.Kernel.proc_kallsyms`), at emulated addresses.
"""

from __future__ import annotations

from typing import Final

__all__ = ["KTEXT_FUNCS", "FMODRET_KFUNCS", "ktext_funcs_c"]

#: name -> the 6.18 prototype (parameter names as its BTF has them)
KTEXT_FUNCS: Final[dict[str, str]] = {
    "bpf_fentry_test1": "int bpf_fentry_test1(int a)",
    "bpf_fentry_test2": "int bpf_fentry_test2(int a, u64 b)",
    "bpf_fentry_test3": "int bpf_fentry_test3(char a, int b, u64 c)",
    "bpf_fentry_test4": "int bpf_fentry_test4(void *a, char b, int c, u64 d)",
    "bpf_fentry_test5": "int bpf_fentry_test5(u64 a, void *b, short c, int d, u64 e)",
    "bpf_fentry_test6": "int bpf_fentry_test6(u64 a, void *b, short c, int d, void *e, u64 f)",
    "bpf_fentry_test7": "int bpf_fentry_test7(struct bpf_fentry_test_t *arg)",
    "bpf_fentry_test8": "int bpf_fentry_test8(struct bpf_fentry_test_t *arg)",
    "bpf_fentry_test9": "u32 bpf_fentry_test9(u32 *a)",
    "bpf_fentry_test10": "int bpf_fentry_test10(const void *a)",
    "bpf_fentry_test_sinfo": "void bpf_fentry_test_sinfo(struct skb_shared_info *sinfo)",
    "bpf_fentry_shadow_test": "int bpf_fentry_shadow_test(int a)",
    "bpf_modify_return_test": "int bpf_modify_return_test(int a, int *b)",
    "schedule": "void schedule(void)",
}

#: net/bpf/test_run.c bpf_test_modify_return_ids: FUNCs pahole tags ``bpf_kfunc``
FMODRET_KFUNCS: Final = ("bpf_fentry_test1", "bpf_modify_return_test", "bpf_modify_return_test2",
                         "bpf_modify_return_test_tp")


def ktext_funcs_c(text: str) -> str:
    """The declarations to append to the emulated vmlinux's C ``text`` (the structs they
    point to are declared when ``text`` lacks them; appended: no earlier type id moves)."""
    out = ["/* net/bpf/test_run.c, kernel/sched/core.c: functions named as symbols */"]
    if "struct bpf_fentry_test_t {" not in text:
        out.append("struct bpf_fentry_test_t { struct bpf_fentry_test_t *a; };")
    if "struct skb_shared_info {" not in text:
        out.append("struct skb_shared_info;")
    out.extend(f"{proto};" for proto in KTEXT_FUNCS.values())
    return "\n".join(out) + "\n"
