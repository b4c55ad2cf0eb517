"""Kptrs to kernel types: which kernel structs a map may hold references to, and the kfuncs
that come with them.

Facts (Linux 6.12 sources; the 6.18 host agrees where the corpus tests it):

* :data:`KPTR_DTORS` -- the ``register_btf_id_dtor_kfuncs`` calls: kernel/bpf/helpers.c
  ``generic_dtors`` (``task_struct`` -> ``bpf_task_release_dtor``, ``cgroup`` ->
  ``bpf_cgroup_release_dtor``), kernel/bpf/cpumask.c ``cpumask_dtors`` (``bpf_cpumask`` ->
  ``bpf_cpumask_release_dtor``), net/bpf/test_run.c ``bpf_prog_test_dtor_kfunc``
  (``prog_test_ref_kfunc`` -> ``bpf_kfunc_call_test_release_dtor``, ``prog_test_member`` ->
  ``bpf_kfunc_call_memb_release_dtor``), kernel/bpf/crypto.c ``bpf_crypto_dtors``
  (``bpf_crypto_ctx``). ``btf_parse_kptr`` (kernel/bpf/btf.c) looks a referenced (``__kptr``)
  field's kernel type up there (``btf_find_dtor_kfunc``): that table is the whitelist of kernel
  objects a map may own; a type without a destructor fails the field (-ENOENT).
* :data:`RCU_PROTECTED_TYPES` -- ``rcu_protected_types`` of kernel/bpf/verifier.c
  (``rcu_protected_object``): a referenced kptr to one of them loads as an RCU pointer inside an
  RCU read section (``btf_ld_kptr_type``).
* :data:`DTOR_RELEASES` -- what each destructor does: the release kfunc it wraps (the dtors
  are one-line wrappers of ``bpf_task_release``, ``bpf_cgroup_release``,
  ``bpf_cpumask_release``, ``bpf_kfunc_call_test_release``, ``bpf_crypto_ctx_release``). Each
  becomes a FUNC of the emulated vmlinux BTF, which ``btf_parse_kptr`` needs to find.
* :data:`KPTR_KFUNCS` -- kfuncs of the same sets the core table (:mod:`kernel_model.core_kfuncs`)
  lacked: the two-mask cpumask operations of kernel/bpf/cpumask.c ``cpumask_kfunc_btf_ids``
  (all ``KF_RCU``) and ``bpf_kfunc_call_test_release`` of net/bpf/test_run.c
  ``test_sk_check_kfunc_ids`` (``KF_RELEASE``; SYSCALL, TC and TRACING programs), with
  ``struct prog_test_ref_kfunc`` (the host's vmlinux BTF layout). Their flags and program
  types come from :mod:`kernel_model.bpf_facts.kfuncs`; the rest of ``generic_btf_ids``' task and
  cgroup family (``bpf_task_under_cgroup``, ``bpf_task_get_cgroup1``, and ``bpf_task_from_vpid``, new
  in 6.13, whose flags are stated here from the 6.18 source).
"""

from __future__ import annotations

from typing import Final

from .bpf_facts import kfuncs as facts

__all__ = ["KPTR_DTORS", "RCU_PROTECTED_TYPES", "DTOR_RELEASES", "KPTR_KFUNCS", "kptr_kfuncs_c", "kptr_kfunc_flags",
           "kptr_kfunc_prog_types"]

KPTR_DTORS: Final[dict[str, str]] = {
    "task_struct": "bpf_task_release_dtor",
    "cgroup": "bpf_cgroup_release_dtor",
    "bpf_cpumask": "bpf_cpumask_release_dtor",
    "prog_test_ref_kfunc": "bpf_kfunc_call_test_release_dtor",
    "prog_test_member": "bpf_kfunc_call_memb_release_dtor",
    "bpf_crypto_ctx": "bpf_crypto_ctx_release_dtor",
}

RCU_PROTECTED_TYPES: Final = frozenset({"prog_test_ref_kfunc", "cgroup", "bpf_cpumask", "task_struct",
                                        "bpf_crypto_ctx"})

DTOR_RELEASES: Final[dict[str, str]] = {
    "bpf_task_release_dtor": "bpf_task_release",
    "bpf_cgroup_release_dtor": "bpf_cgroup_release",
    "bpf_cpumask_release_dtor": "bpf_cpumask_release",
    "bpf_kfunc_call_test_release_dtor": "bpf_kfunc_call_test_release",
    # kernel/bpf/crypto.c bpf_crypto_ctx_release_dtor (Linux 6.12/6.18): a __bpf_kfunc FUNC of
    # vmlinux's BTF; without it btf_parse_kptr finds no destructor for a bpf_crypto_ctx kptr
    "bpf_crypto_ctx_release_dtor": "bpf_crypto_ctx_release",
}

KPTR_KFUNCS: Final[tuple[str, ...]] = (
    "bpf_cpumask_first_and", "bpf_cpumask_and", "bpf_cpumask_or", "bpf_cpumask_xor", "bpf_cpumask_equal",
    "bpf_cpumask_intersects", "bpf_cpumask_subset", "bpf_cpumask_copy", "bpf_cpumask_any_distribute",
    "bpf_cpumask_any_and_distribute",
    "bpf_kfunc_call_test_release",
    # kernel/bpf/helpers.c generic_btf_ids: the rest of the task/cgroup family
    "bpf_task_under_cgroup", "bpf_task_get_cgroup1", "bpf_task_from_vpid",
)

#: Linux 6.18 facts the 6.12 extraction lacks: ``bpf_task_from_vpid`` (6.13) is in
#: kernel/bpf/helpers.c ``generic_btf_ids`` with ``KF_ACQUIRE | KF_RET_NULL``, next to
#: ``bpf_task_from_pid`` (so registered for the same program types)
_FLAGS_618: Final[dict[str, tuple[str, ...]]] = {"bpf_task_from_vpid": ("KF_ACQUIRE", "KF_RET_NULL")}
_SAME_SET_AS: Final[dict[str, str]] = {"bpf_task_from_vpid": "bpf_task_from_pid"}


def kptr_kfunc_flags(name: str) -> tuple[str, ...]:
    """The KF_* flags of one of :data:`KPTR_KFUNCS`."""
    from .core_kfuncs import kfunc_flags
    return _FLAGS_618.get(name) or kfunc_flags(name)


def kptr_kfunc_prog_types(name: str) -> frozenset[int]:
    """The program types allowed to call one of :data:`KPTR_KFUNCS` (its set's registrations)."""
    from .core_kfuncs import kfunc_prog_types
    return kfunc_prog_types(_SAME_SET_AS.get(name, name))

#: net/bpf/test_run.c (6.12; the host's vmlinux BTF has the same layout)
TYPES_C = r"""
/* net/bpf/test_run.c: the test kfuncs' object */
struct prog_test_member1 { int a; };
struct prog_test_member { struct prog_test_member1 m; int c; };
struct prog_test_ref_kfunc { int a; int b; struct prog_test_member memb; struct prog_test_ref_kfunc *next; refcount_t cnt; };
"""

#: the destructors (plain FUNCs of vmlinux, not in any kfunc set: programs cannot call them)
_DTORS_C = "".join(f"void {d}(void *p);\n" for d in DTOR_RELEASES)


def kptr_kfuncs_c() -> str:
    """Types, destructors and kfunc prototypes (6.18 declarations) for the emulated vmlinux; placed
    after everything else so no earlier type id moves."""
    lines = [TYPES_C, _DTORS_C]
    for name in KPTR_KFUNCS:
        lines.append(facts.prototype_c(name))
    return "\n".join(lines) + "\n"
