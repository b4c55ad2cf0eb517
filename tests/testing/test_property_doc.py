"""docs/property-testing.md's worked example runs as written.

The ``python`` block after ``<!-- example: page-limits -->`` is extracted,
executed, and every ``test_*`` function it defines is called (they are
hypothesis properties: each call runs its examples).
"""

from __future__ import annotations

import re

from tests.conftest import ROOT

DOC = ROOT / "docs" / "property-testing.md"


def _example(marker: str) -> str:
    text = DOC.read_text()
    m = re.search(re.escape(f"<!-- example: {marker} -->") + r"\s*```python\n(.*?)```", text, re.S)
    assert m, f"no python block after the {marker} marker in {DOC.name}"
    return m.group(1)


def test_the_page_limits_example_runs():
    code = _example("page-limits")
    namespace: dict = {"__name__": "property_testing_example"}
    exec(compile(code, f"{DOC.name}:page-limits", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    assert len(tests) == 2
    for t in tests:
        t()


def test_the_example_would_catch_a_wrong_limit():
    """The first property fails when the kernel's limit is not what it says: run its
    body against a 6.8 kernel told to have 2 pages (24 members then fit)."""
    import pytest
    from dataclasses import replace

    from kernel_model.cpu import PRESETS
    from kernel_model.profile import get_profile
    from kernel_model.testing import TrampolineConfig

    namespace: dict = {"__name__": "property_testing_example"}
    exec(compile(_example("page-limits"), DOC.name, "exec"), namespace)
    body = namespace["test_one_argument_members_need_ceil_n_over_per_page"].hypothesis.inner_test
    lying = TrampolineConfig(replace(get_profile("6.8"), tramp_image_pages=2), PRESETS["amd-zen2"])

    class Claims1Page:  # the config the property reads says 1 page, the kernel allows 2
        profile = lying.profile
        cpu = lying.cpu
        max_pages = 1

    with pytest.raises(AssertionError):
        body(n=24, config=Claims1Page())


def test_the_doc_names_only_what_exists():
    """Every `name` the tables list under kernel_model.testing / emu.testing exists."""
    import emu.testing
    import kernel_model.testing as kit

    text = DOC.read_text()
    factories = re.findall(r"^\| `(\w+)\(\)` \|", text, re.M)
    assert len(factories) >= 10
    for name in factories:
        assert name in kit.__all__, name
    for name in ("install_struct_ops", "fill_struct_ops_map", "pages_needed", "page_packing",
                 "trampolines_per_page", "trampoline_bytes", "member_trampoline_sizes"):
        assert name in text and name in emu.testing.__all__
