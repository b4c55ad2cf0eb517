"""An oops in a command prints the kernel-style report, then the one-line error, exit 1."""

from __future__ import annotations

from kernel_model.vmlinux import build_vmlinux_btf
from tests.conftest import ROOT
from tests.emu.test_cli import structops


def test_a_null_argument_passed_to_a_member_oopses_with_the_full_report():
    # tcp_congestion_ops.ssthresh(struct sock *sk) is not __nullable: the verifier lets
    # the program read sk->..., so a subsystem passing NULL makes the kernel oops
    r = structops("load", str(ROOT / "examples" / "tcp_ca.bpf.o"), "--call", "emu_ca.ssthresh:0")
    assert r.returncode == 1
    err = r.stderr.splitlines()
    # the program reads sk->sk_mark: the fault address is that member's offset in struct sock
    btf = build_vmlinux_btf()
    sock = btf.type_by_id(btf.find("sock", 4))
    off = next(m.byte_offset for m in sock.members if m.name == "sk_mark")
    assert err[0] == f"BUG: kernel NULL pointer dereference, address: {off:016x}"
    assert "Call Trace:" in err and " bpf_struct_ops_call_member+0xc/0x12" in err
    assert any(line.startswith(" bpf__tcp_congestion_ops_ssthresh+") for line in err)
    assert err[-1].startswith("error: kernel oops: BUG: kernel NULL pointer dereference")
    assert "Traceback" not in r.stderr
