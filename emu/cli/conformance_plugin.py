"""``structops-bpf-conformance-plugin``: the emulator as a runtime under bpf_conformance.

bpf_conformance (github.com/Alan-Jowett/bpf_conformance) runs a *plugin*
process per test: memory as hex bytes in ``argv[1]``, plugin options in
``argv[2]``, the program as hex bytes on stdin; the plugin prints r0 in hex
and exits 0, or prints its error and exits non-zero. The test-data format
itself is :mod:`emu.formats.conformance`.
"""

from __future__ import annotations

from kernel_model.errors import InputError

__all__ = ["plugin_main"]


def plugin_main(argv: list[str] | None = None) -> int:
    """bpf_conformance's plugin: ``PLUGIN [MEMORY_HEX [OPTIONS]] < PROGRAM_HEX``.

    Prints r0 in hex and returns 0; on a refusal or a fault prints the error
    (one line, on stdout, where the runner reads it) and returns the exit
    status :func:`emu.cli.status.exit_status` gives it."""
    import shlex
    import sys

    from kernel_model.errors import StructOpsError
    from kernel_model.insn import decode

    from emu.formats.conformance import UBPF_TEST_HELPERS, hex_bytes
    from emu.kernel.runner import ENGINES, run_program

    from .status import exit_status

    args = sys.argv[1:] if argv is None else argv
    try:
        mem = hex_bytes(args[0], "the memory argument") if args else b""
        engine, budget = "interp", 10_000_000
        opts = shlex.split(args[1]) if len(args) > 1 else []
        while opts:
            opt = opts.pop(0)
            if opt in ("--engine", "--budget") and opts:
                val = opts.pop(0)
                if opt == "--engine":
                    if val not in ENGINES:
                        raise InputError(f"--engine {val!r}: known engines are {', '.join(ENGINES)}")
                    engine = val
                else:
                    try:
                        budget = int(val, 0)
                    except ValueError:
                        raise InputError(f"--budget {val!r} is not a number") from None
            else:
                raise InputError(f"unknown plugin option {opt!r} (known: --engine interp|jit, --budget N)")
        code = hex_bytes(sys.stdin.read(), "the program on stdin")
        insns = decode(code, "<stdin>")
        r0 = run_program(insns, mem=mem or None, engine=engine, helpers=UBPF_TEST_HELPERS, budget=budget)
    except StructOpsError as e:
        sys.stdout.write(f"{e}\n")
        return exit_status(e)
    sys.stdout.write(f"{r0:x}\n")
    return 0
