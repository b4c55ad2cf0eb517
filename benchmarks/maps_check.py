"""Map creation over the kernel-selftest corpus: which objects' maps the emulated kernel creates.

    python benchmarks/maps_check.py [--limit N]

For every object of tests/data/selftests/objects, open it with the libbpf-like
loader (emu.libbpf), load its BTF and create each map as libbpf would
(``bpf_object__create_map`` attributes, the retry without BTF; struct_ops maps
are never created, as in benchmarks/selftests_check.py) in one emulated kernel,
closing everything again. Printed: objects opened, objects whose every map was
created, maps created / refused, and the refusals by errno and map type. An
object the loader cannot open (a libbpf feature it lacks) is counted apart,
with its reason.

A measurement, not a gate: exit status 0 unless the corpus is missing (2).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emu.kernel import Kernel  # noqa: E402
from emu.libbpf import BpfObject  # noqa: E402
from emu.libbpf.errors import LibbpfError, ObjectFormatError  # noqa: E402
from emu.libbpf.log import Log  # noqa: E402
from kernel_model.bpf_map import MAP_TYPE_NAMES  # noqa: E402
from kernel_model.errors import KernelError, errno_name  # noqa: E402
from tests.corpus import OBJECTS  # noqa: E402


def check(objects: list[Path]) -> dict[str, Counter]:
    k = Kernel(modules=("bpf_testmod",))
    out: dict[str, Counter] = {"objects": Counter(), "refused": Counter(), "open_failed": Counter()}
    try:
        for path in objects:
            try:
                obj = BpfObject.open_file(str(path), log=Log(stream=None))
            except (ObjectFormatError, LibbpfError) as e:
                out["objects"]["open failed"] += 1
                out["open_failed"][str(e)[:70]] += 1
                continue
            out["objects"]["opened"] += 1
            fds: list[int] = []
            all_ok = True
            try:
                try:
                    obj.load_btf(k)
                except LibbpfError:
                    pass
                for m in obj.maps:
                    if m.is_struct_ops:
                        continue
                    try:
                        # bpf_object__create_map: the attributes, a map-in-map's inner template,
                        # the retry without BTF
                        fds.append(obj.create_map(k, m))
                        out["objects"]["maps created"] += 1
                    except (KernelError, LibbpfError) as e:
                        all_ok = False
                        out["objects"]["maps refused"] += 1
                        t = MAP_TYPE_NAMES.get(m.map_type, str(m.map_type)).removeprefix("BPF_MAP_TYPE_")
                        out["refused"][f"{errno_name(e.errno, str(e.errno))} {t}"] += 1
                if all_ok:
                    out["objects"]["every map created"] += 1
            finally:
                for fd in fds:
                    k.close(fd)
                if obj.btf_fd >= 0:
                    k.close(obj.btf_fd)
                obj.close()
    finally:
        k.shutdown()
    return out


#: objects checked under --quick
QUICK_OBJECTS = 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=15, help="reasons listed per kind")
    ap.add_argument("--quick", action="store_true",
                    help=f"the first {QUICK_OBJECTS} objects (by name) only: what `make bench-quick` runs")
    args = ap.parse_args()
    objects = sorted(OBJECTS.glob("*.o"))
    if args.quick:
        objects = objects[:QUICK_OBJECTS]
    if not objects:
        print(f"no objects under {OBJECTS}", file=sys.stderr)
        return 2
    out = check(objects)
    o = out["objects"]
    print(f"{len(objects)} objects: {o['opened']} opened, {o['every map created']} with every map created; "
          f"maps: {o['maps created']} created, {o['maps refused']} refused; {o['open failed']} not opened")
    for title, key in (("refused maps (errno, type)", "refused"), ("objects not opened", "open_failed")):
        if out[key]:
            print(f"{title}:")
            for reason, n in out[key].most_common(args.limit):
                print(f"  {n:5d}  {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
