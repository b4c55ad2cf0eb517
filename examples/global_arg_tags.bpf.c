// SPDX-License-Identifier: GPL-2.0
/* Tagged arguments of global functions (the `arg:` decl tags libbpf's bpf_helpers.h
 * spells __arg_trusted, __arg_nullable, __arg_nonnull, __arg_untrusted), as the kernel's
 * selftests use them with task kfuncs:
 *  - __arg_trusted: the function sees a trusted task; the caller must pass a trusted or
 *    referenced one (an acquired task, the tracepoint's argument), never a walked pointer,
 *    the context, a scalar or NULL ("R1 must be referenced or trusted"), nor a maybe-NULL
 *    one ("R1 type=ptr_or_null_ expected=ptr_, trusted_ptr_, rcu_ptr_");
 *  - with __arg_nullable the caller may pass NULL and the function must check it;
 *  - __arg_untrusted takes anything; the function may read it, not pass it to a kfunc;
 *  - trusted with nonnull, untrusted with anything: refused combinations.
 * Every program is `?` (loaded one at a time). They load into the host kernel too
 * (tests/verifier/test_arg_tags.py compares the verdicts). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define __arg_nonnull __attribute((btf_decl_tag("arg:nonnull")))
#define __arg_nullable __attribute((btf_decl_tag("arg:nullable")))
#define __arg_trusted __attribute((btf_decl_tag("arg:trusted")))
#define __arg_untrusted __attribute((btf_decl_tag("arg:untrusted")))

char _license[] SEC("license") = "GPL";

__weak int sub_trusted(struct task_struct *t __arg_trusted) { return t->pid; }
__weak int sub_nullable(struct task_struct *t __arg_trusted __arg_nullable) { return t ? t->pid : 0; }
__weak int sub_nullable_bad(struct task_struct *t __arg_trusted __arg_nullable) { return t->pid; }
__weak int sub_acq(struct task_struct *t __arg_trusted) { struct task_struct *a = bpf_task_acquire(t); if (!a) return 0; bpf_task_release(a); return 1; }
__weak int sub_untrusted(struct task_struct *t __arg_untrusted) { return t->pid; }
__weak int sub_untrusted_void(void *p __arg_untrusted) { return *(int *)p; }
__weak int sub_untrusted_acq(struct task_struct *t __arg_untrusted) { struct task_struct *a = bpf_task_acquire(t); if (a) bpf_task_release(a); return 0; }
__weak int sub_bad_combo(struct task_struct *t __arg_trusted __arg_nonnull) { return 0; }
__weak int sub_bad_combo2(struct task_struct *t __arg_untrusted __arg_nullable) { return 0; }
__weak int sub_cgrp(struct cgroup *c __arg_trusted) { return c->level; }
__weak int sub_nullable_fwd(struct task_struct *t __arg_trusted __arg_nullable) { return sub_nullable(t); }
__weak int sub_nullable_to_trusted(struct task_struct *t __arg_trusted __arg_nullable) { return sub_trusted(t); }

SEC("?tp_btf/task_newtask") int BPF_PROG(pass_trusted, struct task_struct *task, u64 f) { return sub_trusted(task); }
SEC("?tp_btf/task_newtask") int BPF_PROG(pass_null_to_nonnull, struct task_struct *task, u64 f) { return sub_trusted(0); }
SEC("?tp_btf/task_newtask") int BPF_PROG(pass_null_to_nullable, struct task_struct *task, u64 f) { return sub_nullable(0); }
SEC("?tp_btf/task_newtask") int BPF_PROG(nullable_deref, struct task_struct *task, u64 f) { return sub_nullable_bad(task); }
SEC("?tp_btf/task_newtask") int BPF_PROG(pass_maybe_null, struct task_struct *task, u64 f) { struct task_struct *t = bpf_task_from_pid(1); int r = sub_trusted(t); if (t) bpf_task_release(t); return r; }
SEC("?tp_btf/task_newtask") int BPF_PROG(pass_maybe_null_nullable, struct task_struct *task, u64 f) { struct task_struct *t = bpf_task_from_pid(1); int r = sub_nullable(t); if (t) bpf_task_release(t); return r; }
SEC("?tp_btf/task_newtask") int BPF_PROG(pass_acquired, struct task_struct *task, u64 f) { struct task_struct *t = bpf_task_from_pid(1); int r; if (!t) return 0; r = sub_acq(t); bpf_task_release(t); return r; }
SEC("?tp_btf/task_newtask") int BPF_PROG(pass_walked, struct task_struct *task, u64 f) { return sub_trusted(task->parent); }
SEC("?tp_btf/task_newtask") int BPF_PROG(pass_wrong_type, struct task_struct *task, u64 f) { return sub_cgrp((void *)task); }
SEC("?tp_btf/task_newtask") int BPF_PROG(pass_scalar, struct task_struct *task, u64 f) { return sub_trusted((void *)f); }
SEC("?tp_btf/task_newtask") int BPF_PROG(pass_ctx, struct task_struct *task, u64 f) { return sub_trusted((void *)ctx); }
SEC("?tp_btf/task_newtask") int BPF_PROG(untrusted_any, struct task_struct *task, u64 f) { return sub_untrusted((void *)f) + sub_untrusted(task); }
SEC("?tp_btf/task_newtask") int BPF_PROG(untrusted_void, struct task_struct *task, u64 f) { return sub_untrusted_void(task); }
SEC("?tp_btf/task_newtask") int BPF_PROG(untrusted_to_kfunc, struct task_struct *task, u64 f) { return sub_untrusted_acq(task); }
SEC("?tp_btf/task_newtask") int BPF_PROG(bad_combo, struct task_struct *task, u64 f) { return sub_bad_combo(task); }
SEC("?tp_btf/task_newtask") int BPF_PROG(bad_combo2, struct task_struct *task, u64 f) { return sub_bad_combo2(task); }
SEC("?tp_btf/task_newtask") int BPF_PROG(nullable_forwarded, struct task_struct *task, u64 f) { return sub_nullable_fwd(task); }
SEC("?tp_btf/task_newtask") int BPF_PROG(nullable_to_nonnull, struct task_struct *task, u64 f) { return sub_nullable_to_trusted(task); }
SEC("?tc") int tc_pass_null(struct __sk_buff *s) { return sub_nullable(0); }
SEC("?tc") int tc_pass_ctx(struct __sk_buff *s) { return sub_trusted((void *)s); }
SEC("?syscall") int sys_trusted(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); int r; if (!t) return 0; r = sub_trusted(t); bpf_task_release(t); return r; }
SEC("?syscall") int sys_cur(void *ctx) { return sub_trusted(bpf_get_current_task_btf()); }
