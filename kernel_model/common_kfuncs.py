"""Kfuncs that need no subsystem of their own (Linux 6.18).

* ``int bpf_copy_from_user_str(void *dst, u32 dst__sz, const void *unsafe_ptr__ign, u64 flags)``
  (kernel/bpf/helpers.c ``common_btf_ids``, 6.12+, ``KF_SLEEPABLE``: every program type, only
  sleepable programs): copies a NUL-terminated string from user memory
  (``strncpy_from_user``); ``flags`` may be 0 or ``BPF_F_PAD_ZEROS`` (bit 0, the rest of ``dst``
  zeroed), anything else is ``-EINVAL``; a zero-sized ``dst`` gives 0; a fault its error
  (``dst`` cleared with ``BPF_F_PAD_ZEROS``); otherwise the length copied with its NUL (the
  string is cut to fit). The emulated kernel does not run it (a call stops the run as not
  modelled).
* ``int bpf_sk_assign_tcp_reqsk(struct __sk_buff *s, struct sock *sk, struct
  bpf_tcp_req_attrs *attrs, int attrs__sz)`` (net/core/filter.c ``bpf_kfunc_check_set_tcp_reqsk``,
  6.9+, ``KF_TRUSTED_ARGS``, registered for ``BPF_PROG_TYPE_SCHED_CLS``), with ``struct
  bpf_tcp_req_attrs`` (include/net/tcp.h); not run (the emulated kernel has no TCP listeners).
* ``s64 bpf_map_sum_elem_count(const struct bpf_map *map)`` (kernel/bpf/map_iter.c
  ``bpf_map_iter_kfunc_ids``, ``KF_TRUSTED_ARGS``, registered for every program type): the
  sum of the map's per-CPU ``elem_count`` (0 for a map without one). Not run either.
"""

from __future__ import annotations

from .bpf_facts import kfuncs as facts

__all__ = ["COMMON_KFUNCS", "BPF_F_PAD_ZEROS", "common_kfuncs_c"]

COMMON_KFUNCS: tuple[str, ...] = ("bpf_copy_from_user_str", "bpf_map_sum_elem_count", "bpf_sk_assign_tcp_reqsk")

_TYPES_C = r"""
/* include/net/tcp.h (CONFIG_SYN_COOKIES, 6.9+) */
struct bpf_tcp_req_attrs {
    u32 rcv_tsval; u32 rcv_tsecr; u16 mss; u8 rcv_wscale; u8 snd_wscale; u8 ecn_ok; u8 wscale_ok;
    u8 sack_ok; u8 tstamp_ok; u8 usec_ts_ok; u8 reserved[3];
};
"""
#: include/uapi/linux/bpf.h
BPF_F_PAD_ZEROS = 1 << 0


def common_kfuncs_c() -> str:
    """The prototypes (6.18 declarations; ``struct bpf_map`` is in the emulated vmlinux)."""
    return "\n".join([_TYPES_C, "/* kernel/bpf/helpers.c, kernel/bpf/map_iter.c, net/core/filter.c */"]
                     + [facts.prototype_c(n) for n in COMMON_KFUNCS]) + "\n"
