"""The host room: the real kernel (Linux 6.18) as the oracle, and the host's tools.

* :mod:`.hostbpf` -- ``bpf(2)`` through ctypes: verify-only program loads,
  ``BPF_PROG_TEST_RUN``, maps, BTF; never an attachment;
* :mod:`.hostsys` -- :class:`~emu.host.hostsys.HostSys`, the loader's
  :class:`~emu.libbpf.sys.BpfSys` on the host kernel;
* :mod:`.hostcpu` -- the host's CPU, mitigations and JIT options (``--cpu host``);
* :mod:`.tramp_oracle` -- a trampoline the host built, read back for comparison;
* :mod:`.toolchain` -- which clang / llvm-mc to use.

Imports :mod:`kernel_model` and, for :class:`HostSys`, the loader's protocol.
"""
