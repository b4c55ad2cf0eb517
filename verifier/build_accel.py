"""``python -m verifier.build_accel [build|status] [-v] [--check]``: compile the verifier
with mypyc (:mod:`verifier.accel`), or say whether this interpreter runs it compiled.

``build`` never fails the caller unless ``--check`` is given: without mypy, a C
compiler or the Python headers the verifier simply stays pure Python.
"""

from __future__ import annotations

import sys
from typing import Sequence

from verifier import accel


def main(argv: Sequence[str]) -> int:
    cmd = argv[0] if argv else "build"
    if cmd == "build":
        import importlib.util

        if importlib.util.find_spec("mypyc") is None:
            print("verifier accelerator: mypy (mypyc) is not installed; the verifier stays pure Python")
            return 1 if "--check" in argv else 0
        if accel.ACCEL_DIR.exists() and accel.fresh():
            print("verifier accelerator: up to date")
            return 0
        rc = accel.build(verbose="-v" in argv)
        if rc:
            print("verifier accelerator: the mypyc build failed (above); the verifier stays pure Python")
            return rc if "--check" in argv else 0
        print(f"verifier accelerator: {len(accel.COMPILED)} modules compiled into {accel.ACCEL_DIR}")
        return 0
    if cmd == "status":
        print("compiled" if accel.active() else "pure Python")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
