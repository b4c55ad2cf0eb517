"""The verifier log, character for character.

Models kernel/bpf/log.c (Linux 6.18): the log buffer with its reset
semantics (``bpf_vlog_reset``: the end position moves back and later output
overwrites what was there -- which is why a popped branch's first state line
can continue the line of the jump that pushed it), ``reg_type_str``,
``tnum_strn``, ``print_scalar_ranges``, ``print_reg_state``,
``print_verifier_state`` and ``print_insn_state`` with its ``;`` column
(``bpf_vlog_alignment``: the state goes after the instruction text, padded
to column 40 in steps of 8).

Instruction text comes from :func:`kernel_model.disasm.format_log_insn`;
this module adds what depends on the verifier's environment: helper and kfunc
names in calls and the (emulated) map addresses that ``resolve_pseudo_ldimm64``
puts in map loads. The buffer rules of log.c (rotating and ``BPF_LOG_FIXED`` logs,
``len_max``/``log_true_size``, ENOSPC) are :class:`VLog`'s.
"""

from __future__ import annotations

from typing import Callable, Final, Sequence

from kernel_model import isa
from kernel_model.disasm import format_log_insn
from kernel_model.insn import Insn

from .regs import (
    CONST_PTR_TO_DYNPTR, CONST_PTR_TO_MAP, MEM_PERCPU, MEM_RCU, MEM_RDONLY, MEM_RINGBUF, MEM_USER,
    PTR_MAYBE_NULL, PTR_TO_ARENA, PTR_TO_BTF_ID, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM,
    PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_STACK, PTR_TRUSTED, PTR_UNTRUSTED, S32_MAX, S32_MIN, S64_MAX,
    S64_MIN, SCALAR_VALUE, U32_MAX, U64_MAX, BPF_ADD_CONST, RegState, s64,
)
from .state import BPF_REG_SIZE, SLOT_CHARS, STACK_DYNPTR, STACK_INVALID, STACK_ITER, STACK_SPILL, FuncState

__all__ = ["VLog", "LOG_SIZE_MAX", "reg_type_str", "tnum_str", "snum", "unum", "fmt_reg", "fmt_func_state",
           "LOG_LEVEL1", "LOG_LEVEL2", "LOG_STATS", "LOG_FIXED", "alignment"]

LOG_LEVEL1: Final = 1
LOG_LEVEL2: Final = 2
LOG_STATS: Final = 4
LOG_FIXED: Final = 8
#: BPF_LOG_MIN_ALIGNMENT, BPF_LOG_ALIGNMENT (include/linux/bpf_verifier.h)
_MIN_ALIGN: Final = 8
_ALIGN: Final = 40


#: bpf_verifier_log_attr_valid: attr.log_size above UINT_MAX >> 2 is EINVAL
LOG_SIZE_MAX: Final = 0xFFFFFFFF >> 2
_UINT_MAX: Final = 0xFFFFFFFF


class VLog:
    """``struct bpf_verifier_log`` (kernel/bpf/log.c, Linux 6.18).

    The text is kept whole at its virtual positions (``end_pos``: where the next
    write goes; ``bpf_vlog_reset`` moves it back and later writes overwrite).
    ``len_max`` is the longest the log ever was, terminating NUL included
    (``bpf_vlog_update_len_max``): what ``bpf_vlog_finalize`` reports as
    ``log_true_size`` and compares with the buffer for ENOSPC.

    ``len_total`` is ``attr.log_size`` when a user buffer is given (0: none, or
    the model's unlimited buffer). Without ``BPF_LOG_FIXED`` the kernel's buffer
    rotates: it keeps a window ``[start_pos, end_pos)`` of at most
    ``len_total - 1`` bytes, ``start_pos`` moving forward as text is written and
    back to ``end_pos`` when a reset drops below it; ``bpf_vlog_finalize``
    rotates the window to the buffer's start. With ``BPF_LOG_FIXED`` the buffer
    holds the first ``len_total - 1`` bytes. :meth:`user_text` is that buffer's
    string. Bytes before the window can never be seen again, so the model
    drops them (``base``: the virtual position of ``buf[0]``) and a level-1 log
    of a long walk costs the buffer's size, not the walk's.
    """

    __slots__ = ("level", "buf", "end", "len_max", "len_total", "start", "base")

    def __init__(self, level: int, len_total: int = 0) -> None:
        self.level = level
        self.buf = bytearray()
        self.end = 0
        #: the longest the log ever was, its terminating NUL included (``len_max``)
        self.len_max = 0
        self.len_total = len_total if not level & LOG_FIXED else 0
        self.start = 0
        self.base = 0

    def write(self, s: str) -> None:
        # the kernel copies a BTF string's bytes as they are: text decoded with
        # surrogateescape (a source line of a malformed .BTF.ext) goes back to those bytes
        b = s.encode("utf-8", "surrogateescape")
        e = self.end - self.base
        n = e + len(b)
        buf = self.buf
        if e == len(buf):
            buf += b
        else:
            buf[e:n] = b
        end = self.end = self.base + n
        if end + 1 > self.len_max:
            self.len_max = min(end + 1, _UINT_MAX)
        total = self.len_total
        if total and end + 1 - self.start >= total:
            self.start = end + 1 - total
            drop = self.start - self.base
            if drop > (1 << 20) and drop > n // 2:
                del self.buf[:drop]
                self.base = self.start

    def reset(self, pos: int) -> None:
        """``bpf_vlog_reset``: later writes overwrite from ``pos``."""
        if pos <= self.end:
            self.end = pos
            if pos < self.start:
                self.start = pos
            if pos < self.base:  # the window is empty: nothing before it is kept
                del self.buf[:]
                self.base = pos

    def text(self) -> str:
        """The log as the model's unlimited buffer holds it (the whole virtual text
        when nothing was dropped)."""
        return self.buf[:self.end - self.base].decode(errors="replace")

    def user_text(self, log_size: int, fixed: bool) -> str:
        """The string a user buffer of ``log_size`` bytes holds after ``bpf_vlog_finalize``."""
        if fixed:
            return self.buf[:min(self.end, log_size - 1) - self.base].decode(errors="replace")
        return self.buf[max(self.start, self.end + 1 - log_size) - self.base:self.end - self.base] \
            .decode(errors="replace")


def alignment(pos: int) -> int:
    """``bpf_vlog_alignment``: padding after an instruction of ``pos`` characters."""
    x = max(pos + _MIN_ALIGN // 2, _ALIGN)
    return ((x + _MIN_ALIGN - 1) // _MIN_ALIGN) * _MIN_ALIGN - pos - 1


_TYPE_NAMES: Final = {
    0: "?", SCALAR_VALUE: "scalar", 2: "ctx", CONST_PTR_TO_MAP: "map_ptr", PTR_TO_MAP_VALUE: "map_value",
    PTR_TO_STACK: "fp", PTR_TO_PACKET: "pkt", PTR_TO_PACKET_META: "pkt_meta", 9: "pkt_end", 10: "flow_keys",
    11: "sock", 12: "sock_common", 13: "tcp_sock", 14: "tp_buffer", 15: "xdp_sock", PTR_TO_BTF_ID: "ptr_",
    PTR_TO_MEM: "mem", PTR_TO_ARENA: "arena", 19: "buf", 20: "func", PTR_TO_MAP_KEY: "map_key",
    CONST_PTR_TO_DYNPTR: "dynptr_ptr",
}


def reg_type_str(t: int) -> str:
    """``reg_type_str``: flag prefixes, the base name and the or-null postfix."""
    base = t & 0xFF
    post = ""
    if t & PTR_MAYBE_NULL:
        post = "or_null_" if base == PTR_TO_BTF_ID else "_or_null"
    pre = ""
    if t & (MEM_RDONLY | MEM_RINGBUF | MEM_USER | MEM_PERCPU | MEM_RCU | PTR_UNTRUSTED | PTR_TRUSTED):
        pre = ("rdonly_" if t & MEM_RDONLY else "") + ("ringbuf_" if t & MEM_RINGBUF else "") + \
              ("user_" if t & MEM_USER else "") + ("percpu_" if t & MEM_PERCPU else "") + \
              ("rcu_" if t & MEM_RCU else "") + ("untrusted_" if t & PTR_UNTRUSTED else "") + \
              ("trusted_" if t & PTR_TRUSTED else "")
    return pre + _TYPE_NAMES.get(base, "?") + post


def unum(v: int) -> str:
    """``verbose_unum``: decimal up to U16_MAX, else hex."""
    v &= U64_MAX
    return str(v) if v <= 0xFFFF else f"{v:#x}"


def snum(v: int) -> str:
    """``verbose_snum``: decimal within S16, else the 64-bit hex pattern."""
    v = s64(v)
    return str(v) if -0x8000 <= v <= 0x7FFF else f"{v & U64_MAX:#x}"


def tnum_str(t: tuple[int, int]) -> str:
    """``tnum_strn``: a constant, or ``(value; mask)`` -- the kernel prints ``0x0``."""
    if t[1] == 0:
        return str(t[0]) if t[0] <= 0xFFFF else f"{t[0]:#x}"
    return f"({t[0]:#x}; {t[1]:#x})"


def _scalar_ranges(reg: RegState, parts: list[str], sep: str) -> str:
    """``print_scalar_ranges``: equal neighbours share one value (``smin=smin32=0``)."""
    def s32v(v: int) -> int:
        return v if -0x8000 <= v <= 0x7FFF else v & U32_MAX
    vals = [reg.smin & U64_MAX, reg.smax & U64_MAX, reg.umin, reg.umax,
            s32v(reg.s32_min) & U64_MAX, s32v(reg.s32_max) & U64_MAX, reg.u32_min, reg.u32_max]
    omit = [reg.smin == S64_MIN, reg.smax == S64_MAX, reg.umin == 0, reg.umax == U64_MAX,
            reg.s32_min == S32_MIN, reg.s32_max == S32_MAX, reg.u32_min == 0, reg.u32_max == U32_MAX]
    names = ("smin", "smax", "umin", "umax", "smin32", "smax32", "umin32", "umax32")
    for i in range(8):
        if omit[i]:
            continue
        n1 = names[i]
        neg1 = n1[0] == "s" and vals[i] >> 63
        parts.append(sep)
        parts.append(n1)
        parts.append("=")
        sep = ","
        for j in range(i + 2, 8, 2):
            if omit[j] or vals[j] != vals[i]:
                continue
            neg2 = names[j][0] == "s" and vals[j] >> 63
            if bool(neg2) != bool(neg1):
                continue
            omit[j] = True
            parts.append(names[j])
            parts.append("=")
        parts.append(snum(vals[i]) if n1[0] == "s" else unum(vals[i]))
    return sep


def fmt_reg(reg: RegState, frameno: int, type_name: Callable[[object, int], str] | None = None) -> str:
    """``print_reg_state`` (``frameno`` is the frame the register is printed in)."""
    t = reg.type
    vo = reg.var_off
    if t == SCALAR_VALUE:
        p = "P" if reg.precise else ""
        if vo[1] == 0:
            return p + snum(vo[0])
    else:
        p = ""
    parts = [p, reg_type_str(t)]
    if t == PTR_TO_ARENA:
        return "".join(parts)
    if t == PTR_TO_STACK:
        if frameno != reg.frameno:
            parts.append(f"[{reg.frameno}]")
        if vo[1] == 0:
            parts.append(snum(vo[0] + reg.off))
            return "".join(parts)
    if (t & 0xFF) == PTR_TO_BTF_ID and type_name is not None:
        parts.append(type_name(reg.btf, reg.btf_id))
    parts.append("(")
    sep = ""
    if reg.id:
        parts.append(f"{sep}id={reg.id & ~BPF_ADD_CONST}")
        sep = ","
    if reg.id & BPF_ADD_CONST:
        parts.append(f"{reg.off:+d}")
    if reg.ref_obj_id:
        parts.append(f"{sep}ref_obj_id={reg.ref_obj_id}")
        sep = ","
    bt = t & 0xFF
    if bt in (CONST_PTR_TO_MAP, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE) and reg.map is not None:
        m = reg.map
        if m.name:
            parts.append(f"{sep}map={m.name}")
            sep = ","
        parts.append(f"{sep}ks={m.key_size},vs={m.value_size}")
        sep = ","
    if t != SCALAR_VALUE and reg.off:
        parts.append(f"{sep}off={snum(reg.off)}")
        sep = ","
    if bt in (PTR_TO_PACKET, PTR_TO_PACKET_META):
        parts.append(f"{sep}r={unum(reg.range)}")
        sep = ","
    if bt == PTR_TO_MEM:
        parts.append(f"{sep}sz={unum(reg.mem_size)}")
        sep = ","
        if reg.map is not None:  # a dynptr slice's stack buffer (verifier.dynptrs.SliceBuf, 6.18)
            parts.append(f",buf={reg.map}")
    if t == CONST_PTR_TO_DYNPTR:  # reg->dynptr.type, kept in mem_size (verifier.dynptrs)
        parts.append(f"{sep}type={_DYNPTR_TYPES.get(reg.mem_size, '<unknown>')}")
        sep = ","
    if vo[1] == 0:
        if vo[0]:
            parts.append(f"{sep}imm={snum(vo[0])}")
    else:
        sep = _scalar_ranges(reg, parts, sep)
        if vo[1] != U64_MAX:
            parts.append(f"{sep}var_off={tnum_str(vo)}")
    parts.append(")")
    return "".join(parts)


#: iter_state_str (kernel/bpf/log.c): enum bpf_iter_state, kept in the slot's ``range``
#: (verifier.iters)
_ITER_STATES: Final = {1: "active", 2: "drained"}


def fmt_func_state(state: FuncState, print_all: bool, scratched_regs: int, scratched_stack: int,
                   refs: Sequence[int] = (), type_name: Callable[[object, int], str] | None = None) -> str:
    """``print_verifier_state`` for one frame (without the trailing newline).
    When ``print_all`` is false only scratched registers and stack slots print."""
    parts: list[str] = []
    frameno = state.frameno
    if frameno:
        parts.append(f" frame{frameno}:")
    regs = state.regs
    m = (1 << len(regs)) - 1 if print_all else scratched_regs
    while m:  # the scratched registers, lowest first
        low = m & -m
        m ^= low
        i = low.bit_length() - 1
        if i >= len(regs):
            break
        reg = regs[i]
        if reg.type == 0:
            continue
        parts.append(f" R{i}=")
        parts.append(fmt_reg(reg, frameno, type_name))
    stack = state.stack
    m = (1 << len(stack)) - 1 if print_all else scratched_stack
    while m:  # the scratched stack slots, lowest first
        low = m & -m
        m ^= low
        i = low.bit_length() - 1
        if i >= len(stack):
            break
        slot = stack[i]
        types = slot.types
        if all(t == STACK_INVALID for t in types):
            continue
        off = (-i - 1) * BPF_REG_SIZE
        last = types[BPF_REG_SIZE - 1]
        if last == STACK_SPILL:
            buf = []
            for t in types:
                if t == STACK_SPILL:
                    break
                buf.append(SLOT_CHARS[t])
            parts.append(f" fp{off}={''.join(buf)}")
            parts.append(fmt_reg(slot.spilled, frameno, type_name))
        elif last == STACK_ITER:
            sp = slot.spilled
            if not sp.ref_obj_id:  # only the main slot has ref_obj_id set; skip others
                continue
            name = type_name(sp.btf, sp.btf_id) if type_name is not None else ""
            parts.append(f" fp{off}=iter_{name.removeprefix('bpf_iter_')}(ref_id={sp.ref_obj_id},"
                         f"state={_ITER_STATES.get(sp.range, '<invalid>')},depth={sp.mem_size})")
        elif last == STACK_DYNPTR:
            # print_verifier_state: skip to the main (first) dynptr slot
            i += 1
            m &= ~(1 << i)
            if i >= len(stack):
                continue
            sp = stack[i].spilled
            dparts = []
            if sp.id:
                dparts.append(f"id={sp.id}")
            if sp.ref_obj_id:
                dparts.append(f"ref_id={sp.ref_obj_id}")
            if sp.btf_id:  # reg->dynptr_id, which overlays dynptr.first_slot
                dparts.append(f"dynptr_id={sp.btf_id}")
            parts.append(f" fp{(-i - 1) * BPF_REG_SIZE}=dynptr_{_DYNPTR_TYPES.get(sp.mem_size, '<unknown>')}"
                         f"({','.join(dparts)})")
        else:
            parts.append(f" fp{off}={''.join(SLOT_CHARS[t] for t in types)}")
    if refs and refs[0]:
        parts.append(f" refs={refs[0]}")
        for r in refs[1:]:
            if r:
                parts.append(f",{r}")
    if state.in_callback_fn:
        parts.append(" cb")
    if state.in_async_callback_fn:
        parts.append(" async_cb")
    return "".join(parts)


#: dynptr_type_str (kernel/bpf/log.c)
_DYNPTR_TYPES: Final = {0: "<invalid>", 1: "local", 2: "ringbuf", 3: "skb", 4: "xdp"}


def insn_text(insns: Sequence[Insn], i: int, *, map_addr: Callable[[Insn, Insn], int] | None = None,
              kfunc_name: Callable[[Insn], str | None] | None = None) -> str:
    """The instruction as ``print_bpf_insn`` prints it in the verifier (with the
    environment's map addresses and kfunc names); no trailing newline."""
    insn = insns[i]
    if insn.code == isa.LD_IMM64 and insn.src and map_addr is not None and i + 1 < len(insns):
        if insn.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX, isa.PSEUDO_MAP_IDX_VALUE,
                        isa.PSEUDO_BTF_ID):
            return f"(18) r{insn.dst} = {map_addr(insn, insns[i + 1]):#x}"
    if insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_KFUNC_CALL:
        name = kfunc_name(insn) if kfunc_name is not None else None
        return f"(85) call {name or 'kernel-function'}#{insn.imm}"
    return format_log_insn(insns, i)
