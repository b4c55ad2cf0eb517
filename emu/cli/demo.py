"""``structops demo``: a guided, readable run through what the emulator shows.

Each step prints a heading, what it demonstrates, and the objects involved --
instruction listings, page maps, trampoline listings from the machine's
memory, verifier logs, oops reports -- all produced by the emulated kernel in
this run (nothing is canned). The steps (section 6 of the struct_ops issue):

1. ``isa``: a program in kernel syntax, its bytes, the reference interpreter;
2. ``pages``: trampolines packed into pages on latest and on 6.8, the E2BIG
   point and the configuration knobs behind "about 20 per page";
3. ``run``: a bpf_dummy_ops program loaded through bpf() (verifier, JIT) and
   run through the trampoline the test runner builds, with its listing;
4. ``nullable``: the same unchecked dereference of a nullable argument,
   refused by the verifier on latest, accepted on 6.8 -- where the subsystem
   passes NULL and the emulated kernel oopses;
5. ``module``: a module's own struct_ops type, its map and link, reg() calling
   the programs, the page map and a trampoline in the map's image, and the map
   pinning the module;
6. ``kfunc``: a kfunc two modules provide, and how a program's call binds.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from kernel_model.cpu import DEFAULT_CPU, PRESETS, CpuConfig
from kernel_model.errors import errno_name

__all__ = ["run_demo", "STEPS", "add_subcommand", "cmd_demo"]

#: the CPU configuration every step's kernel runs on (``structops demo --cpu``)
_CPU: list[CpuConfig] = [DEFAULT_CPU]


def _kernel(profile: str = "latest", **kwargs):  # type: ignore[no-untyped-def]
    """An emulated kernel of the profile called ``profile`` on the demo's CPU configuration."""
    from kernel_model.profile import get_profile

    from emu.kernel import Kernel

    return Kernel(get_profile(profile), cpu=_CPU[0], **kwargs)


def _h(title: str) -> None:
    print()
    print("=" * 78)
    print(title)
    print("=" * 78)


def step_isa() -> None:
    from kernel_model.asm import assemble
    from kernel_model.disasm import format_log_insn
    from kernel_model.insn import encode
    from kernel_model.interp import Interpreter

    _h("1. A BPF program: kernel syntax -> instruction bytes -> reference interpreter")
    text = """\
    r0 = 0
    r1 = 1
loop:
    r0 += r1          ; sum 1..10
    r1 += 1
    if r1 <= 10 goto loop
    exit"""
    print(text)
    insns = assemble(text)
    print("\nAs the verifier log prints each slot (kernel/bpf/disasm.c):")
    for i in range(len(insns)):
        print(f"  {i}: {format_log_insn(insns, i):40s} {insns[i].to_bytes().hex()}")
    print(f"\n{len(encode(insns))} bytes. The reference interpreter runs it:")
    it = Interpreter(insns)
    r0 = it.run()
    print(f"  r0 = {r0} after {it.executed} instructions")


def _page_map(plan) -> str:  # type: ignore[no-untyped-def]
    """One row per page: which members' trampolines sit in it."""
    rows = []
    pages: dict[int, list[str]] = {}
    for p in plan.placements:
        pages.setdefault(p.page, []).append(plan.member_for(p))
    for page, names in sorted(pages.items()):
        used = sum(p.size for p in plan.placements if p.page == page)
        rows.append(f"    page {page}: {len(names):2d} trampolines, {used:4d}/4096 bytes  "
                    f"[{names[0]} .. {names[-1]}]")
    return "\n".join(rows)


def step_pages() -> None:
    from importlib.resources import as_file, files

    from emu.kernel.planner import plan_pages

    _h("2. Trampolines packed into pages: eight pages on latest, one on 6.8")
    print("Each function member of a struct_ops map gets an x86-64 trampoline (kernel calling convention ->\n"
          "BPF's u64 argument array). They are packed into 4 KiB pages; a trampoline never crosses a page.")
    k = _kernel("latest")
    plan = plan_pages(k.struct_ops_type("bpf_testmod_ops"), k.profile, _CPU[0])
    print(f"\nbpf_testmod_ops (module bpf_testmod, 43 supported members) on latest: {plan.pages} pages")
    print(_page_map(plan))
    with as_file(files("emu.cli.data") / "many_ops.h") as header:  # packaged: works from any directory
        _many_ops_pages(header)


def _many_ops_pages(header: "os.PathLike[str]") -> None:
    """many_ops (``emu/cli/data/many_ops.h``) packed on latest and 6.8, and the per-page count."""
    from kernel_model.profile import get_profile

    from emu.kernel.planner import plan_pages, register_declared_type

    for name in ("latest", "6.8"):
        prof = get_profile(name)
        desc = register_declared_type(f"{header}:many_ops", prof)
        plan = plan_pages(desc, prof, _CPU[0])
        print(f"\nmany_ops (40 x int (*)(int)) on {name} (limit {prof.tramp_image_pages} page(s)):")
        print(_page_map(plan))
        if plan.error is not None:
            print(f"    -> {plan.error}   (BPF_MAP_UPDATE_ELEM fails, nothing registered, no page leaked)")
    latest = get_profile("latest")
    base = plan_pages(desc, latest, _CPU[0]).placements[0].size
    alt = PRESETS["intel-stuff"]
    alt_size = plan_pages(register_declared_type(f"{header}:many_ops", latest), latest, alt).placements[0].size
    print(f"\nPer page: {4096 // base} on cpu {_CPU[0].name} ({base} bytes each: code + 64 safety bytes); "
          f"{4096 // alt_size} on cpu {alt.name}, with IBT and call-depth tracking ({alt_size} bytes) --\n"
          "the 'about 20 per page on x86' the kernel developers quoted in 2024 (structops tramp --cpu list).")


def _listing(machine, addr: int, code: bytes, notes: dict[int, str] | None = None) -> str:  # type: ignore[no-untyped-def]
    """Capstone listing of ``code`` at ``addr``; calls named from kallsyms, ``movabs``
    immediates named from ``notes``."""
    from emu.machine.listing import disassemble

    out = []
    for line in disassemble(code, addr, machine.kallsyms.symbolize):
        for value, what in (notes or {}).items():
            if f"{value:#x}" in line:
                line += f"   ; {what}"
        out.append("      " + line)
    return "\n".join(out)


def _tail(log: str, n: int = 4) -> str:
    return "\n".join("      " + ln for ln in log.rstrip().splitlines()[-n:])


def _walk(log: str) -> str:
    """The log from the first state line on (the liveness table before it is left out)."""
    lines = log.rstrip().splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("0: R1=")), 0)
    return "\n".join("      " + ln for ln in lines[start:])


DUMMY_TEST_1 = """\
    r1 = *(u64 *)(r1 + 0)     ; the first argument: struct bpf_dummy_ops_state *state
    if r1 == 0 goto null      ; state is __nullable: test it
    r0 = *(u32 *)(r1 + 0)     ; state->val
    r0 += 1
    *(u32 *)(r1 + 0) = r0     ; state->val += 1
    exit
null:
    r0 = 0xf2f3
    exit"""
UNCHECKED = """\
    r1 = *(u64 *)(r1 + 0)     ; state, which may be NULL
    r0 = *(u32 *)(r1 + 0)     ; state->val, no NULL check
    exit"""


def _dummy_load(k, src: str, log_level: int = 1) -> int:  # type: ignore[no-untyped-def]
    from kernel_model.asm import assemble
    from kernel_model.prog import PROG_TYPE_STRUCT_OPS

    d = k.struct_ops_type("bpf_dummy_ops")
    return k.prog_load(assemble(src), prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                       expected_attach_type=d.member("test_1").index, log_level=log_level, prog_name="test_1")


def step_run() -> None:
    import struct

    from jit.trampoline import X86StructOpsArch, struct_ops_flags


    _h("3. A struct_ops program through bpf(): verified, JIT-compiled, run through its trampoline")
    print("bpf_dummy_ops is the kernel's struct_ops type for tests (net/bpf/bpf_dummy_struct_ops.c): its\n"
          "programs run through BPF_PROG_TEST_RUN, which builds a trampoline for the member on the fly.\n"
          "test_1(struct bpf_dummy_ops_state *state) -- a program for it:\n")
    print(DUMMY_TEST_1)
    k = _kernel()
    fd = _dummy_load(k, DUMMY_TEST_1, log_level=2)
    info = k.prog_info(fd)
    print("\nBPF_PROG_LOAD: the verifier's log (level 2): the argument is trusted_ptr_or_null until the\n"
          "check, trusted after it; the NULL branch is walked separately:")
    print(_walk(info.verifier_log))
    print(f"\nJIT image: {len(info.jited)} bytes at {info.jited_ksyms[0]:#x} "
          f"({k.machine.kallsyms.lookup(info.jited_ksyms[0]).name})")
    user_state = k.user.alloc(struct.pack("<i", 41))
    r = k.prog_test_run(fd, ctx_in=struct.pack("<Q", user_state))
    val = struct.unpack("<i", k.user.read(user_state, 4))[0]
    print(f"BPF_PROG_TEST_RUN with args[0] = &state (val 41): retval {r.retval}, state copied back: val {val}")
    r0 = k.prog_test_run(fd, ctx_in=struct.pack("<Q", 0))
    print(f"BPF_PROG_TEST_RUN with args[0] = NULL:             retval {r0.retval:#x} (the NULL branch)")
    image = r.details["trampoline"]
    po = k.fds.objects[fd]
    model = k.struct_ops_type("bpf_dummy_ops").member("test_1").func_model
    code = X86StructOpsArch(k.profile, k.machine.images.trampoline_symbols(), k.cpu_config).emit(
        model, struct_ops_flags(model), po.prog, image)
    print(f"\nThe trampoline the test runner built at {image:#x} ({len(code)} bytes on cpu {k.cpu_config.name};\n"
          "107 on the hosts whose test runs we captured, whose returns jump to a thunk):\n"
          "the kernel's C caller calls it with the argument in rdi, stored as the u64 array\n"
          "the program reads as its context (r1 = rbp-0x10), around the enter/exit calls:")
    print(_listing(k.machine, image, code, {po.prog.addr: "struct bpf_prog *"}))
    k.shutdown()


def step_nullable() -> None:
    import struct

    from emu.machine.oops import Oops
    from emu.kernel.syscall import ProgLoadError

    _h("4. A nullable argument dereferenced without a check: latest refuses it, 6.8 oopses")
    print("test_1's CFI stub names its argument cb__nullable (Linux 6.9+: prepare_arg_info), so the verifier\n"
          "types it trusted_ptr_or_null and refuses a load before a NULL check. This program has none:\n")
    print(UNCHECKED)
    for name in ("latest", "6.8"):
        k = _kernel(name, modules=())
        print(f"\n--- on {name} ---")
        try:
            fd = _dummy_load(k, UNCHECKED, log_level=2)
        except ProgLoadError as e:
            print(f"BPF_PROG_LOAD refused, -{errno_name(e.errno)}: {e.message}")
            print(_walk(e.log))
            k.shutdown()
            continue
        print("BPF_PROG_LOAD accepted: this kernel has no __nullable handling, the argument is trusted.")
        print("The subsystem (here the test runner, args[0] = 0) passes NULL; the load through it faults:\n")
        try:
            k.prog_test_run(fd, ctx_in=struct.pack("<Q", 0))
        except Oops as oops:
            print("\n".join("    " + ln for ln in oops.text.splitlines()[:22]))
            print(f"\n  (the faulting BPF instruction is insn {oops.report.bpf_insn}; the frame below it is the\n"
                  "   test runner's transient trampoline, which has no kallsyms entry on any version: only a\n"
                  "   map's trampolines are named, bpf__<type>_<member>, since 6.12)")
        state = k.user.alloc(struct.pack("<i", 5))
        print(f"\n  the emulated kernel carries on: the same program with a real state returns "
              f"{k.prog_test_run(fd, ctx_in=struct.pack('<Q', state)).retval}")
        k.shutdown()


def step_module() -> None:
    import struct

    from kernel_model.asm import assemble
    from kernel_model.bpf_map import MAP_TYPE_ARRAY, MAP_TYPE_STRUCT_OPS
    from kernel_model.btf import parse_c
    from kernel_model.errors import KernelError
    from kernel_model.prog import PROG_TYPE_STRUCT_OPS
    from kernel_model.struct_ops_map import BPF_F_LINK, BPF_F_VTYPE_BTF_OBJ_FD

    from emu.kernel.syscall import BPF_STRUCT_OPS

    _h("5. A module registers its own struct_ops type; a map of it pins the module")
    k = _kernel()
    print("BTF objects, as libbpf finds them (BPF_BTF_GET_NEXT_ID, BPF_BTF_GET_FD_BY_ID, btf_info):")
    bid = 0
    while True:
        try:
            bid = k.btf_get_next_id(bid)
        except KernelError:
            break
        fd = k.btf_get_fd_by_id(bid)
        info = k.btf_info(fd)
        print(f"    id {info.id}: {info.name:12s} {len(info.data) or len(k.btf.to_bytes())} bytes")
        k.close(fd)
    print("registered struct_ops types: " + ", ".join(
        f"{d.name}{' [' + d.ops.owner.name + ']' if d.ops.owner else ''}" for d in k.struct_ops.descs))
    d = k.struct_ops_type("bpf_testmod_ops")
    mod_fd = k.module_btf_fd("bpf_testmod")
    out = k.map_create(map_type=MAP_TYPE_ARRAY, key_size=4, value_size=8, max_entries=1, map_name="results")

    def load(member: str, src: str) -> int:
        return k.prog_load(assemble(src), prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                           attach_btf_obj_fd=mod_fd, expected_attach_type=d.member(member).index, prog_name=member)

    t1 = load("test_1", f"r1 = map[fd:{out}][0]+0 ll\nr2 = 0x1234\n*(u32 *)(r1 + 0) = r2\nr0 = 0\nexit")
    t2 = load("test_2", f"r2 = *(u64 *)(r1 + 0)\nr3 = *(u64 *)(r1 + 8)\nr2 += r3\n"
                        f"r1 = map[fd:{out}][0]+4 ll\n*(u32 *)(r1 + 0) = r2\nexit")
    value = bytearray(d.value_size)
    for member, fd in (("test_1", t1), ("test_2", t2)):
        struct.pack_into("<Q", value, d.data_offset + d.member(member).offset, fd)
    struct.pack_into("<i", value, d.data_offset + d.member("data").offset, 13)
    ubtf = k.btf_load(parse_c("int x;").to_bytes())
    m = k.map_create(map_type=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=d.value_size, max_entries=1,
                     map_flags=BPF_F_LINK | BPF_F_VTYPE_BTF_OBJ_FD, btf_fd=ubtf,
                     btf_vmlinux_value_type_id=d.value_id, value_type_btf_obj_fd=mod_fd, map_name="testmod_1")
    k.map_update_elem(m, bytes(4), bytes(value))
    st = k.fds.objects[m].st_map
    print(f"\nBPF_MAP_UPDATE_ELEM of a BPF_F_LINK map (test_1, test_2 and data = 13): state READY, "
          f"{len(st.image_pages)} image page(s):")
    for p in st.placements:
        print(f"    page {p.page} +{p.offset:<4d} {p.code_size:3d} bytes  {p.ksym:32s} -> prog id {p.prog_id}")
    first = st.placements[0]
    print(f"\n{first.ksym} in the map's image, from the machine's memory:")
    prog_addr = k.fds.objects[t1].prog.addr
    print(_listing(k.machine, first.addr, k.machine.mem.peek(first.addr, first.code_size),
                   {prog_addr: "struct bpf_prog *"}))
    link = k.link_create(m, attach_type=BPF_STRUCT_OPS)
    r1, r2 = struct.unpack("<II", k.map_lookup_elem(out, bytes(4)))
    print(f"\nBPF_LINK_CREATE: bpf_testmod's reg() calls ops->test_1() and ops->test_2(4, data) through the\n"
          f"kernel-side struct: test_1 stored {r1:#x}, test_2 stored {r2} (4 + 13)")
    print(f"call_struct_ops(test_2, 30, 12): the emulated subsystem calls the member again -> results "
          f"{(k.call_struct_ops(m, 'test_2', 30, 12), struct.unpack('<II', k.map_lookup_elem(out, bytes(4)))[1])[1]}")
    mod = k.modules.modules["bpf_testmod"]
    print()
    for what, then_close in (("the map (the link holds the map)", link), ("the map", m), (None, None)):
        try:
            k.unload_module("bpf_testmod")
            print("rmmod bpf_testmod: unloaded -- nothing holds it any more (the programs hold its BTF, not it)")
        except KernelError:
            print(f"rmmod bpf_testmod: -EWOULDBLOCK (delete_module: refcount {mod.refcnt}) -- {what} holds it")
        if then_close is not None:
            kind = "link" if then_close == link else "map"
            k.close(then_close)
            print(f"  close({kind} fd)")
    k.shutdown()
    print("\n--- on 6.8 ---")
    old = _kernel("6.8")
    print("register_bpf_struct_ops() is for built-in subsystems only before 6.9 (module struct_ops came\n"
          "with the 'Registrating struct_ops types from modules' series), so bpf_testmod's init fails:")
    for line in old.dmesg:
        print(f"    dmesg: {line}")
    print("registered struct_ops types: " + ", ".join(d.name for d in old.struct_ops.descs))
    old.shutdown()


def _call_target(machine, addr: int, code: bytes):  # type: ignore[no-untyped-def]
    """The kallsyms symbol of the first ``call`` in ``code``."""
    from emu.machine.listing import decode

    for _a, _s, mnem, op in decode(code, addr):
        if mnem == "call":
            return machine.kallsyms.lookup(int(op, 0))
    raise LookupError("no call")


def step_kfunc() -> None:
    from kernel_model.insn import Insn
    from kernel_model.prog import PROG_TYPE_STRUCT_OPS


    _h("6. A kfunc two modules provide: how a program's call binds")
    k = _kernel(modules=("bpf_testmod", "bpf_testmod_alt"))
    print("bpf_testmod and bpf_testmod_alt both define  int bpf_kfunc_common_test(int x)  (x + 1000 / x + 2000).\n"
          "A kfunc call names a BTF id *and* a BTF object: imm = the FUNC's id, off = an index into\n"
          "fd_array, where the loader puts the module's BTF fd. The kernel binds to exactly that one;\n"
          "libbpf, resolving the extern, takes the first module BTF (lowest id) that has the name.\n")
    tcp = k.struct_ops_type("tcp_congestion_ops")
    fds = []
    for mod in ("bpf_testmod", "bpf_testmod_alt"):
        btf_fd = k.module_btf_fd(mod)
        kid = k.modules.modules[mod].kfunc_ids["bpf_kfunc_common_test"]
        prog = [Insn(0xB7, 1, 0, 0, 42), Insn(0x85, 0, 2, 1, kid), Insn(0x95)]
        fd = k.prog_load(prog, prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=tcp.type_id,
                         expected_attach_type=tcp.member("ssthresh").index, fd_array=[0, btf_fd])
        fds.append(fd)
        po = k.fds.objects[fd]
        sym = _call_target(k.machine, po.jp.funcs[0].addr, po.prog.jited)
        print(f"  BTF id {kid} of {mod}'s BTF -> the JIT's call goes to {sym.addr:#x} "
              f"{sym.name} [{sym.module}]")
        r = k.machine.call(po.prog.bpf_func, (k.machine.alloc.kzalloc(64),))
        print(f"      run: bpf_kfunc_common_test(42) = {r}")
    from kernel_model.errors import KernelError

    try:
        k.unload_module("bpf_testmod_alt")
    except KernelError:
        print("\nrmmod bpf_testmod_alt: -EWOULDBLOCK -- the program calling its kfunc holds it (kfunc_btf_tab)")
    k.close(fds[1])
    k.unload_module("bpf_testmod_alt")
    print("after closing that program: rmmod bpf_testmod_alt succeeds")
    k.shutdown()


STEPS: list[tuple[str, Callable[[], None]]] = [
    ("isa", step_isa),
    ("pages", step_pages),
    ("run", step_run),
    ("nullable", step_nullable),
    ("module", step_module),
    ("kfunc", step_kfunc),
]


def run_demo(steps: list[str] | None = None, cpu: CpuConfig = DEFAULT_CPU) -> int:
    """Run the named steps (all by default) on ``cpu``; returns an exit status. An
    unknown step name is an :class:`~kernel_model.errors.InputError`, raised before
    any step runs."""
    from kernel_model.errors import InputError

    known = [name for name, _ in STEPS]
    for name in steps or ():
        if name not in known:
            raise InputError(f"no demo step {name!r} (steps: {', '.join(known)})")
    _CPU[0] = cpu
    print("structops-emu demo: the BPF struct_ops mechanism, its trampolines and its verifier")
    for name, fn in STEPS:
        if steps and name not in steps:
            continue
        fn()
        sys.stdout.flush()
    print("\nDone. See README.md and docs/ for more.")
    return 0


def cmd_demo(args: Any) -> int:
    return run_demo(args.steps or None, cpu=args.cpu)  # an unknown step name is an InputError (exit 2)


def add_subcommand(sub: Any) -> None:
    """Register ``demo``."""
    from emu.host.hostcpu import add_cpu_option

    dm = sub.add_parser("demo", help="a guided run through the emulator (what `make demo` runs)")
    dm.add_argument("steps", nargs="*", metavar="STEP",
                    help=f"run only these steps ({', '.join(name for name, _ in STEPS)})")
    add_cpu_option(dm)
    dm.set_defaults(func=cmd_demo)
