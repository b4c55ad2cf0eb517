"""hypothesis, or an ImportError naming the extra that installs it; argument checks.

The product does not depend on hypothesis: only the property-testing kit
(:mod:`kernel_model.testing`, :mod:`emu.testing.strategies`) imports it, and
``pip install 'structops-emu[strategies]'`` installs it.
"""

from __future__ import annotations

from typing import Any, Collection, Sequence

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
except ImportError as e:  # pragma: no cover - exercised in a subprocess by tests/testing
    raise ImportError(
        "the structops-emu property-testing kit (kernel_model.testing, emu.testing.strategies) needs "
        "hypothesis, which is not installed: pip install 'structops-emu[strategies]'",
        name="hypothesis") from e

__all__ = ["st", "InvalidArgument", "check_int", "check_order", "check_names", "check_types"]


def check_int(name: str, value: Any, lo: int, hi: int) -> int:
    """``value`` as an int in ``lo..hi``, else InvalidArgument naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise InvalidArgument(f"{name}={value!r} must be between {lo} and {hi}")
    return value


def check_order(lo_name: str, lo: int, hi_name: str, hi: int) -> None:
    if lo > hi:
        raise InvalidArgument(f"{lo_name}={lo!r} is greater than {hi_name}={hi!r}")


def check_names(name: str, values: Any, known: Collection[str]) -> tuple[str, ...]:
    """A non-empty sequence of names taken from ``known``."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise InvalidArgument(f"{name}={values!r} must be a non-empty sequence of names")
    bad = [v for v in values if v not in known]
    if bad:
        raise InvalidArgument(f"{name}: unknown {', '.join(map(repr, bad))} (known: {', '.join(known)})")
    return tuple(values)


def check_types(name: str, values: Any) -> tuple[str, ...]:
    """A non-empty sequence of C type names (checked by the C parser when used)."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise InvalidArgument(f"{name}={values!r} must be a non-empty sequence of C type names")
    bad = [v for v in values if not isinstance(v, str) or not v.strip()]
    if bad:
        raise InvalidArgument(f"{name}: {bad[0]!r} is not a C type name")
    return tuple(v.strip() for v in values)
