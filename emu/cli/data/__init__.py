"""Files the product reads at run time, installed with the package.

Read them through :func:`importlib.resources.files` (``files("emu.cli.data") /
"many_ops.h"``), never through a path relative to a source checkout: an
installed ``structops`` has no ``examples/`` directory.

* ``many_ops.h`` -- a struct of 40 ``int (*)(int)`` members, for ``structops demo`` (step 2) and ``structops tramp
  --decl`` (``examples/many_ops.h`` in the source tree links here).
"""
