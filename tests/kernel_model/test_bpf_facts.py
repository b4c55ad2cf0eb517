"""kernel_model.bpf_facts: helper protos, get_func_proto, kfuncs, map and program types.

Offline tests check the data's shape and a few kernel facts; tests marked
``kernel`` compare with the host kernel (BTF enums, helper availability for a
sample of program contexts, BPF_MAP_CREATE verdicts, kfunc names). The
exhaustive helper sweep is tools/check_helper_availability.py.
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import replace

import pytest

from kernel_model.bpf_facts import enums, func_proto, helper_protos, kfuncs, map_types, prog_types
from kernel_model.bpf_facts.func_proto import ProgContext, available_helpers, get_func_proto
from kernel_model.helper_ids import HELPER_NAMES, helper_id, helper_name
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))

VMLINUX = "/sys/kernel/btf/vmlinux"


# ----------------------------------------------------------------------------- offline


def test_helper_ids_api_kept():
    assert helper_name(1) == "bpf_map_lookup_elem" and helper_id("bpf_cgrp_storage_delete") == 211
    assert len(HELPER_NAMES) == 212  # __BPF_FUNC_MAX_ID of 6.12 and 6.18


def test_every_proto_decodes_to_618_values():
    assert len(helper_protos.PROTOS) >= 275
    for sym, p in helper_protos.PROTOS.items():
        assert p.ret.base in enums.RET_TYPES, sym
        for a in p.args:
            assert a.base in enums.ARG_TYPES, sym
            assert a.value & enums.BASE_TYPE_MASK == enums.ARG_TYPES[a.base]
    lookup = helper_protos.proto("bpf_map_lookup_elem_proto")
    assert str(lookup.ret) == "RET_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL"
    assert [a.base for a in lookup.args[:2]] == ["ARG_CONST_MAP_PTR", "ARG_PTR_TO_MAP_KEY"]
    assert lookup.pkt_access and not lookup.gpl_only
    uninit = helper_protos.proto("bpf_probe_read_kernel_proto").args[0]
    assert uninit.base == "ARG_PTR_TO_MEM" and uninit.flags == {"MEM_UNINIT", "MEM_WRITE"}
    assert helper_protos.proto("bpf_get_smp_processor_id_proto").allow_fastcall
    # 6.18 has no ARG_SCALAR: bpf_loop's nr_loops is ARG_ANYTHING
    assert helper_protos.proto("bpf_loop_proto").args[0].base == "ARG_ANYTHING"


def test_every_helper_has_a_variant_and_variants_are_known_protos():
    missing = [i for i in range(1, len(HELPER_NAMES)) if not helper_protos.variants(i)]
    assert missing == [], [HELPER_NAMES[i] for i in missing]
    for i in range(1, len(HELPER_NAMES)):
        for sym in helper_protos.variants(i):
            assert sym in helper_protos.PROTOS or sym.endswith("__weak"), (HELPER_NAMES[i], sym)
    assert set(helper_protos.variants(helper_id("get_stack"))) >= {
        "bpf_get_stack_proto", "bpf_get_stack_sleepable_proto", "bpf_get_stack_proto_tp",
        "bpf_get_stack_proto_raw_tp", "bpf_get_stack_proto_pe"}


def test_get_func_proto_decisions():
    sf = ProgContext("BPF_PROG_TYPE_SOCKET_FILTER")
    assert get_func_proto(1, sf).symbol == "bpf_map_lookup_elem_proto"
    assert get_func_proto(helper_id("skb_store_bytes"), sf).symbol is None
    assert get_func_proto(helper_id("get_smp_processor_id"), sf).symbol == "bpf_get_raw_smp_processor_id_proto"
    kp = ProgContext("BPF_PROG_TYPE_KPROBE")
    gs = helper_id("get_stack")
    assert get_func_proto(gs, kp).symbol == "bpf_get_stack_proto"
    assert get_func_proto(gs, replace(kp, sleepable=True)).symbol == "bpf_get_stack_sleepable_proto"
    assert get_func_proto(gs, ProgContext("BPF_PROG_TYPE_TRACEPOINT")).symbol == "bpf_get_stack_proto_tp"
    # CAP_PERFMON tier of bpf_base_func_proto
    noperf = replace(sf, caps=frozenset({"CAP_BPF"}))
    assert get_func_proto(helper_id("trace_printk"), sf).symbol == "bpf_trace_printk_proto"
    assert get_func_proto(helper_id("trace_printk"), noperf).symbol is None
    # an unset expected_attach_type is 0 = BPF_CGROUP_INET_INGRESS: get_retval refused for sock_ops
    assert get_func_proto(helper_id("get_retval"), ProgContext("BPF_PROG_TYPE_SOCK_OPS")).symbol is None
    sa = ProgContext("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_CONNECT")
    assert get_func_proto(helper_id("bind"), sa).symbol == "bpf_bind_proto"
    assert get_func_proto(helper_id("bind"), replace(sa, expected_attach_type="BPF_CGROUP_INET4_BIND")).symbol is None
    # struct_ops: tcp_congestion_ops.release may not call bpf_setsockopt, other members may
    ca = ProgContext("BPF_PROG_TYPE_STRUCT_OPS", attach_target="tcp_congestion_ops.ssthresh")
    assert get_func_proto(helper_id("setsockopt"), ca).symbol == "bpf_sk_setsockopt_proto"
    rel = replace(ca, attach_target="tcp_congestion_ops.release")
    assert get_func_proto(helper_id("setsockopt"), rel).symbol is None
    assert available_helpers(ProgContext("BPF_PROG_TYPE_STRUCT_OPS", attach_target="bpf_dummy_ops.test_1")) == {}
    # ids outside __BPF_FUNC_MAX_ID
    assert get_func_proto(len(HELPER_NAMES), sf).symbol is None
    assert func_proto.get_func_proto(0, sf).symbol is None


def test_6_18_changes_are_recorded():
    func_proto.available_helpers(ProgContext("BPF_PROG_TYPE_XDP"))  # builds the patched tables
    from kernel_model.bpf_facts.func_proto_618 import CHANGES

    assert len(CHANGES) >= 10
    assert all(why.startswith("6.18") for _fn, _what, why in CHANGES)


def test_model_matches_the_verifiers_host_checked_socket_filter_set():
    """verifier/helpers.py SOCKET_FILTER_HELPERS was read off a 6.18 host helper by helper."""
    from verifier.helpers import SOCKET_FILTER_HELPERS, SYSCALL_HELPERS

    assert set(available_helpers(ProgContext("BPF_PROG_TYPE_SOCKET_FILTER"))) == set(SOCKET_FILTER_HELPERS)
    got = set(available_helpers(ProgContext("BPF_PROG_TYPE_SYSCALL", sleepable=True,
                                            lockdown=frozenset({"LOCKDOWN_BPF_WRITE_USER"}))))
    assert got == set(SYSCALL_HELPERS)


def test_prog_and_map_type_tables_cover_every_type():
    assert set(prog_types.PROG_FACTS) == {n for n, v in enums.PROG_TYPES.items() if v}
    assert set(map_types.MAP_FACTS) == {n for n, v in enums.MAP_TYPES.items() if v}
    assert prog_types.PROG_FACTS["BPF_PROG_TYPE_XDP"].ctx == "struct xdp_md"
    assert prog_types.PROG_FACTS["BPF_PROG_TYPE_XDP"].test_run == "bpf_prog_test_run_xdp"
    assert prog_types.PROG_FACTS["BPF_PROG_TYPE_KPROBE"].test_run is None
    assert prog_types.return_range("BPF_PROG_TYPE_CGROUP_SKB", "BPF_CGROUP_INET_EGRESS") == (0, 3)
    assert prog_types.return_range("BPF_PROG_TYPE_CGROUP_SKB", "BPF_CGROUP_INET_INGRESS") == (0, 1)
    assert map_types.MAP_FACTS["BPF_MAP_TYPE_PERCPU_HASH"].percpu
    assert not map_types.MAP_FACTS["BPF_MAP_TYPE_SK_STORAGE"].get_next_key
    assert map_types.MAP_FACTS["BPF_MAP_TYPE_STACK_TRACE"].btf == "forbidden"


def test_map_create_rules():
    H, A = enums.MAP_TYPES["BPF_MAP_TYPE_HASH"], enums.MAP_TYPES["BPF_MAP_TYPE_ARRAY"]
    mc = map_types.MapCreate
    assert map_types.create_errno(mc(H, 4, 8, 16)) == 0
    assert map_types.create_errno(mc(H, 0, 8, 16)) == map_types.EINVAL
    assert map_types.create_errno(mc(A, 8, 8, 16)) == map_types.EINVAL
    lru = enums.MAP_TYPES["BPF_MAP_TYPE_LRU_HASH"]
    assert map_types.create_errno(mc(lru, 4, 8, 16, map_types.F["BPF_F_NO_PREALLOC"])) == map_types.ENOTSUPP


def test_kfunc_tables():
    k = kfuncs.kfunc("bpf_obj_new_impl")
    assert k.flags is not None and "KF_ACQUIRE" in k.flags and "KF_RET_NULL" in k.flags
    assert k.decl is not None and k.decl.startswith("extern void *bpf_obj_new_impl(") and k.decl.endswith("__ksym;")
    assert k.allowed_for("BPF_PROG_TYPE_XDP") and not k.allowed_for("BPF_PROG_TYPE_SOCKET_FILTER")
    assert kfuncs.kfunc("bpf_rdonly_cast").allowed_for("BPF_PROG_TYPE_SOCKET_FILTER")  # common set
    assert kfuncs.kfunc("bpf_cpumask_create").allowed_for("BPF_PROG_TYPE_LSM")  # tracing hook
    assert len([x for x in kfuncs.KFUNCS.values() if x.decl]) >= 200
    assert kfuncs.declarations().count("__ksym;") == len([x for x in kfuncs.KFUNCS.values() if x.decl])


# ------------------------------------------------------------------------ host checks


@pytest.fixture(scope="module")
def host_btf():
    if not os.path.exists(VMLINUX):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    from kernel_model.btf import load

    return load(VMLINUX, validate=False)


def _host_enum(btf, name):  # type: ignore[no-untyped-def]
    from kernel_model.btf import Enum

    for _tid, t in btf.iter_types():
        if isinstance(t, Enum) and t.name == name:
            return {v.name: v.value for v in t.values}
    pytest.skip(f"the host BTF has no enum {name}")


@pytest.mark.kernel
@pytest.mark.parametrize("enum,table", [
    ("bpf_prog_type", enums.PROG_TYPES), ("bpf_map_type", enums.MAP_TYPES),
    ("bpf_attach_type", enums.ATTACH_TYPES), ("bpf_arg_type", enums.ARG_TYPES),
    ("bpf_return_type", enums.RET_TYPES), ("bpf_type_flag", enums.TYPE_FLAGS),
])
def test_enums_equal_the_host_btf(host_btf, enum, table):
    host = {k: v for k, v in _host_enum(host_btf, enum).items() if not k.startswith("__")}
    host = {k: v for k, v in host.items() if not k.endswith("_DEPRECATED")}
    if enum == "bpf_arg_type":
        host = {k: v for k, v in host.items() if v < 256}
    if enum == "bpf_return_type":
        host = {k: v for k, v in host.items() if v < 256}
    assert host == table


@pytest.mark.kernel
def test_extended_type_values_equal_the_host_btf(host_btf):
    for enum, aliases in (("bpf_arg_type", enums.ARG_TYPE_ALIASES), ("bpf_return_type", enums.RET_TYPE_ALIASES)):
        host = _host_enum(host_btf, enum)
        for name, parts in aliases.items():
            assert enums.type_value(parts) == host[name], name


@pytest.mark.kernel
def test_helper_availability_sample_equals_the_host():
    """Every helper from a sample of program contexts, loaded on the host (the whole
    sweep, 66 contexts, is tools/check_helper_availability.py)."""
    import check_helper_availability as chk

    labels = ("socket_filter", "xdp", "sched_cls", "cgroup_sock_addr/CGROUP_INET4_CONNECT", "lwt_seg6local",
              "sock_ops", "tracing/TRACE_ITER[tcp]", "kprobe/TRACE_UPROBE_MULTI/sleepable",
              "struct_ops[tcp_congestion_ops.release]", "syscall/sleepable")
    cases = [c for c in chk.CONTEXTS if c.label in labels]
    assert len(cases) == len(labels)
    rep = chk.sweep(cases)
    checked = sum(c["agree"] + c["mismatch"] for c in rep["contexts"])
    assert checked > 1500, rep["contexts"]
    assert rep["mismatches"] == []


@pytest.mark.kernel
def test_map_create_verdicts_equal_the_host():
    from emu.host.hostbpf import close, map_create

    mstack = int(open("/proc/sys/kernel/perf_event_max_stack").read())
    nr_cpus = os.cpu_count() or 1
    try:
        import gzip

        cfg = gzip.open("/proc/config.gz", "rt").read()
        nr_cpus = int(cfg.split("CONFIG_NR_CPUS=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        pass
    F = map_types.F
    flagsets = (0, F["BPF_F_NO_PREALLOC"], F["BPF_F_MMAPABLE"], F["BPF_F_RDONLY_PROG"] | F["BPF_F_WRONLY_PROG"],
                F["BPF_F_NO_COMMON_LRU"], 1 << 30)
    bad, total, skipped = [], 0, []
    for name, facts in map_types.MAP_FACTS.items():
        if not facts.host_checkable:
            continue
        t = enums.MAP_TYPES[name]
        if name == "BPF_MAP_TYPE_ARENA":
            fd, err = map_create(t, 0, 0, 1, map_flags=F["BPF_F_MMAPABLE"])
            if fd >= 0:
                close(fd)
            if err == 1:  # EPERM for a valid arena: refused by this host's policy, not by the checks
                skipped.append(name)
                continue
        for k, v, n, fl in itertools.product((0, 4, 8, 16), (0, 4, 8), (0, 1, 4096), flagsets):
            fd, err = map_create(t, k, v, n, map_flags=fl)
            if fd >= 0:
                close(fd)
            want = map_types.create_errno(map_types.MapCreate(t, k, v, n, fl, perf_event_max_stack=mstack,
                                                              nr_cpus=nr_cpus))
            total += 1
            if want != err:
                bad.append((name, k, v, n, fl, err, want))
    assert total > 3000
    assert bad == [], bad[:10]


@pytest.mark.kernel
def test_kfunc_declarations_name_host_kfuncs(host_btf):
    """Every declared kfunc is a FUNC in the host's BTF (a kernel without some kfuncs, e.g.
    another config, skips the check for those it lacks; all must be there on 6.18)."""
    from kernel_model.btf import structs as S

    missing = [n for n in kfuncs.KFUNCS if kfuncs.KFUNCS[n].decl and host_btf.find(n, S.KIND_FUNC) is None]
    if os.uname().release.startswith("6.18"):
        assert missing == []
