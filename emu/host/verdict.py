"""The same program loaded into the host kernel: the other side of a verifier comparison.

:func:`host_load` takes what :func:`emu.kernel.harness.program_env` built for the
model (instructions and a :class:`verifier.VerifierEnv`) and loads it into the
running kernel through :mod:`emu.host.hostbpf`: maps of ``env.maps`` are created
there and the lddw immediates rewritten to their fds; nothing is attached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from kernel_model import isa
from kernel_model.insn import Insn
from kernel_model.prog import PROG_TYPE_STRUCT_OPS
from kernel_model.uapi import PROG_TYPE_TRACING

__all__ = ["HostVerdict", "host_load"]


@dataclass(frozen=True, slots=True)
class HostVerdict:
    """What the host's ``BPF_PROG_LOAD`` answered (its fd already closed)."""

    accepted: bool
    errno: int
    log: str
    seconds: float
    error_line: str | None


_CAP_BPF = 39
_SYS_CAPSET = 126  # x86-64
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _drop_to_cap_bpf() -> None:
    """capset(2) in this (child) process: CAP_BPF only, as a loader without CAP_PERFMON
    and CAP_SYS_ADMIN: the unprivileged (CAP_BPF only) verifier mode."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    hdr = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # {effective, permitted, inheritable} for caps 0-31, then 32-63
    data[3] = data[4] = 1 << (_CAP_BPF - 32)
    if libc.syscall(_SYS_CAPSET, hdr, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _in_child(fn: Any) -> Any:
    """Run ``fn()`` in a forked child with capabilities dropped; its result comes back pickled."""
    import os
    import pickle

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(rfd)
            _drop_to_cap_bpf()
            out = ("ok", fn())
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = ("err", repr(e))
        os.write(wfd, pickle.dumps(out))
        os._exit(0)
    os.close(wfd)
    chunks = []
    while True:
        c = os.read(rfd, 1 << 20)
        if not c:
            break
        chunks.append(c)
    os.close(rfd)
    os.waitpid(pid, 0)
    kind, val = pickle.loads(b"".join(chunks))
    if kind != "ok":
        raise OSError(f"unprivileged host load failed in the child: {val}")
    return val


def host_load(insns: Sequence[Insn], env: Any, log_level: int = 1) -> HostVerdict:
    """Load the same program into the host kernel (``emu.host.hostbpf``): maps of
    ``env.maps`` are created there and the lddw immediates rewritten to their fds;
    struct_ops programs use the host's own BTF id of the attach type, tp_btf programs
    that of their ``btf_trace_`` typedef (an id of 0 stays 0). With ``env.privileged`` False the load is made by a forked child that
    dropped every capability but CAP_BPF (capset)."""
    from kernel_model.insn import encode

    from . import hostbpf as hb

    fds: dict[int, int] = {}
    try:
        for key, m in env.maps.items():
            fd, err = hb.map_create(m.map_type, m.key_size, m.value_size, m.max_entries, map_flags=m.map_flags,
                                     name=m.name)
            if fd < 0:
                raise OSError(err, f"host map_create({m.type_name}) failed")
            fds[key] = fd
        out = list(insns)
        for k, ins in enumerate(out):
            if ins.code == isa.LD_IMM64 and ins.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE) and ins.imm in fds:
                out[k] = Insn(ins.code, ins.dst, ins.src, ins.off, fds[ins.imm])
        attach_id = 0
        if env.prog_type == PROG_TYPE_STRUCT_OPS and env.attach_btf is not None and env.attach_btf_id:
            name = env.attach_btf.type_by_id(env.attach_btf_id).name
            attach_id = hb.host_btf_id(name) or 0
        elif env.prog_type == PROG_TYPE_TRACING and env.attach_btf is not None and env.attach_btf_id:
            # tp_btf: the host's btf_trace_<tp> typedef of the same name
            # (an iterator: the host's bpf_iter_<target> FUNC of the same name)
            t = env.attach_btf.type_by_id(env.attach_btf_id)
            attach_id = hb.host_btf_id(t.name, "func" if t.kind == 12 else "typedef") or 0

        def load() -> HostVerdict:
            r = hb.prog_load(env.prog_type, encode(out), license=env.license, log_level=log_level,
                             prog_flags=env.prog_flags, expected_attach_type=env.expected_attach_type,
                             attach_btf_id=attach_id)
            verdict = HostVerdict(r.accepted, 0 if r.accepted else r.errno, r.log, r.seconds, r.error_line())
            r.close()
            return verdict

        # env.privileged False: the load runs in a child holding CAP_BPF only
        return load() if env.privileged else _in_child(load)
    finally:
        for fd in fds.values():
            hb.close(fd)
