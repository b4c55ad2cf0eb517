"""``extern ... __kconfig``: libbpf's .kconfig map, filled from the kernel's configuration
(the emulated kernel's :class:`kernel_model.kconfig.KernelConfig`, or the host's file)."""

from __future__ import annotations

import errno
import struct

import pytest

from emu.kernel import Kernel
from emu.libbpf import BpfObject, KernelBtf, Log
from emu.libbpf.errors import LibbpfError
from emu.libbpf.externs import EXT_KCFG, EXT_KSYM
from emu.libbpf.maps import BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, LIBBPF_MAP_KCONFIG
from kernel_model.errors import InputError, KernelError
from kernel_model.kconfig import DEFAULT, KernelConfig
from tests.conftest import ROOT

from .conftest import compile_bpf

BPF_CUBIC = str(ROOT / "tests" / "data" / "selftests" / "objects" / "bpf_cubic.o")

SRC = r'''
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
extern unsigned long CONFIG_HZ __kconfig;
extern bool CONFIG_BPF_JIT __kconfig;
extern enum libbpf_tristate CONFIG_TCP_CONG_BBR __kconfig;
extern char CONFIG_DEFAULT_TCP_CONG[8] __kconfig __weak;
extern int CONFIG_NOT_THERE __kconfig __weak;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern short CONFIG_SMALL __kconfig __weak;
__u64 out[7];
SEC("syscall")
int read_all(void *ctx)
{
	out[0] = CONFIG_HZ; out[1] = CONFIG_BPF_JIT; out[2] = CONFIG_TCP_CONG_BBR;
	out[3] = CONFIG_DEFAULT_TCP_CONG[0]; out[4] = CONFIG_NOT_THERE; out[5] = LINUX_KERNEL_VERSION;
	out[6] = CONFIG_SMALL;
	return 0;
}
'''


@pytest.fixture(scope="module")
def kcfg_obj(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("kcfg")
    (d / "kcfg.bpf.c").write_text(SRC)
    return str(compile_bpf(d / "kcfg.bpf.c", d / "kcfg.bpf.o"))


def _prepared(path: str, kernel: Kernel, extra: str | None = None) -> BpfObject:
    obj = BpfObject.open_file(path, log=Log(stream=None), kconfig=extra)
    obj.prepare(kernel_btf=KernelBtf.from_kernel(kernel))
    return obj


def _kmap(obj: BpfObject):  # type: ignore[no-untyped-def]
    (m,) = [m for m in obj.maps if m.libbpf_type == LIBBPF_MAP_KCONFIG]
    return m


def test_externs_are_sorted_and_laid_out_as_libbpf_does(kcfg_obj: str) -> None:
    """cmp_externs: kconfig externs first, by descending alignment, ascending size, then name;
    each at its alignment in the .kconfig map; the DATASEC says the same."""
    obj = BpfObject.open_file(kcfg_obj, log=Log(stream=None))
    kc = [(e.name, e.kcfg_off, e.kcfg_sz) for e in obj.externs if e.type == EXT_KCFG]
    assert kc == [("CONFIG_HZ", 0, 8), ("CONFIG_NOT_THERE", 8, 4), ("CONFIG_TCP_CONG_BBR", 12, 4),
                  ("LINUX_KERNEL_VERSION", 16, 4), ("CONFIG_SMALL", 20, 2), ("CONFIG_BPF_JIT", 22, 1),
                  ("CONFIG_DEFAULT_TCP_CONG", 23, 8)]
    assert all(e.type == EXT_KSYM for e in obj.externs[len(kc):])
    m = _kmap(obj)
    assert m.real_name == ".kconfig" and m.value_size == 31 and m.max_entries == 1
    assert m.map_flags & BPF_F_RDONLY_PROG and m.map_flags & BPF_F_MMAPABLE
    assert obj.btf is not None
    ds = obj.btf.type_by_id(m.btf_value_type_id)
    assert ds.size == 31 and sorted(v.offset for v in ds.vars) == [0, 8, 12, 16, 20, 22, 23]


def test_values_come_from_the_emulated_kernels_config(kcfg_obj: str) -> None:
    k = Kernel(kconfig=DEFAULT.with_values(CONFIG_HZ=1000, CONFIG_DEFAULT_TCP_CONG='"cubic"'))
    try:
        obj = _prepared(kcfg_obj, k)
        data = bytes(_kmap(obj).mmaped)
        hz, missing, bbr, ver, small = struct.unpack_from("<QIIIh", data)
        assert (hz, bbr, missing, small) == (1000, 1, 0, 0)  # y -> TRI_YES; weak unset -> 0
        assert ver == (k.profile.version[0] << 16) | (k.profile.version[1] << 8)
        assert data[22] == 1 and data[23:31] == b"cubic\0\0\0"
        assert obj.log.contains("extern (kcfg) 'CONFIG_HZ': set to 1000")
    finally:
        k.shutdown()


def test_open_options_kconfig_comes_first(kcfg_obj: str) -> None:
    """bpf_object_open_opts.kconfig: read before the system's file, which fills only the rest."""
    k = Kernel()
    try:
        obj = _prepared(kcfg_obj, k, extra="CONFIG_HZ=100\nCONFIG_SMALL=-3\n")
        hz, _missing, _bbr, _ver, small = struct.unpack_from("<QIIIh", bytes(_kmap(obj).mmaped))
        assert (hz, small) == (100, -3)
    finally:
        k.shutdown()


@pytest.mark.parametrize("extra, message", [
    ("CONFIG_BPF_JIT=m", "extern (kcfg) 'CONFIG_BPF_JIT': value 'm' implies tristate or char type"),
    ("CONFIG_HZ=\"x\"", "extern (kcfg) 'CONFIG_HZ': value '\"x\"' implies char array type"),
    ("CONFIG_HZ=12ab", "extern (kcfg) 'CONFIG_HZ': value '12ab' isn't a valid integer"),
    ("CONFIG_SMALL=70000", "extern (kcfg) 'CONFIG_SMALL': value '70000' doesn't fit in 2 bytes"),
    ("CONFIG_BPF_JIT=2", "extern (kcfg) 'CONFIG_BPF_JIT': value '2' implies integer type"),
    ("CONFIG_HZ", "failed to parse 'CONFIG_HZ': no separator"),
])
def test_bad_values_are_refused_with_libbpfs_messages(kcfg_obj: str, extra: str, message: str) -> None:
    k = Kernel()
    try:
        with pytest.raises(LibbpfError) as ei:
            _prepared(kcfg_obj, k, extra=extra)
        assert ei.value.errno == errno.EINVAL
        assert f"error parsing in-memory Kconfig line '{extra}'" in str(ei.value)
    finally:
        k.shutdown()
    obj = BpfObject.open_file(kcfg_obj, log=Log(stream=None), kconfig=extra)
    k = Kernel()
    try:
        with pytest.raises(LibbpfError):
            obj.prepare(kernel_btf=KernelBtf.from_kernel(k))
        assert obj.log.contains(message)
    finally:
        k.shutdown()


def test_a_strong_extern_missing_from_the_config_is_esrch(kcfg_obj: str) -> None:
    k = Kernel(kconfig=KernelConfig({"CONFIG_BPF_JIT": "y", "CONFIG_TCP_CONG_BBR": "n"}))
    try:
        with pytest.raises(LibbpfError) as ei:
            _prepared(kcfg_obj, k)
        assert ei.value.errno == errno.ESRCH and "extern 'CONFIG_HZ' (strong): not resolved" in str(ei.value)
    finally:
        k.shutdown()


def test_the_program_reads_the_values_at_run_time(kcfg_obj: str) -> None:
    """ld_imm64 of an extern becomes a map-value load of the frozen .kconfig map."""
    k = Kernel(kconfig=DEFAULT.with_values(CONFIG_HZ=300))
    try:
        obj = BpfObject.open_file(kcfg_obj, log=Log(stream=None))
        obj.load(k)
        assert k.prog_test_run(obj.progs["read_all"].fd, ctx_in=b"\0" * 8).retval == 0
        (bss,) = [m for m in obj.maps if m.real_name == ".bss"]
        out = struct.unpack("<7Q", k.map_lookup_elem(bss.fd, b"\0" * 4))
        assert out[:3] == (300, 1, 1) and out[3] == 0 and out[4] == 0
        with pytest.raises(KernelError) as ei:
            k.map_update_elem(_kmap(obj).fd, b"\0" * 4, bytes(31))
        assert ei.value.errno == errno.EPERM  # frozen by the loader
    finally:
        k.shutdown()


def test_the_config_knob_checks_its_input() -> None:
    assert DEFAULT.hz == 250 and DEFAULT.with_values(CONFIG_HZ=1000).values["CONFIG_HZ_1000"] == "y"
    assert "CONFIG_HZ_250" not in DEFAULT.with_values(CONFIG_HZ=1000).values
    with pytest.raises(InputError, match="CONFIG_HZ=123 is not one of"):
        DEFAULT.with_values(CONFIG_HZ=123)
    assert KernelConfig.parse("# c\n\nCONFIG_HZ=100\n# CONFIG_X is not set\n").hz == 100
    with pytest.raises(InputError, match="cfg:2: not a CONFIG_NAME=value line"):
        KernelConfig.parse("CONFIG_A=y\nHZ=3\n", "cfg")


@pytest.mark.kernel
def test_the_host_verifies_bpf_cubic_with_its_own_kconfig_map() -> None:
    """The same loader on the host: the .kconfig map created and frozen there, CONFIG_HZ read
    from the host's /boot/config-$(uname -r) or /proc/config.gz; every program is accepted,
    as the emulated kernel accepts them."""
    from emu.host.hostsys import HostSys

    h = HostSys()
    if h.kconfig_text() is None:
        pytest.skip("the host has neither /boot/config-$(uname -r) nor /proc/config.gz")
    try:
        host = {(v.name, v.accepted) for v in BpfObject.open_file(BPF_CUBIC, log=Log(stream=None)).verify_programs(h)}
    finally:
        h.close_all()
    k = Kernel()
    try:
        ours = {(v.name, v.accepted) for v in BpfObject.open_file(BPF_CUBIC, log=Log(stream=None)).verify_programs(k)}
    finally:
        k.shutdown()
    assert host == ours and all(ok for _, ok in host) and len(host) == 7
