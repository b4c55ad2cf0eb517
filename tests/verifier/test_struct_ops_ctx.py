"""struct_ops context arguments through the shared btf_ctx_access steps (verifier.ctx,
verifier.tracing_btf.ctx_arg_head): kernel/bpf/btf.c ``btf_ctx_access`` (6.12; the same in
6.18) reads an integer argument as a scalar only when ``btf_type_is_small_int`` (8 bytes at
most). A 16-byte ``__int128`` argument registers (``btf_distill_func_proto`` takes arguments
up to 16 bytes) but is refused to the program. The host cannot take a struct_ops type of our
own, so these are checked against the kernel's rule, on a type declared here."""

from __future__ import annotations

import errno as E
import re

import pytest

from emu.kernel.planner import declare_type
from kernel_model.asm import assemble
from kernel_model.profile import get_profile
from kernel_model.struct_ops import StructOps, StructOpsRegistry
from verifier import VerifierEnv, verify

TEXT = """
struct wide_ops {
    int (*take)(__int128 v, long w);
    int (*take2)(long a, unsigned __int128 v, char c);
    int (*small)(char a, short b, int c, long d, unsigned long long e);
};
"""


@pytest.fixture(scope="module")
def wide():  # type: ignore[no-untyped-def]
    prof = get_profile("latest")
    desc = declare_type(TEXT, prof)
    reg = StructOpsRegistry(prof)
    reg.register(StructOps(name="wide_ops", cfi_stubs={m.name: f"wide_ops__{m.name}" for m in desc.func_members()}),
                 desc.btf)
    return reg, desc


def _load(wide, member: int, off: int):  # type: ignore[no-untyped-def]
    reg, desc = wide
    env = VerifierEnv(prog_type=27, struct_ops=reg, attach_btf=desc.btf, attach_btf_id=desc.type_id,
                      expected_attach_type=member, privileged=True, vmlinux_btf=desc.btf)
    return verify(assemble(f"r0 = *(u64 *)(r1 + {off})\nr0 = 0\nexit"), env, 1)


@pytest.mark.parametrize("member,off,arg,name", [(0, 0, 0, "take"), (1, 8, 1, "take2")])
def test_a_128_bit_argument_is_refused(wide, member: int, off: int, arg: int, name: str) -> None:  # type: ignore[no-untyped-def]
    r = _load(wide, member, off)
    assert not r.accepted and r.errno == E.EACCES, r.log
    # (the INT's name is the C parser's spelling of the type)
    assert re.search(rf"func '{name}' arg{arg} '[^']*__int128[^']*' has type INT\. Only pointer access is allowed\n"
                     rf"invalid bpf_context access off={off} size=8\n", r.log), r.log


@pytest.mark.parametrize("member,off", [(0, 16), (1, 0), (1, 24), (2, 0), (2, 8), (2, 16), (2, 24), (2, 32)])
def test_small_ints_around_it_read_as_scalars(wide, member: int, off: int) -> None:  # type: ignore[no-untyped-def]
    """The arguments after a 16-byte one start 16 bytes on (get_ctx_arg_idx); ints of 1-8 bytes."""
    r = _load(wide, member, off)
    assert r.accepted, r.log
