"""benchmarks/verifier_agreement.py counts an agreement as one (issue 10: accepted
corpus cases, labelled with errno None, counted as last-line mismatches)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from kernel_model.asm import assemble
from verifier import VerifierEnv, verify

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "verifier_agreement.py"


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("verifier_agreement", _PATH)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = mod  # type: ignore[union-attr]  # dataclasses look their module up
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_accepted_label_with_errno_none_agrees() -> None:
    bench = _bench()
    t = bench.Tally("t")
    ok = verify(assemble("r0 = 0\nexit"), VerifierEnv(), log_level=1)
    bad = verify(assemble("r0 = *(u64 *)(r1 +0)\nexit"), VerifierEnv(), log_level=1)
    t.add("accepted", ok, True, None, None, ok.log)           # a corpus label: errno None
    t.add("rejected", bad, False, bad.errno, bad.error_line, bad.log)
    t.add("wrong", ok, False, 13, "some message", None)      # a false accept
    assert (t.n, t.verdict, t.message, t.log) == (3, 2, 2, 2)
    assert len(t.false_accepts) == 1 and not t.message_diffs
