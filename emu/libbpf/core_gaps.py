"""Whether a CO-RE relocation the emulated kernel could not resolve would resolve on a real one.

libbpf resolves a relocation against the running kernel's BTF
(``bpf_core_calc_relo_insn``, ``src/relo_core.c``). With no matching
candidate, a field offset/size or enumerator value poisons the instruction
(``bpf_core_poison_insn``: ``call 0xbad2310``; the verifier then refuses it
only if reachable, ``invalid func unknown#195896080``, which libbpf rewrites as
``failed to resolve CO-RE relocation ...``), and ``field_exists``,
``type_exists``, ``enumval_exists``, ``type_size`` ... resolve to 0. The
emulated vmlinux BTF holds only the modelled subsystems' types, so "no
candidate" is the kernel's answer only when a real 6.18 kernel has none either.
:func:`real_kernel_lacks` decides that from the name facts of
:mod:`kernel_model.vmlinux_names`:

* the root type's essential name (flavor suffix ``___x`` dropped,
  ``bpf_core_essential_name_len``) is not a 6.18 type of a compatible kind:
  the real kernel has no candidate either;
* a field relocation on a type the real kernel has, whose first named member is
  not one of that type's members (recorded for the types the emulated vmlinux
  also names): no candidate matches there either (``bpf_core_spec_match`` looks
  the first named accessor up by name, anonymous members included);
* an enumerator relocation on an enum the real kernel has, naming an enumerator
  it lacks: the same.

Anything else -- the type exists in 6.18 and the facts cannot show the access
fails -- is a gap of the model (answer False), never a guess.
"""

from __future__ import annotations

from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.vmlinux_names import has_type, member_names

from . import core as corelib
from .btf_ext import CoreRelo

__all__ = ["real_kernel_lacks", "KIND_OF"]

#: BTF kind -> the kind name of the facts (ENUM and ENUM64 are compatible)
KIND_OF = {S.KIND_STRUCT: "struct", S.KIND_UNION: "union", S.KIND_ENUM: "enum", S.KIND_ENUM64: "enum",
           S.KIND_TYPEDEF: "typedef", S.KIND_INT: "int", S.KIND_FLOAT: "float"}


def real_kernel_lacks(lbtf: BTF, relo: CoreRelo) -> bool:
    """True when a real Linux 6.18 vmlinux has no candidate for ``relo`` either (so the
    emulated result -- poison or 0 -- is libbpf's on that kernel); False when it may have one."""
    if relo.kind == corelib.TYPE_ID_LOCAL:
        return False
    lt = lbtf.type_by_id(relo.type_id)
    kind = KIND_OF.get(lt.kind)
    if kind is None or not lt.name:
        return False
    name = corelib.essential_name(lt.name)
    if not has_type(kind, name):
        return True
    if relo.kind in corelib.TYPE_KINDS:
        return False
    try:
        spec = corelib.parse_spec(lbtf, relo)
    except corelib.SpecError:
        return False
    known = member_names(kind, name)
    if known is None:
        return False
    if relo.kind in corelib.ENUMVAL_KINDS:
        return spec.spec[0].name not in known
    named = [a for a in spec.spec[1:] if a.name]
    if not named:
        return False
    return named[0].name not in known
