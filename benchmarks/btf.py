"""Benchmark: parse /sys/kernel/btf/vmlinux, compared with bpftool.

Prints the wall time of our decode (+ validation), our raw dump, our re-encode
and our C header, and of ``bpftool btf dump file /sys/kernel/btf/vmlinux
format raw`` (output discarded), with the ratio parse/bpftool (target: within
10x). ``--quick`` runs each step once (CI); otherwise the best of 3 runs.
Skips with a message (exit 0) where the file or bpftool is absent.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kernel_model.btf import BTF, format_c, format_raw  # noqa: E402

VMLINUX = "/sys/kernel/btf/vmlinux"


def best(fn, runs: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one run of each step (CI)")
    ap.add_argument("--file", default=VMLINUX)
    args = ap.parse_args(argv)
    runs = 1 if args.quick else 3
    if not os.access(args.file, os.R_OK):
        print(f"skip: {args.file} is not readable on this host")
        return 0
    with open(args.file, "rb") as f:
        data = f.read()
    t_parse, btf = best(lambda: BTF.from_bytes(data), runs)
    t_nocheck, _ = best(lambda: BTF.from_bytes(data, validate=False), runs)
    assert isinstance(btf, BTF)
    print(f"file: {args.file} ({len(data)} bytes, {btf.type_count - 1} types)")
    print(f"parse+validate:  {t_parse:8.3f} s")
    print(f"parse only:      {t_nocheck:8.3f} s")
    t_enc, blob = best(btf.to_bytes, runs)
    print(f"re-encode:       {t_enc:8.3f} s  (identical: {blob == data})")
    t_raw, _ = best(lambda: format_raw(btf), runs)
    print(f"format raw:      {t_raw:8.3f} s")
    if not args.quick:
        t_c, _ = best(lambda: format_c(btf), 1)
        print(f"format c:        {t_c:8.3f} s")
    bpftool = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.access("/usr/sbin/bpftool", os.X_OK) else None)
    if bpftool is None:
        print("skip: bpftool is not installed; no ratio")
        return 0
    cmd = [bpftool, "btf", "dump", "file", args.file, "format", "raw"]
    t_tool, _ = best(lambda: subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True), runs)
    print(f"bpftool raw:     {t_tool:8.3f} s")
    print(f"ratio parse+validate / bpftool: {t_parse / t_tool:6.2f}x (target <= 10x)")
    print(f"ratio parse+format raw / bpftool: {(t_parse + t_raw) / t_tool:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
