"""The verifier's answer: verdict, errno, the log, and what later stages need.

``VerifyResult`` is what ``bpf_check()`` leaves behind (kernel/bpf/verifier.c,
Linux 6.18): the return value (0 or -errno), the user-visible log, the
``processed`` count (``prog->aux->verified_insns``), per-subprogram stack
depth and start, and per-instruction auxiliary data (``struct
bpf_insn_aux_data``): which helper, kfunc or subprogram a call reaches, which
map an lddw loads, the pointer type a load/store dereferences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence, overload

from kernel_model.errors import errno_name

__all__ = ["VerifyResult", "InsnAux", "AuxTable", "errno_name"]


@dataclass(slots=True)
class InsnAux:
    """``struct bpf_insn_aux_data`` fields the fixups and the JIT read."""

    #: a helper call: its id; a kfunc call: the KfuncEntry; a bpf-to-bpf call: the callee subprog index
    helper_id: int | None = None
    kfunc: Any = None
    subprog: int | None = None
    #: an lddw of a map: the MapSpec (and the value offset for MAP_VALUE)
    map: Any = None
    map_off: int = 0
    #: the pointer type a load/store/atomic went through (``ptr_type``)
    ptr_type: int = 0
    #: the context field size a narrow ctx load needs (``ctx_field_size``)
    ctx_field_size: int = 0
    #: the instruction was reached by the verifier (``seen``)
    seen: bool = False
    #: the 32-bit result needs an explicit zero extension (``zext_dst``): not computed by the
    #: model (x86-64 JITs zero-extend by themselves), always False
    zext_dst: bool = False
    #: a speculative path failed here: the kernel puts a speculation barrier before it (``nospec``)
    nospec: bool = False
    #: a store an unprivileged program makes that needs a barrier after it (Spectre v4, ``nospec_result``)
    nospec_result: bool = False
    #: pointer-ALU masking the fixups emit for unprivileged programs (``alu_state``, ``alu_limit``)
    alu_state: int = 0
    alu_limit: int = 0
    #: a bpf_loop call (``loop_inline_state``): seen once, fit for inlining (the flags were
    #: always the constant 0 and the callback always the same), the callback's subprog
    loop_inline_init: bool = False
    loop_inline: bool = False
    loop_callback: int = 0
    #: ``map_ptr_state`` of a map helper call (``record_func_map``): the map, and whether
    #: another path passed a different map (``poison``)
    map_ptr: Any = None
    map_ptr_poison: bool = False
    #: ``map_key_state`` of a tail call (``record_func_key``): 0 unseen, else the constant
    #: key | ``BPF_MAP_KEY_SEEN``, or ``BPF_MAP_KEY_POISON``
    map_key_state: int = 0
    #: a bpf_obj_new call: the object's size (``obj_new_size``); it and the graph/drop kfuncs:
    #: the type's btf_record (``kptr_struct_meta``); list push/rbtree add: the node's offset
    #: in its object (``insert_off``)
    obj_new_size: int = 0
    kptr_struct_meta: Any = None
    insert_off: int = 0
    #: a bpf_obj_drop call: the (BTF, type id) of the object the first path to it dropped
    obj_drop_type: Any = None
    #: a ``BPF_PSEUDO_BTF_ID`` lddw (``check_pseudo_btf_id``): the kernel symbol's address and
    #: what the load makes of it (``btf_var.reg_type``, ``btf_var.mem_size``)
    ksym_addr: int = 0
    btf_var_type: int = 0
    btf_var_mem_size: int = 0


class AuxTable(Sequence[InsnAux]):
    """``env->insn_aux_data``: one :class:`InsnAux` per slot. Most slots never get
    anything but the three per-insn arrays the walk keeps (``ptr_type``,
    ``ctx_field_size``, ``seen``), so an entry is made when first asked for, filled
    from those arrays; a million-slot program does not cost a million objects."""

    __slots__ = ("_aux", "_n", "_ptr_type", "_ctx_field_size", "_seen")

    def __init__(self, n: int) -> None:
        self._aux: dict[int, InsnAux] = {}
        self._n = n
        self._ptr_type: Sequence[int] = ()
        self._ctx_field_size: Sequence[int] = ()
        self._seen: Sequence[int] = ()

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> InsnAux: ...
    @overload
    def __getitem__(self, i: slice) -> list[InsnAux]: ...

    def __getitem__(self, i: int | slice) -> InsnAux | list[InsnAux]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        a = self._aux.get(i)
        if a is None:
            a = self._aux[i] = InsnAux()
            self._fill(i, a)
        return a

    def __iter__(self) -> Iterator[InsnAux]:
        for i in range(self._n):
            yield self[i]

    def peek(self, i: int) -> InsnAux | None:
        """The entry if one was made (the walk's cheap test for ``nospec`` flags)."""
        return self._aux.get(i)

    def _fill(self, i: int, a: InsnAux) -> None:
        if self._seen:
            a.ptr_type = self._ptr_type[i]
            a.ctx_field_size = self._ctx_field_size[i]
            a.seen = bool(self._seen[i])

    def finalize(self, ptr_type: Sequence[int], ctx_field_size: Sequence[int], seen: Sequence[int]) -> None:
        """After the walk: what later stages read comes from the per-insn arrays."""
        self._ptr_type, self._ctx_field_size, self._seen = ptr_type, ctx_field_size, seen
        for i, a in self._aux.items():
            self._fill(i, a)


@dataclass(slots=True)
class VerifyResult:
    """The outcome of :func:`verifier.verify`."""

    accepted: bool
    errno: int
    log: str
    processed: int
    stack_depth: list[int] = field(default_factory=list)
    subprog_starts: list[int] = field(default_factory=list)
    insn_aux: Sequence[InsnAux] = field(default_factory=list)
    max_states_per_insn: int = 0
    total_states: int = 0
    peak_states: int = 0
    #: the kernel's message for a rejection (the log's last line before the statistics)
    error_line: str | None = None
    #: the slots ``remove_fastcall_spills_fills`` made NOPs (verifier.fastcall): the spill/fill
    #: pairs around inlined bpf_fastcall calls, which ``opt_remove_nops`` drops
    fastcall_nops: list[int] = field(default_factory=list)
    #: ``subprog_info[i].tail_call_reachable`` (check_max_stack_depth): the JIT keeps a
    #: tail-call counter in these functions' frames
    tail_call_reachable: list[bool] = field(default_factory=list)
    #: ``env->seen_exception``: a verified path calls ``bpf_throw`` (the JIT makes the main
    #: function an exception boundary)
    seen_exception: bool = False
    #: ``env->exception_callback_subprog``: the subprogram named by ``exception_callback:``
    #: (0: none; ``do_misc_fixups`` then adds the default one when ``seen_exception``)
    exception_callback_subprog: int = 0
    #: ``attr.log_true_size`` (bpf_vlog_finalize): the bytes, NUL included, a buffer needs
    #: to hold the log at its longest; 0 at log level 0
    log_true_size: int = 0
    #: ``env->seen_direct_write``: the program may write the packet directly (the
    #: ``gen_prologue`` of tc and lwt_xmit programs then unclones the skb first)
    seen_direct_write: bool = False

    @property
    def errno_name(self) -> str:
        return errno_name(self.errno) if self.errno else "0"
