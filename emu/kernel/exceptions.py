"""BPF exceptions at run time: ``bpf_throw`` (placeholder, replaced below)."""
from __future__ import annotations
from typing import Any
from kernel_model.errors import NotModelled


def bpf_throw(m: Any, *_: int) -> int:
    raise NotModelled("bpf_throw at run time")
