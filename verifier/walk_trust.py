"""The trust of a pointer read out of a kernel struct (``check_ptr_to_btf_access``).

Linux 6.18 (kernel/bpf/verifier.c ``check_ptr_to_btf_access``) gives the
``PTR_TO_BTF_ID`` a read from a trusted or RCU pointer produces its flags from
allow lists kept in vmlinux BTF as ``struct <type>__safe_trusted`` & co
(``BTF_TYPE_SAFE_TRUSTED`` ... ``BTF_TYPE_SAFE_RCU_OR_NULL``), matched by
``btf_nested_type_is_trusted`` on the walked struct's name, the field's name and the
pointee type:

* ``__safe_trusted``: ``PTR_TRUSTED``; ``__safe_trusted_or_null``: ``PTR_TRUSTED |
  PTR_MAYBE_NULL``;
* inside an RCU critical section (``in_rcu_cs``: an RCU read lock, a held lock, or a
  non-sleepable program) from a pointer that cannot be NULL: ``__safe_rcu`` gives
  ``MEM_RCU``, ``__safe_rcu_or_null`` ``MEM_RCU | PTR_MAYBE_NULL``; any other field the
  old, flagless ``PTR_TO_BTF_ID`` (or keeps ``MEM_PERCPU``/``MEM_USER``);
* outside one (or from a maybe-NULL pointer): ``PTR_UNTRUSTED``.

A read through an untrusted or legacy pointer gives ``PTR_UNTRUSTED``, and so does an
unlisted field of a trusted pointer inside an RCU critical section: the 6.18 host's answer
(host-checked), where the 6.12 source gives a legacy, flagless pointer. The lists below are the 6.12 tree's (the 6.18 additions are not known here:
a field missing from them gives a legacy pointer, so a kfunc that wants a trusted or RCU
one refuses -- a false reject, never a false accept), plus the two 6.18 changes the 6.18
host's BTF shows (its ``<struct>__safe_<kind>`` types, which a kernel test compares with
these tables): ``cgroup_subsys_state.cgroup`` is RCU, ``dentry.d_inode`` trusted-or-NULL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .regs import MEM_PERCPU, MEM_RCU, MEM_USER, PTR_MAYBE_NULL, PTR_TRUSTED, PTR_UNTRUSTED, RegState, is_trusted_reg

if TYPE_CHECKING:
    from .core import Env

__all__ = ["SAFE_TRUSTED", "SAFE_TRUSTED_OR_NULL", "SAFE_RCU", "SAFE_RCU_OR_NULL", "walk_flags"]

#: struct -> {field: pointee struct} (kernel/bpf/verifier.c, 6.12)
SAFE_RCU: Final[dict[str, dict[str, str]]] = {
    "task_struct": {"cpus_ptr": "cpumask", "cgroups": "css_set", "real_parent": "task_struct",
                    "group_leader": "task_struct"},
    "cgroup": {"kn": "kernfs_node"},
    "css_set": {"dfl_cgrp": "cgroup"},
    # Linux 6.18 adds BTF_TYPE_SAFE_RCU(struct cgroup_subsys_state) { struct cgroup *cgroup; }
    # (kernel/bpf/verifier.c; the 6.18 host's BTF holds struct cgroup_subsys_state__safe_rcu)
    "cgroup_subsys_state": {"cgroup": "cgroup"},
}
SAFE_RCU_OR_NULL: Final[dict[str, dict[str, str]]] = {
    "mm_struct": {"exe_file": "file"},
    "sk_buff": {"sk": "sock"},
    "request_sock": {"sk": "sock"},
}
SAFE_TRUSTED: Final[dict[str, dict[str, str]]] = {
    "bpf_iter_meta": {"seq": "seq_file"},
    "bpf_iter__task": {"meta": "bpf_iter_meta", "task": "task_struct"},
    "linux_binprm": {"file": "file"},
    "file": {"f_inode": "inode"},
}
SAFE_TRUSTED_OR_NULL: Final[dict[str, dict[str, str]]] = {
    "socket": {"sk": "sock"},
    # Linux 6.18 moved dentry's d_inode from BTF_TYPE_SAFE_TRUSTED to
    # BTF_TYPE_SAFE_TRUSTED_OR_NULL (kernel/bpf/verifier.c; the 6.18 host's BTF holds
    # struct dentry__safe_trusted_or_null and no dentry__safe_trusted)
    "dentry": {"d_inode": "inode"},
}


def _listed(table: dict[str, dict[str, str]], btf: Any, reg: RegState, field: str, btf_id: int) -> bool:
    """``btf_nested_type_is_trusted``: the walked struct (the register's own type), the
    field's name and the pointee struct all match an entry."""
    fields = table.get(btf.type_by_id(reg.btf_id).name)
    if not fields or field not in fields:
        return False
    return btf.type_by_id(btf_id).name == fields[field]


def walk_flags(env: Env, reg: RegState, field: str, btf_id: int, flag: int) -> int:
    """The flags of the ``PTR_TO_BTF_ID`` read from ``reg``'s ``field`` (pointee ``btf_id``;
    ``flag`` is what ``btf_struct_access`` gave: ``PTR_UNTRUSTED`` through a union ...)."""
    if reg.type & PTR_UNTRUSTED:
        flag |= PTR_UNTRUSTED
    btf = reg.btf
    if is_trusted_reg(reg) or reg.type & MEM_RCU:
        if _listed(SAFE_TRUSTED, btf, reg, field, btf_id):
            return flag | PTR_TRUSTED
        if _listed(SAFE_TRUSTED_OR_NULL, btf, reg, field, btf_id):
            return flag | PTR_TRUSTED | PTR_MAYBE_NULL
        st = env.cur
        in_rcu_cs = bool(st.active_rcu_lock or st.active_locks or not st.in_sleepable)
        if in_rcu_cs and not reg.type & PTR_MAYBE_NULL:
            if _listed(SAFE_RCU, btf, reg, field, btf_id):
                return flag | MEM_RCU
            rcu_or_null = _listed(SAFE_RCU_OR_NULL, btf, reg, field, btf_id)
            if flag & MEM_RCU or rcu_or_null:
                flag |= MEM_RCU | PTR_MAYBE_NULL
                if rcu_or_null and flag & PTR_UNTRUSTED:
                    flag &= ~PTR_UNTRUSTED
                return flag
            if flag & (MEM_PERCPU | MEM_USER):
                return flag
            # "walking unknown pointers": the 6.12 source clears the trusted flags (a legacy
            # PTR_TO_BTF_ID); the 6.18 host gives PTR_UNTRUSTED (host-checked: task->parent,
            # task->mm from a trusted task, bpf_map->inner_map_meta from a trusted map)
            return (flag & ~(PTR_TRUSTED | MEM_RCU)) | PTR_UNTRUSTED
        return PTR_UNTRUSTED
    # "old compat" (a legacy pointer walked): likewise untrusted on the 6.18 host (file->f_inode,
    # bpf_link->prog, vm_area_struct->vm_file, unix_sock->addr from the iterators' plain pointers)
    return (flag & ~(PTR_TRUSTED | MEM_RCU)) | PTR_UNTRUSTED
