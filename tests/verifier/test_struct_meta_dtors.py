"""``btf_parse_struct_metas`` at ``BPF_BTF_LOAD`` for kptrs to kernel types with a destructor.

kernel/bpf/btf.c (Linux 6.12/6.18) parses every struct of a program BTF holding a ``__kptr``
member; a referenced kptr to a kernel type needs the type's registered destructor
(``btf_find_dtor_kfunc``) and that destructor's FUNC in the kernel's BTF, else the whole BTF load
fails. kernel/bpf/crypto.c registers ``bpf_crypto_ctx_release_dtor`` for ``struct bpf_crypto_ctx``
(the crypto selftests stash a ``struct bpf_crypto_ctx __kptr *`` in a map value), so such a BTF
loads; a kptr to a kernel type without a destructor (``struct sock``) still fails with -ENOENT.
"""

from __future__ import annotations

import errno

import pytest

from emu.kernel import Kernel
from kernel_model.btf import BTF, Member, Ptr, Struct, TypeTag, parse_c
from kernel_model.btf import structs as S
from kernel_model.btf_record import check_struct_metas, parse_fields
from kernel_model.errors import KernelError
from kernel_model.kptr_kfuncs import DTOR_RELEASES, KPTR_DTORS


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


def _btf(pointee: str) -> tuple[bytes, int]:
    """``struct holder { struct <pointee> __kptr *ctx; int x; }`` (the program's own, named
    declaration of the kernel struct: btf_parse_kptr looks it up by name)."""
    b = parse_c(f"struct {pointee} {{ int x; }};\nint k;\n")
    pid = b.find(pointee, S.KIND_STRUCT)
    iid = b.find("int", S.KIND_INT)
    kptr = b.add(Ptr(b.add(TypeTag("kptr", pid))))
    hid = b.add(Struct("holder", 16, (Member("ctx", kptr, 0), Member("x", iid, 64))))
    return b.to_bytes(), hid


def _load(kernel: Kernel, blob: bytes) -> int:
    try:
        fd = kernel.btf_load(blob)
    except KernelError as e:
        return -e.errno
    kernel.close(fd)
    return 0


def test_every_registered_destructor_with_a_body_is_a_vmlinux_func(kernel: Kernel) -> None:
    """btf_parse_kptr reads the destructor's FUNC from the kernel's BTF: each destructor the model
    gives a body (DTOR_RELEASES) must be there, or a kptr to its type fails the BTF load."""
    for dtor in DTOR_RELEASES:
        assert kernel.btf.find(dtor, S.KIND_FUNC) is not None, dtor
    assert KPTR_DTORS["bpf_crypto_ctx"] in DTOR_RELEASES


def test_crypto_ctx_kptr_record_names_its_destructor(kernel: Kernel) -> None:
    blob, hid = _btf("bpf_crypto_ctx")
    b = BTF.from_bytes(blob)
    assert check_struct_metas(b, kernel.btf) == 0
    rec = parse_fields(b, hid, 16, kernel.btf)
    assert rec is not None and not rec.error
    (f,) = rec.fields
    assert (f.offset, f.kptr, f.kernel, f.dtor) == (0, "kptr_ref", True, "bpf_crypto_ctx_release_dtor")
    assert kernel.btf.type_by_id(f.value_btf_id).name == "bpf_crypto_ctx"


@pytest.mark.parametrize("pointee,want", [("bpf_crypto_ctx", 0), ("sock", -errno.ENOENT)])
def test_btf_load(kernel: Kernel, pointee: str, want: int) -> None:
    assert _load(kernel, _btf(pointee)[0]) == want


@pytest.mark.kernel
@pytest.mark.parametrize("pointee", ["bpf_crypto_ctx", "sock"])
def test_btf_load_as_the_host(kernel: Kernel, pointee: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    if hostbpf._host_vmlinux().find(pointee, S.KIND_STRUCT) is None:
        pytest.skip(f"the host's BTF has no struct {pointee}")
    blob = _btf(pointee)[0]
    fd, err, _log = hostbpf.btf_load(blob)
    if fd >= 0:
        hostbpf.close(fd)
    assert _load(kernel, blob) == (0 if fd >= 0 else -err)
