"""Programs the verifier model accepts, ready to load and run (needs hypothesis).

The generators of :mod:`kernel_model.testing.verifier_programs` draw both safe
and unsafe programs. These strategies keep only what the verifier model
accepts -- each drawn program goes through the same path as ``structops
verify`` (``emu.kernel.harness.program_env`` and ``verifier.verify``) for the
profile asked for -- and hand it back as a :class:`VerifiedProgram` that loads
into an emulated :class:`~emu.kernel.Kernel` (``BPF_MAP_CREATE`` for its map,
``BPF_PROG_LOAD``) and runs there (``BPF_PROG_TEST_RUN``)::

    @given(accepted_socket_programs())
    def test_accepted_programs_run(structops_kernel, prog):
        result = prog.test_run(structops_kernel)   # raises on a refusal or an oops

Acceptance is drawn, not constructed: 57% of the socket filters, 34% of the
linked-scalar programs and 29% of the ``bpf_dummy_ops`` programs pass (200 draws
each on the ``latest`` profile), so hypothesis rejects the rest; its
``filter_too_much`` health check has not fired at these rates.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel_model.asm import assemble
from kernel_model.listing import Program
from kernel_model.profile import PROFILES, get_profile
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER, PROG_TYPE_STRUCT_OPS
from kernel_model.testing.hypothesis_support import InvalidArgument, check_int, st
from kernel_model.testing.verifier_programs import (MAP_DECLS, linked_scalar_programs, socket_programs,
                                                    struct_ops_programs)

if TYPE_CHECKING:
    from emu.kernel.bpf_objects import TestRunResult
    from emu.kernel import Kernel

__all__ = ["VerifiedProgram", "LoadedProgram", "accepted_socket_programs", "accepted_linked_scalar_programs",
           "accepted_struct_ops_programs", "PACKET"]

#: what a socket filter's test run gets by default: an Ethernet + IPv4 header and payload
PACKET = bytes.fromhex("000000000000" "000000000000" "0800"
                       "4500002e00004000401100007f0000017f000001") + bytes(26)


@dataclass
class LoadedProgram:
    """A program loaded into a kernel, with the maps made for it; :meth:`close`
    closes their fds."""

    kernel: "Kernel"
    prog_fd: int
    map_fds: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        self.kernel.close(self.prog_fd)
        for fd in self.map_fds.values():
            self.kernel.close(fd)
        self.map_fds = {}

    def __enter__(self) -> "LoadedProgram":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class VerifiedProgram:
    """A program the verifier model accepted: kernel-syntax ``text``, the maps it
    names (``NAME=TYPE:KEY:VALUE:ENTRIES``), the ``struct_ops`` member it is for
    (``TYPE:MEMBER``, else a socket filter), its ``prog_flags`` and the profile
    it was verified on."""

    text: str
    maps: tuple[str, ...] = ()
    attach: str | None = None
    prog_flags: int = 0
    profile: str = "latest"

    @property
    def prog_type(self) -> int:
        return PROG_TYPE_STRUCT_OPS if self.attach else PROG_TYPE_SOCKET_FILTER

    def insns(self, symbols: dict[str, int] | None = None) -> Program:
        """The instructions, map names resolved to ``symbols`` (default: fd = position)."""
        from emu.kernel.harness import symbols_for

        syms = symbols_for(list(self.maps), get_profile(self.profile))
        syms.update(symbols or {})
        return Program(assemble(self.text, symbols=syms))

    def load(self, kernel: "Kernel") -> LoadedProgram:
        """Create the maps and ``BPF_PROG_LOAD`` the program into ``kernel`` (whose
        profile should be this program's). A refusal raises ``ProgLoadError``."""
        from emu.kernel.harness import parse_map as _parse_map

        fds: dict[str, int] = {}
        try:
            for decl in self.maps:
                name, spec = _parse_map(decl)
                fds[name] = kernel.map_create(map_type=spec.map_type, key_size=spec.key_size,
                                              value_size=spec.value_size, max_entries=spec.max_entries)
            kw: dict[str, Any] = {}
            if self.attach:
                tname, _, member = self.attach.partition(":")
                desc = kernel.struct_ops_type(tname)
                m = desc.member(member)
                assert m is not None, self.attach
                kw = {"attach_btf_id": desc.type_id, "expected_attach_type": m.index}
            fd = kernel.prog_load(list(self.insns(fds)), prog_type=self.prog_type, prog_flags=self.prog_flags, **kw)
        except BaseException:
            for f in fds.values():
                kernel.close(f)
            raise
        return LoadedProgram(kernel, fd, fds)

    def test_run(self, kernel: "Kernel", *, data: bytes = PACKET, args: tuple[int, ...] = ()) -> "TestRunResult":
        """Load, ``BPF_PROG_TEST_RUN`` once, close. A socket filter gets ``data``
        (default :data:`PACKET`); a ``bpf_dummy_ops`` program gets a user-memory
        ``struct bpf_dummy_ops_state`` as its first argument and ``args`` (zeros by
        default) as the rest."""
        with self.load(kernel) as lp:
            if not self.attach:
                return kernel.prog_test_run(lp.prog_fd, data_in=data)
            tname, _, member = self.attach.partition(":")
            model = kernel.struct_ops_type(tname).member(member).func_model  # type: ignore[union-attr]
            assert model is not None
            rest = list(args) + [0] * (model.nr_args - 1 - len(args))
            state = kernel.user.alloc(bytes(4))
            ctx = struct.pack(f"<{model.nr_args}Q", state, *rest[:model.nr_args - 1])
            return kernel.prog_test_run(lp.prog_fd, ctx_in=ctx)


def _accepted(prog: VerifiedProgram) -> bool:
    from emu.kernel.harness import program_env
    from verifier import verify

    insns, env = program_env(list(prog.insns()), attach=prog.attach, profile=get_profile(prog.profile), maps=list(prog.maps),
                             flags=prog.prog_flags)
    return verify(insns, env).accepted


def _check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise InvalidArgument(f"profile={profile!r} is not a modelled kernel (known: {', '.join(PROFILES)})")
    return profile


def accepted_socket_programs(*, max_items: int = 14, profile: str = "latest") -> st.SearchStrategy[VerifiedProgram]:
    """Socket filters (``socket_programs``) the verifier model accepts on ``profile``,
    each with one of the map declarations it was drawn for."""
    check_int("max_items", max_items, 1, 200)
    _check_profile(profile)
    return st.builds(lambda t, m: VerifiedProgram(t, (m,), profile=profile), socket_programs(max_items=max_items),
                     st.sampled_from(MAP_DECLS)).filter(_accepted)


def accepted_linked_scalar_programs(*, profile: str = "latest") -> st.SearchStrategy[VerifiedProgram]:
    """Linked-scalar socket filters (``linked_scalar_programs``) the model accepts."""
    _check_profile(profile)
    return linked_scalar_programs().map(lambda t: VerifiedProgram(t, (MAP_DECLS[0],), profile=profile)) \
        .filter(_accepted)


def accepted_struct_ops_programs(*, max_items: int = 6, profile: str = "latest") -> st.SearchStrategy[VerifiedProgram]:
    """``bpf_dummy_ops`` programs (``struct_ops_programs``) the model accepts; they run
    through ``BPF_PROG_TEST_RUN`` (``bpf_struct_ops_test_run``)."""
    check_int("max_items", max_items, 1, 100)
    _check_profile(profile)
    return struct_ops_programs(max_items=max_items).map(
        lambda p: VerifiedProgram(p[0], (), f"bpf_dummy_ops:{p[1]}", p[2], profile)).filter(_accepted)
