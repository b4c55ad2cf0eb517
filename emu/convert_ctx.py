"""``convert_ctx_accesses``: the load/store rewrites the verifier makes after a
program is accepted, for the program types and pointer kinds this kernel runs.

Models kernel/bpf/verifier.c ``convert_ctx_accesses`` (Linux 6.12; the host
6.18 does the same for these cases) from the pointer type the verifier saw at
each load and store (``insn_aux_data[i].ptr_type``, :class:`verifier.result.InsnAux`):

* a load through ``PTR_TO_BTF_ID`` or ``PTR_TO_BTF_ID | PTR_UNTRUSTED`` (e.g. a
  pointer walked out of a struct_ops argument, ``task->parent``) becomes
  ``BPF_PROBE_MEM`` (``BPF_PROBE_MEMSX`` for sign-extending loads): the JIT
  gives it an exception-table entry, so a bad address reads 0 instead of
  oopsing. The switch matches the type *exactly*: a **trusted** pointer
  (``PTR_TO_BTF_ID | PTR_TRUSTED``, what a struct_ops argument is) keeps a
  plain load, which is why a NULL one oopses the kernel -- the host's JIT image
  of ``return cb ? cb->val : 0`` has a plain ``mov eax, [rdi]``
  (kernel-oracle.md 4.4). Stores are never converted.
* a socket filter's ``struct __sk_buff`` accesses become accesses of ``struct
  sk_buff`` (``bpf_convert_ctx_access``, net/core/filter.c) at the 6.18 host's
  offsets: ``len`` (112), ``queue_mapping`` (124), ``priority`` (140), ``mark``
  (164), ``protocol`` (176) and ``cb[0..4]`` (the ``qdisc_skb_cb`` data at
  48). A narrower load reads the whole field and shifts (``ctx_field_size``).
  The other fields are **not modelled**: their loads become a call to a stub
  that stops the program with an ExecFault saying so.
* struct_ops and syscall contexts are not converted (the u64 argument array
  and the user's buffer are read as they are), as in the kernel, whose
  ``bpf_struct_ops_verifier_ops`` and ``bpf_syscall_verifier_ops`` have no
  ``convert_ctx_access``.
"""

from __future__ import annotations

from typing import Sequence

from kernel_model import isa
from kernel_model.errors import ENOTSUPP, KernelError
from kernel_model.insn import Insn
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER
from verifier.fixups import patch_program
from verifier.regs import MEM_ALLOC, PTR_TO_BTF_ID, PTR_TO_CTX, PTR_UNTRUSTED

__all__ = ["convert_ctx_accesses", "SKB_FIELDS", "BPF_PROBE_MEM", "BPF_PROBE_MEMSX"]

#: include/linux/filter.h
BPF_PROBE_MEM = 0x20
BPF_PROBE_MEMSX = 0x40

#: the ptr_types (enum bpf_reg_type values, as the verifier records them) whose loads
#: become BPF_PROBE_MEM
_PROBE_TYPES = frozenset({PTR_TO_BTF_ID, PTR_TO_BTF_ID | PTR_UNTRUSTED,
                          PTR_TO_BTF_ID | MEM_ALLOC | PTR_UNTRUSTED})

#: __sk_buff offset -> (sk_buff offset, field size); host 6.18 BTF of struct sk_buff
SKB_FIELDS: dict[int, tuple[int, int]] = {
    0: (112, 4),   # len
    12: (124, 2),  # queue_mapping (u32 in __sk_buff, u16 in sk_buff)
    16: (176, 2),  # protocol (__be16 in sk_buff)
    32: (140, 4),  # priority
    8: (164, 4),   # mark
}
for _i in range(5):  # cb[i] -> qdisc_skb_cb(skb)->data + 4*i
    SKB_FIELDS[48 + 4 * _i] = (48 + 4 * _i, 4)
_SIZE_CODE = {n: code for code, n in isa.SIZE_BYTES.items()}


def _skb_field(off: int) -> tuple[int, int, int] | None:
    """(__sk_buff field start, sk_buff offset, sk_buff size) containing ``off``."""
    for start, (target, tsize) in SKB_FIELDS.items():
        if start <= off < start + 4:
            return start, target, tsize
    return None


def convert_ctx_accesses(insns: Sequence[Insn], ptr_types: Sequence[int], prog_type: int,
                         fault_imm: int | None) -> tuple[list[Insn], list[int]]:
    """The rewritten program and the new slot of each old slot. ``ptr_types[i]`` is
    the verifier's ``ptr_type`` of slot ``i`` (0 when it is not a memory access);
    ``fault_imm`` is the CALL immediate of the not-modelled stub (None: refuse with
    ``ENOTSUPP`` at load instead)."""
    patches: dict[int, list[tuple[Insn, int | None]]] = {}
    n = len(insns)
    k = 0
    while k < n:
        ins = insns[k]
        if ins.code == isa.LD_IMM64:
            k += 2
            continue
        cls = ins.code & 0x07
        pt = ptr_types[k] if k < len(ptr_types) else 0
        mode = ins.code & 0xE0
        if cls == isa.LDX and pt in _PROBE_TYPES and mode in (isa.MEM, isa.MEMSX):
            new_mode = BPF_PROBE_MEM if mode == isa.MEM else BPF_PROBE_MEMSX
            patches[k] = [(Insn(isa.LDX | new_mode | (ins.code & 0x18), ins.dst, ins.src, ins.off, ins.imm), None)]
        elif pt == PTR_TO_CTX and prog_type == PROG_TYPE_SOCKET_FILTER and cls in (isa.LDX, isa.ST, isa.STX) \
                and mode == isa.MEM:
            patches[k] = _convert_skb(ins, fault_imm)
        k += 1
    if not patches:
        return list(insns), list(range(n + 1))
    return patch_program(insns, patches)


def _convert_skb(ins: Insn, fault_imm: int | None) -> list[tuple[Insn, int | None]]:
    cls = ins.code & 0x07
    size = isa.SIZE_BYTES[ins.code & 0x18]
    base_reg = ins.src if cls == isa.LDX else ins.dst
    field = _skb_field(ins.off)
    if field is None:
        if fault_imm is None:
            raise KernelError(ENOTSUPP, f"__sk_buff access at offset {ins.off} is not modelled")
        # not modelled: stop the program where it would read the field
        return [(Insn(isa.CALL_INSN, 0, 0, 0, fault_imm), None)]
    start, target, tsize = field
    byte = ins.off - start
    if cls != isa.LDX:  # stores: only cb[] is writable for socket filters (sk_filter_is_valid_access)
        return [(Insn(ins.code, ins.dst, ins.src, target + byte, ins.imm), None)]
    dst = ins.dst
    if size >= tsize:  # a full (or wider, for queue_mapping/protocol) read of the field
        return [(Insn(isa.LDX | isa.MEM | _SIZE_CODE[tsize], dst, base_reg, target, 0), None)]
    # narrow load: read the field, shift the wanted bytes down, mask (little endian)
    out = [(Insn(isa.LDX | isa.MEM | _SIZE_CODE[tsize], dst, base_reg, target, 0), None)]
    if byte:
        out.append((Insn(isa.ALU64 | isa.RSH | isa.K, dst, 0, 0, 8 * byte), None))
    out.append((Insn(isa.ALU64 | isa.AND | isa.K, dst, 0, 0, (1 << (8 * size)) - 1 if size < 4 else -1), None))
    return out
