"""The verifier model: the kernel's load-time checks and abstract interpretation.

Imports only ``kernel_model``. :func:`verify` runs the model of ``bpf_check()``
(kernel/bpf/verifier.c, Linux 6.18 by default; older profiles where they
differ) on raw instruction slots and returns a :class:`VerifyResult` with the
verdict, errno and the kernel-format log. ``verifier.cfg`` holds the
structural passes used by ``structops exec``, ``verifier.reg_init`` the
register-initialisation rule on its own. See docs/verifier.md.
"""

from __future__ import annotations

from . import accel

accel.install()  # the compiled modules, when built and fresh (verifier/accel.py)

from .analyzer import verify  # noqa: E402
from .env import VerifierEnv  # noqa: E402
from .result import InsnAux, VerifyResult, errno_name  # noqa: E402

__all__ = ["verify", "VerifierEnv", "VerifyResult", "InsnAux", "errno_name"]

