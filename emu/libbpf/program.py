"""BPF programs of an object: section definitions, relocation records, subprograms.

Models ``struct bpf_program`` and the code paths around it in ``src/libbpf.c``
(libbpf 1.8):

* **section definitions** (``section_defs[]``, ``sec_def_matches``): every
  section libbpf knows, with its program type and expected attach type (the
  emulated kernel refuses the program types it does not model at
  BPF_PROG_LOAD, as "not modelled"). ``type+`` matches ``type`` or ``type/...``;
  the text after ``/`` of a struct_ops section is ignored (a struct_ops
  program is bound to a member by the data relocations only); sections that
  attach by kernel BTF (``fentry/FUNC``, ``lsm/HOOK``, ...) are refused before
  the load as not modelled (the emulated vmlinux BTF has no such functions). A leading ``?`` clears autoload and is
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
from kernel_model.bpf_facts.enums import ATTACH_TYPES
from kernel_model.uapi import BPF_F_SLEEPABLE, PROG_TYPE_NAMES

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
    #: SEC_ATTACH_BTF: the attach target is a kernel function (or type) found by name in
    #: the kernel's BTF (fentry/fexit/fmod_ret, tp_btf, lsm, iter, freplace)
    attach_btf: bool = False
    #: SEC_XDP_FRAGS: loaded with BPF_F_XDP_HAS_FRAGS
    xdp_frags: bool = False

    def matches(self, name: str) -> bool:
        """``sec_def_matches``."""
        s = self.sec
        if s.endswith("/"):
            return name.startswith(s)
        if s.endswith("+"):
            p = s[:-1]
            return name.startswith(p) and (len(name) == len(p) or name[len(p)] == "/")
        return name == s


_PROG_TYPE_BY_NAME = {name: value for value, name in PROG_TYPE_NAMES.items()}


def _sec(sec: str, prog_type: str, attach: str = "", **flags: bool) -> SecDef:
    return SecDef(sec, _PROG_TYPE_BY_NAME[prog_type], ATTACH_TYPES["BPF_" + attach] if attach else 0, **flags)


#: libbpf's section_defs[] (tools/lib/bpf/libbpf.c of Linux 6.12, libbpf 1.5; same order, the
#: first match wins): section name -> program type, expected attach type and the flags that
#: change the load (sleepable, attach by kernel BTF, XDP frags). Every libbpf section is here,
#: so a program of a type the emulated kernel does not model reaches BPF_PROG_LOAD and is
#: refused there as not modelled, not mistaken for a section libbpf does not know.
SEC_DEFS = (
    _sec('socket', 'socket_filter'),
    _sec('sk_reuseport/migrate', 'sk_reuseport', attach='SK_REUSEPORT_SELECT_OR_MIGRATE'),
    _sec('sk_reuseport', 'sk_reuseport', attach='SK_REUSEPORT_SELECT'),
    _sec('kprobe+', 'kprobe'),
    _sec('uprobe+', 'kprobe'),
    _sec('uprobe.s+', 'kprobe', sleepable=True),
    _sec('kretprobe+', 'kprobe'),
    _sec('uretprobe+', 'kprobe'),
    _sec('uretprobe.s+', 'kprobe', sleepable=True),
    _sec('kprobe.multi+', 'kprobe', attach='TRACE_KPROBE_MULTI'),
    _sec('kretprobe.multi+', 'kprobe', attach='TRACE_KPROBE_MULTI'),
    _sec('kprobe.session+', 'kprobe', attach='TRACE_KPROBE_SESSION'),
    _sec('uprobe.multi+', 'kprobe', attach='TRACE_UPROBE_MULTI'),
    _sec('uretprobe.multi+', 'kprobe', attach='TRACE_UPROBE_MULTI'),
    _sec('uprobe.multi.s+', 'kprobe', attach='TRACE_UPROBE_MULTI', sleepable=True),
    _sec('uretprobe.multi.s+', 'kprobe', attach='TRACE_UPROBE_MULTI', sleepable=True),
    _sec('ksyscall+', 'kprobe'),
    _sec('kretsyscall+', 'kprobe'),
    _sec('usdt+', 'kprobe'),
    _sec('usdt.s+', 'kprobe', sleepable=True),
    _sec('tc/ingress', 'sched_cls', attach='TCX_INGRESS'),
    _sec('tc/egress', 'sched_cls', attach='TCX_EGRESS'),
    _sec('tcx/ingress', 'sched_cls', attach='TCX_INGRESS'),
    _sec('tcx/egress', 'sched_cls', attach='TCX_EGRESS'),
    _sec('tc', 'sched_cls'),
    _sec('classifier', 'sched_cls'),
    _sec('action', 'sched_act'),
    _sec('netkit/primary', 'sched_cls', attach='NETKIT_PRIMARY'),
    _sec('netkit/peer', 'sched_cls', attach='NETKIT_PEER'),
    _sec('tracepoint+', 'tracepoint'),
    _sec('tp+', 'tracepoint'),
    _sec('raw_tracepoint+', 'raw_tracepoint'),
    _sec('raw_tp+', 'raw_tracepoint'),
    _sec('raw_tracepoint.w+', 'raw_tracepoint_writable'),
    _sec('raw_tp.w+', 'raw_tracepoint_writable'),
    _sec('tp_btf+', 'tracing', attach='TRACE_RAW_TP', attach_btf=True),
    _sec('fentry+', 'tracing', attach='TRACE_FENTRY', attach_btf=True),
    _sec('fmod_ret+', 'tracing', attach='MODIFY_RETURN', attach_btf=True),
    _sec('fexit+', 'tracing', attach='TRACE_FEXIT', attach_btf=True),
    _sec('fentry.s+', 'tracing', attach='TRACE_FENTRY', sleepable=True, attach_btf=True),
    _sec('fmod_ret.s+', 'tracing', attach='MODIFY_RETURN', sleepable=True, attach_btf=True),
    _sec('fexit.s+', 'tracing', attach='TRACE_FEXIT', sleepable=True, attach_btf=True),
    _sec('freplace+', 'ext', attach_btf=True),
    _sec('lsm+', 'lsm', attach='LSM_MAC', attach_btf=True),
    _sec('lsm.s+', 'lsm', attach='LSM_MAC', sleepable=True, attach_btf=True),
    _sec('lsm_cgroup+', 'lsm', attach='LSM_CGROUP', attach_btf=True),
    _sec('iter+', 'tracing', attach='TRACE_ITER', attach_btf=True),
    _sec('iter.s+', 'tracing', attach='TRACE_ITER', sleepable=True, attach_btf=True),
    _sec('syscall', 'syscall', sleepable=True),
    _sec('xdp.frags/devmap', 'xdp', attach='XDP_DEVMAP', xdp_frags=True),
    _sec('xdp/devmap', 'xdp', attach='XDP_DEVMAP'),
    _sec('xdp.frags/cpumap', 'xdp', attach='XDP_CPUMAP', xdp_frags=True),
    _sec('xdp/cpumap', 'xdp', attach='XDP_CPUMAP'),
    _sec('xdp.frags', 'xdp', attach='XDP', xdp_frags=True),
    _sec('xdp', 'xdp', attach='XDP'),
    _sec('perf_event', 'perf_event'),
    _sec('lwt_in', 'lwt_in'),
    _sec('lwt_out', 'lwt_out'),
    _sec('lwt_xmit', 'lwt_xmit'),
    _sec('lwt_seg6local', 'lwt_seg6local'),
    _sec('sockops', 'sock_ops', attach='CGROUP_SOCK_OPS'),
    _sec('sk_skb/stream_parser', 'sk_skb', attach='SK_SKB_STREAM_PARSER'),
    _sec('sk_skb/stream_verdict', 'sk_skb', attach='SK_SKB_STREAM_VERDICT'),
    _sec('sk_skb/verdict', 'sk_skb', attach='SK_SKB_VERDICT'),
    _sec('sk_skb', 'sk_skb'),
    _sec('sk_msg', 'sk_msg', attach='SK_MSG_VERDICT'),
    _sec('lirc_mode2', 'lirc_mode2', attach='LIRC_MODE2'),
    _sec('flow_dissector', 'flow_dissector', attach='FLOW_DISSECTOR'),
    _sec('cgroup_skb/ingress', 'cgroup_skb', attach='CGROUP_INET_INGRESS'),
    _sec('cgroup_skb/egress', 'cgroup_skb', attach='CGROUP_INET_EGRESS'),
    _sec('cgroup/skb', 'cgroup_skb'),
    _sec('cgroup/sock_create', 'cgroup_sock', attach='CGROUP_INET_SOCK_CREATE'),
    _sec('cgroup/sock_release', 'cgroup_sock', attach='CGROUP_INET_SOCK_RELEASE'),
    _sec('cgroup/sock', 'cgroup_sock', attach='CGROUP_INET_SOCK_CREATE'),
    _sec('cgroup/post_bind4', 'cgroup_sock', attach='CGROUP_INET4_POST_BIND'),
    _sec('cgroup/post_bind6', 'cgroup_sock', attach='CGROUP_INET6_POST_BIND'),
    _sec('cgroup/bind4', 'cgroup_sock_addr', attach='CGROUP_INET4_BIND'),
    _sec('cgroup/bind6', 'cgroup_sock_addr', attach='CGROUP_INET6_BIND'),
    _sec('cgroup/connect4', 'cgroup_sock_addr', attach='CGROUP_INET4_CONNECT'),
    _sec('cgroup/connect6', 'cgroup_sock_addr', attach='CGROUP_INET6_CONNECT'),
    _sec('cgroup/connect_unix', 'cgroup_sock_addr', attach='CGROUP_UNIX_CONNECT'),
    _sec('cgroup/sendmsg4', 'cgroup_sock_addr', attach='CGROUP_UDP4_SENDMSG'),
    _sec('cgroup/sendmsg6', 'cgroup_sock_addr', attach='CGROUP_UDP6_SENDMSG'),
    _sec('cgroup/sendmsg_unix', 'cgroup_sock_addr', attach='CGROUP_UNIX_SENDMSG'),
    _sec('cgroup/recvmsg4', 'cgroup_sock_addr', attach='CGROUP_UDP4_RECVMSG'),
    _sec('cgroup/recvmsg6', 'cgroup_sock_addr', attach='CGROUP_UDP6_RECVMSG'),
    _sec('cgroup/recvmsg_unix', 'cgroup_sock_addr', attach='CGROUP_UNIX_RECVMSG'),
    _sec('cgroup/getpeername4', 'cgroup_sock_addr', attach='CGROUP_INET4_GETPEERNAME'),
    _sec('cgroup/getpeername6', 'cgroup_sock_addr', attach='CGROUP_INET6_GETPEERNAME'),
    _sec('cgroup/getpeername_unix', 'cgroup_sock_addr', attach='CGROUP_UNIX_GETPEERNAME'),
    _sec('cgroup/getsockname4', 'cgroup_sock_addr', attach='CGROUP_INET4_GETSOCKNAME'),
    _sec('cgroup/getsockname6', 'cgroup_sock_addr', attach='CGROUP_INET6_GETSOCKNAME'),
    _sec('cgroup/getsockname_unix', 'cgroup_sock_addr', attach='CGROUP_UNIX_GETSOCKNAME'),
    _sec('cgroup/sysctl', 'cgroup_sysctl', attach='CGROUP_SYSCTL'),
    _sec('cgroup/getsockopt', 'cgroup_sockopt', attach='CGROUP_GETSOCKOPT'),
    _sec('cgroup/setsockopt', 'cgroup_sockopt', attach='CGROUP_SETSOCKOPT'),
    _sec('cgroup/dev', 'cgroup_device', attach='CGROUP_DEVICE'),
    _sec('struct_ops+', 'struct_ops'),
    _sec('struct_ops.s+', 'struct_ops', sleepable=True),
    _sec('sk_lookup', 'sk_lookup', attach='SK_LOOKUP'),
    _sec('netfilter', 'netfilter', attach='NETFILTER'),
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
