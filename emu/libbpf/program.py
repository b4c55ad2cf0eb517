"""BPF programs of an object: section definitions, relocation records, subprograms.

Models ``struct bpf_program`` and the code paths around it in ``src/libbpf.c``
(libbpf 1.8):

* **section definitions** (``section_defs[]``, ``sec_def_matches``): libbpf's
  sections with their program type and expected attach type (the emulated
  kernel refuses the program types it does not model at BPF_PROG_LOAD, as
  "not modelled"). ``type+`` matches ``type`` or ``type/...``; the text after
  ``/`` of a struct_ops section is ignored (a struct_ops program is bound to a
  member by the data relocations only); sections that attach by kernel BTF
  (``fentry/FUNC``, ``lsm/HOOK``, ...) are refused before the load as not
  modelled (the emulated vmlinux BTF has no such functions). A leading ``?`` clears autoload and is
  dropped from the section name (``bpf_object__init_prog``). Any other
  section leaves the type unset: ``prog '%s': missing BPF prog type, check
  ELF section name '%s'`` at load.
* **relocation records** (``struct reloc_desc``, ``bpf_program__record_reloc``):
  subprogram calls, subprogram addresses, map and global-data references,
  extern calls (kfuncs) and CO-RE records.
* **subprogram appending** (``bpf_object__reloc_code``): each entry program
  gets the ``.text`` functions it calls (recursively) appended after its own
  instructions, call immediates recomputed for that copy, and its func_info /
  line_info records gathered and rebased (``adjust_prog_btf_ext_info``).

Where we differ: libbpf writes map fds into ``ld_imm64`` at relocation time
(the fds are placeholders dup2'ed over at map creation); we record which map
an instruction references and write the real fd just before BPF_PROG_LOAD.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from kernel_model import isa
from kernel_model.insn import Insn
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER, PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL
from kernel_model.bpf_facts.enums import ATTACH_TYPES as _AT, PROG_TYPES as _PT
from kernel_model.uapi import BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS

__all__ = [
    "SecDef", "SEC_DEFS", "find_sec_def", "Reloc", "BpfProgram",
    "RELO_LD64", "RELO_CALL", "RELO_DATA", "RELO_EXTERN_LD64", "RELO_EXTERN_CALL", "RELO_SUBPROG_ADDR",
    "RELO_CORE", "BPF_F_SLEEPABLE", "BPF_PSEUDO_MAP_FD", "BPF_PSEUDO_MAP_VALUE", "BPF_PSEUDO_BTF_ID",
    "BPF_PSEUDO_FUNC", "BPF_PSEUDO_CALL", "BPF_PSEUDO_KFUNC_CALL", "s32",
]

BPF_INSN_SZ = 8
# include/uapi/linux/bpf.h: ld_imm64 and call pseudo sources, under libbpf's names (kernel_model.isa's)
BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE = isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE
BPF_PSEUDO_BTF_ID, BPF_PSEUDO_FUNC = isa.PSEUDO_BTF_ID, isa.PSEUDO_FUNC
BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL = isa.PSEUDO_CALL, isa.PSEUDO_KFUNC_CALL

# enum reloc_type (src/libbpf.c)
RELO_LD64, RELO_CALL, RELO_DATA, RELO_EXTERN_LD64, RELO_EXTERN_CALL, RELO_SUBPROG_ADDR, RELO_CORE = range(7)


def s32(v: int) -> int:
    """``v`` as a signed 32-bit value (how a C ``__s32 imm = (u32)x`` stores it)."""
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v & 0x8000_0000 else v


@dataclass(frozen=True, slots=True)
class SecDef:
    """One entry of libbpf's ``section_defs[]``."""

    sec: str            # "struct_ops+", "socket", ...
    prog_type: int
    expected_attach_type: int = 0
    sleepable: bool = False
    #: prog_flags the definition adds (``SEC_XDP_FRAGS``: BPF_F_XDP_HAS_FRAGS)
    prog_flags: int = 0
    #: SEC_ATTACH_BTF: the attach target is a kernel function (or type) found by name in the
    #: kernel's BTF (tp_btf, fentry/fexit/fmod_ret, iter, lsm, freplace); the loader refuses
    #: these as not modelled (the emulated vmlinux BTF has no such functions)
    attach_btf: bool = False

    def matches(self, name: str) -> bool:
        """``sec_def_matches``."""
        s = self.sec
        if s.endswith("/"):
            return name.startswith(s)
        if s.endswith("+"):
            p = s[:-1]
            return name.startswith(p) and (len(name) == len(p) or name[len(p)] == "/")
        return name == s


def _d(sec: str, ptype: str, attach: str | None = None, *, sleepable: bool = False, frags: bool = False,
       btf: bool = False) -> SecDef:
    return SecDef(sec, _PT["BPF_PROG_TYPE_" + ptype], _AT["BPF_" + attach] if attach else 0, sleepable,
                  BPF_F_XDP_HAS_FRAGS if frags else 0, btf)


#: the subset of libbpf 1.8's section_defs[] this emulator loads (same order as libbpf; the
#: expected_attach_type is the one libbpf puts in BPF_PROG_LOAD: SEC_ATTACHABLE_OPT and
#: SEC_ATTACHABLE entries pass theirs, SEC_NONE ones 0). The BTF-attached types (tp_btf,
#: fentry/fexit/fmod_ret, iter, lsm, freplace) need the attach target's BTF id from the
#: kernel's BTF: the loader refuses them before the load as not modelled (``attach_btf``).
SEC_DEFS = (
    SecDef("socket", PROG_TYPE_SOCKET_FILTER),
    _d("sk_reuseport/migrate", "SK_REUSEPORT", "SK_REUSEPORT_SELECT_OR_MIGRATE"),
    _d("sk_reuseport", "SK_REUSEPORT", "SK_REUSEPORT_SELECT"),
    _d("kprobe+", "KPROBE"), _d("uprobe+", "KPROBE"), _d("uprobe.s+", "KPROBE", sleepable=True),
    _d("kretprobe+", "KPROBE"), _d("uretprobe+", "KPROBE"), _d("uretprobe.s+", "KPROBE", sleepable=True),
    _d("kprobe.multi+", "KPROBE", "TRACE_KPROBE_MULTI"), _d("kretprobe.multi+", "KPROBE", "TRACE_KPROBE_MULTI"),
    _d("kprobe.session+", "KPROBE", "TRACE_KPROBE_SESSION"),
    _d("uprobe.multi+", "KPROBE", "TRACE_UPROBE_MULTI"), _d("uretprobe.multi+", "KPROBE", "TRACE_UPROBE_MULTI"),
    _d("uprobe.session+", "KPROBE", "TRACE_UPROBE_SESSION"),
    _d("uprobe.multi.s+", "KPROBE", "TRACE_UPROBE_MULTI", sleepable=True),
    _d("uretprobe.multi.s+", "KPROBE", "TRACE_UPROBE_MULTI", sleepable=True),
    _d("uprobe.session.s+", "KPROBE", "TRACE_UPROBE_SESSION", sleepable=True),
    _d("ksyscall+", "KPROBE"), _d("kretsyscall+", "KPROBE"),
    _d("usdt+", "KPROBE"), _d("usdt.s+", "KPROBE", sleepable=True),
    _d("tc/ingress", "SCHED_CLS", "TCX_INGRESS"), _d("tc/egress", "SCHED_CLS", "TCX_EGRESS"),
    _d("tcx/ingress", "SCHED_CLS", "TCX_INGRESS"), _d("tcx/egress", "SCHED_CLS", "TCX_EGRESS"),
    _d("netkit/primary", "SCHED_CLS", "NETKIT_PRIMARY"), _d("netkit/peer", "SCHED_CLS", "NETKIT_PEER"),
    _d("tc", "SCHED_CLS"), _d("classifier", "SCHED_CLS"), _d("action", "SCHED_ACT"),
    _d("tracepoint+", "TRACEPOINT"), _d("tp+", "TRACEPOINT"),
    _d("raw_tracepoint+", "RAW_TRACEPOINT"), _d("raw_tp+", "RAW_TRACEPOINT"),
    _d("raw_tracepoint.w+", "RAW_TRACEPOINT_WRITABLE"), _d("raw_tp.w+", "RAW_TRACEPOINT_WRITABLE"),
    _d("tp_btf+", "TRACING", "TRACE_RAW_TP", btf=True), _d("fentry+", "TRACING", "TRACE_FENTRY", btf=True),
    _d("fmod_ret+", "TRACING", "MODIFY_RETURN", btf=True), _d("fexit+", "TRACING", "TRACE_FEXIT", btf=True),
    _d("fentry.s+", "TRACING", "TRACE_FENTRY", sleepable=True, btf=True),
    _d("fmod_ret.s+", "TRACING", "MODIFY_RETURN", sleepable=True, btf=True),
    _d("fexit.s+", "TRACING", "TRACE_FEXIT", sleepable=True, btf=True),
    _d("freplace+", "EXT", btf=True), _d("lsm+", "LSM", "LSM_MAC", btf=True),
    _d("lsm.s+", "LSM", "LSM_MAC", sleepable=True, btf=True), _d("lsm_cgroup+", "LSM", "LSM_CGROUP", btf=True),
    _d("iter+", "TRACING", "TRACE_ITER", btf=True), _d("iter.s+", "TRACING", "TRACE_ITER", sleepable=True, btf=True),
    SecDef("struct_ops+", PROG_TYPE_STRUCT_OPS),
    SecDef("struct_ops.s+", PROG_TYPE_STRUCT_OPS, sleepable=True),
    _d("xdp.frags/devmap", "XDP", "XDP_DEVMAP", frags=True), _d("xdp/devmap", "XDP", "XDP_DEVMAP"),
    _d("xdp.frags/cpumap", "XDP", "XDP_CPUMAP", frags=True), _d("xdp/cpumap", "XDP", "XDP_CPUMAP"),
    _d("xdp.frags", "XDP", "XDP", frags=True), _d("xdp", "XDP", "XDP"),
    _d("perf_event", "PERF_EVENT"),
    _d("lwt_in", "LWT_IN"), _d("lwt_out", "LWT_OUT"), _d("lwt_xmit", "LWT_XMIT"),
    _d("lwt_seg6local", "LWT_SEG6LOCAL"),
    _d("sockops", "SOCK_OPS", "CGROUP_SOCK_OPS"),
    _d("sk_skb/stream_parser", "SK_SKB", "SK_SKB_STREAM_PARSER"),
    _d("sk_skb/stream_verdict", "SK_SKB", "SK_SKB_STREAM_VERDICT"),
    _d("sk_skb/verdict", "SK_SKB", "SK_SKB_VERDICT"), _d("sk_skb", "SK_SKB"),
    _d("sk_msg", "SK_MSG", "SK_MSG_VERDICT"),
    _d("lirc_mode2", "LIRC_MODE2", "LIRC_MODE2"),
    _d("flow_dissector", "FLOW_DISSECTOR", "FLOW_DISSECTOR"),
    _d("cgroup_skb/ingress", "CGROUP_SKB", "CGROUP_INET_INGRESS"),
    _d("cgroup_skb/egress", "CGROUP_SKB", "CGROUP_INET_EGRESS"),
    _d("cgroup/skb", "CGROUP_SKB"),
    _d("cgroup/sock_create", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE"),
    _d("cgroup/sock_release", "CGROUP_SOCK", "CGROUP_INET_SOCK_RELEASE"),
    _d("cgroup/sock", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE"),
    _d("cgroup/post_bind4", "CGROUP_SOCK", "CGROUP_INET4_POST_BIND"),
    _d("cgroup/post_bind6", "CGROUP_SOCK", "CGROUP_INET6_POST_BIND"),
    _d("cgroup/bind4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_BIND"),
    _d("cgroup/bind6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_BIND"),
    _d("cgroup/connect4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_CONNECT"),
    _d("cgroup/connect6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_CONNECT"),
    _d("cgroup/connect_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_CONNECT"),
    _d("cgroup/sendmsg4", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_SENDMSG"),
    _d("cgroup/sendmsg6", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_SENDMSG"),
    _d("cgroup/sendmsg_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_SENDMSG"),
    _d("cgroup/recvmsg4", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_RECVMSG"),
    _d("cgroup/recvmsg6", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_RECVMSG"),
    _d("cgroup/recvmsg_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_RECVMSG"),
    _d("cgroup/getpeername4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_GETPEERNAME"),
    _d("cgroup/getpeername6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_GETPEERNAME"),
    _d("cgroup/getpeername_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_GETPEERNAME"),
    _d("cgroup/getsockname4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_GETSOCKNAME"),
    _d("cgroup/getsockname6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_GETSOCKNAME"),
    _d("cgroup/getsockname_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_GETSOCKNAME"),
    _d("cgroup/sysctl", "CGROUP_SYSCTL", "CGROUP_SYSCTL"),
    _d("cgroup/getsockopt", "CGROUP_SOCKOPT", "CGROUP_GETSOCKOPT"),
    _d("cgroup/setsockopt", "CGROUP_SOCKOPT", "CGROUP_SETSOCKOPT"),
    _d("cgroup/dev", "CGROUP_DEVICE", "CGROUP_DEVICE"),
    SecDef("syscall", PROG_TYPE_SYSCALL, sleepable=True),
    _d("netfilter", "NETFILTER", "NETFILTER"),
    _d("sk_lookup", "SK_LOOKUP", "SK_LOOKUP"),
)


def find_sec_def(sec_name: str) -> SecDef | None:
    """``find_sec_def``: the first definition matching ``sec_name``."""
    for d in SEC_DEFS:
        if d.matches(sec_name):
            return d
    return None


@dataclass(slots=True)
class Reloc:
    """``struct reloc_desc``: ``insn_idx`` relative to the program's own start."""

    type: int
    insn_idx: int
    map_idx: int = -1
    sym_off: int = 0
    ext_idx: int = -1
    core: object = None  # btf_ext.CoreRelo for RELO_CORE
    core_idx: int = -1   # its index in the section's CO-RE records (libbpf's "relo #N")


@dataclass(eq=False)
class BpfProgram:
    """``struct bpf_program``.

    Accessible attributes: ``name`` (the C function), ``sec_name`` (without
    ``?``), ``sec_idx``, ``sec_insn_off`` / ``sec_insn_cnt`` (its place in the
    section, in instructions), ``insns`` (after relocation: with appended
    subprograms), ``prog_type``, ``expected_attach_type``, ``attach_btf_id``,
    ``attach_btf_obj_fd`` (the module BTF of a module struct_ops type),
    ``prog_flags``, ``autoload``, ``fd`` (-1 until loaded), ``log`` (the
    verifier log of the last load), ``is_subprog`` (a ``.text`` function).
    """

    obj: object
    name: str
    sec_name: str
    sec_idx: int
    sec_insn_off: int
    sec_insn_cnt: int
    insns: list[Insn]
    autoload: bool = True
    autoattach: bool = True
    sym_global: bool = False
    mark_btf_static: bool = False
    is_subprog: bool = False
    sec_def: SecDef | None = None
    prog_type: int = 0
    expected_attach_type: int = 0
    prog_flags: int = 0
    attach_btf_id: int = 0
    attach_btf_obj_fd: int = 0
    attach_mod_btf: object = None  # kbtf.ModuleBtf when the attach type lives in a module
    relocs: list[Reloc] = field(default_factory=list)
    #: CO-RE relocations (btf_ext.CoreRelo) of this (sub)program that matched no candidate in the kernel's BTF
    #: (poisoned, or resolved to 0): what the emulated kernel's answer rests on
    core_unmatched: list[object] = field(default_factory=list)
    func_info: bytes = b""
    func_info_rec_size: int = 0
    line_info: bytes = b""
    line_info_rec_size: int = 0
    sub_insn_off: int = 0
    fd: int = -1
    log: str = ""
    log_level: int = 0
    #: (insn index, map index, is value ref) of ld_imm64 map references, filled at load
    map_refs: list[tuple[int, int, bool]] = field(default_factory=list)
    #: the kernel's verifier result object of the last load (emulated kernel only)
    load_result: object = None

    # --- libbpf's accessors ------------------------------------------------------------
    @property
    def insn_cnt(self) -> int:
        return len(self.insns)

    def set_autoload(self, autoload: bool) -> None:
        """``bpf_program__set_autoload``: -EINVAL once the object is loaded (libbpf 1.8)."""
        import errno

        self.obj._check_not_loaded("bpf_program__set_autoload", errno.EINVAL)  # type: ignore[attr-defined]
        self.autoload = bool(autoload)

    def set_log_level(self, level: int) -> None:
        """``bpf_program__set_log_level``: 0 (libbpf's default) loads without a log and
        retries at level 1 only on failure; 1/2 log every load; 4 is statistics only."""
        self.obj._check_not_loaded("bpf_program__set_log_level")  # type: ignore[attr-defined]
        self.log_level = int(level)

    def __repr__(self) -> str:
        return f"<BpfProgram {self.name!r} sec {self.sec_name!r} {self.insn_cnt} insns fd {self.fd}>"


def insn_is_subprog_call(insn: Insn) -> bool:
    return insn.code == (isa.JMP | isa.CALL) and insn.src == BPF_PSEUDO_CALL and insn.dst == 0 and insn.off == 0


def insn_is_pseudo_func(insn: Insn) -> bool:
    return insn.code == isa.LD_IMM64 and insn.src == BPF_PSEUDO_FUNC


def adjust_ext_info(records: list[bytes], prog: BpfProgram, rec_size: int) -> list[bytes] | None:
    """``adjust_prog_btf_ext_info``: the records of ``prog``'s instruction range,
    ``insn_off`` converted from section bytes to instructions of the main program.
    None when the section has none for this range (libbpf's -ENOENT)."""
    out: list[bytes] = []
    lo = prog.sec_insn_off
    hi = lo + prog.sec_insn_cnt
    adj = prog.sub_insn_off - prog.sec_insn_off
    for rec in records:
        (off,) = struct.unpack_from("<I", rec, 0)
        idx = off // BPF_INSN_SZ
        if idx < lo:
            continue
        if idx >= hi:
            break
        out.append(struct.pack("<I", (idx + adj) & 0xFFFF_FFFF) + rec[4:rec_size])
    return out or None
