"""Benchmark: open + prepare of the example objects with the user-space loader.

For each committed ``examples/*.bpf.o`` prints the median wall time of

* the *parse floor*: pyelftools reading every section header and section plus
  decoding ``.BTF`` -- work any loader must do;
* ``BpfObject`` open (ELF, BTF fix-ups, maps, programs, relocations);
* open + prepare against the emulated kernel's BTF (struct_ops values,
  CO-RE, subprogram appending),

and the ratio of open+prepare to the floor, measured in the same process.
Where Debian's ``bpftool`` can open the object (its libbpf 1.1 refuses
``struct_ops.s``), ``bpftool gen skeleton`` -- libbpf 1.1's open, in C,
process start included -- is printed as a reference. ``--quick``: 3 runs of
each (CI), else 15.
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from elftools.elf.elffile import ELFFile  # noqa: E402

from emu.kernel import Kernel  # noqa: E402
from emu.libbpf import BpfObject, KernelBtf, Log  # noqa: E402
from kernel_model.btf import BTF  # noqa: E402


def median(fn, runs: int) -> float:
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def floor(data: bytes) -> None:
    elf = ELFFile(io.BytesIO(data))
    for s in elf.iter_sections():
        if s.name == ".BTF":
            BTF.from_bytes(s.data(), validate=False)
        elif s["sh_type"] != "SHT_NOBITS":
            s.data()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 runs per measurement (CI)")
    args = ap.parse_args(argv)
    runs = 3 if args.quick else 15
    files = sorted(glob.glob(os.path.join(ROOT, "examples", "*.bpf.o")))
    if not files:
        print("skip: no examples/*.bpf.o (run make examples)")
        return 0
    kernel = Kernel()
    bpftool = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.access("/usr/sbin/bpftool", os.X_OK) else None)
    print(f"{'object':28s} {'floor':>8s} {'open':>8s} {'+prepare':>9s} {'ratio':>6s} {'bpftool':>8s}")
    ratios = []
    for f in files:
        data = open(f, "rb").read()
        name = os.path.basename(f)[:-len(".bpf.o")]
        t_floor = median(lambda: floor(data), runs)
        t_open = median(lambda: BpfObject(data, f, log=Log(stream=None)), runs)

        def full() -> None:
            o = BpfObject(data, f, log=Log(stream=None))
            try:
                o.prepare(kernel_btf=KernelBtf.from_kernel(kernel))
            except Exception:  # objects whose prepare fails by design (autocreate, bad_struct_ops)
                pass
        t_full = median(full, runs)
        ratio = t_full / t_floor
        ratios.append(ratio)
        ref = "-"
        if bpftool:
            t0 = time.perf_counter()
            r = subprocess.run([bpftool, "gen", "skeleton", f], capture_output=True)
            if r.returncode == 0:
                ref = f"{(time.perf_counter() - t0) * 1e3:6.1f}ms"
        print(f"{name:28s} {t_floor * 1e3:6.2f}ms {t_open * 1e3:6.2f}ms {t_full * 1e3:7.2f}ms {ratio:5.1f}x "
              f"{ref:>8s}")
    print(f"open+prepare / parse floor: median {statistics.median(ratios):.1f}x, max {max(ratios):.1f}x "
          f"({len(files)} objects, {runs} runs each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
