"""The fuzz suite's profile: ``quick`` (the default: a few dozen cases per
target from a fixed seed, so every run tries the same ones) or ``long``
(``HYPOTHESIS_PROFILE=long``: thousands per target, new ones each run)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
#: cases per target
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 2000 if LONG else 25))

FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG, database=None,
                suppress_health_check=list(HealthCheck))


#: imported once in the test process so that each forked case starts warm (importing
#: unicorn creates no machine; none is created outside the forks)
WARM_MODULES = ("emu.cli", "emu.kernel.runner", "emu.kernel.jitexec", "emu.kernel.kernel", "emu.kernel.harness",
                "emu.cli.verify", "emu.cli.loader", "emu.libbpf.object", "emu.libbpf.sigcheck", "emu.kernel.planner",
                "emu.cli.demo", "emu.formats.conformance", "emu.formats.progfile", "emu.machine.machine",
                "emu.machine.oops", "emu.machine.listing", "emu.kernel.test_run", "verifier.convert_ctx",
                "kernel_model.btf", "verifier", "jit.bpf_jit")


def warm() -> None:
    import importlib

    for name in WARM_MODULES:
        importlib.import_module(name)
    from emu.kernel.harness import model_kernel

    model_kernel()
