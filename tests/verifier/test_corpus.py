"""The kernel-selftest corpus (shared/verifier-corpus): the model against the host's labels.

Every case is checked for what the host kernel (6.18.44) answered when it was
labelled: the verdict, the errno, the last log line before the statistics
(``error_line``), the ``processed`` count, the selftest's expected ``__msg``
substrings (found in our log exactly where the kernel's log had them, with
test_loader's ordered matching and ``{{regex}}`` parts), and the whole level-1
log. The level-2 tails (liveness tables, precision backtracking, the 6.18
stack-liveness lines) are compared where the corpus holds one. Every case is
in scope: there is no list of exceptions.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from emu.verify_cmd import corpus_case
from tests.conftest import VERIFIER_CORPUS as CORPUS, verifier_corpus
from verifier import verify

def _ids() -> list[str]:
    return [c["id"] for c in verifier_corpus()] or ["corpus-missing"]


def _case(cid: str) -> dict[str, Any]:
    if not CORPUS.exists():
        pytest.skip(f"verifier corpus not found at {CORPUS}")
    return next(c for c in verifier_corpus() if c["id"] == cid)


def _msg_regex(msg: str) -> re.Pattern[str]:
    """test_loader's pattern: literal text with ``{{...}}`` as POSIX ERE parts."""
    out, pos = [], 0
    for m in re.finditer(r"\{\{(.*?)\}\}", msg):
        out.append(re.escape(msg[pos:m.start()]))
        out.append(m.group(1))
        pos = m.end()
    out.append(re.escape(msg[pos:]))
    return re.compile("".join(out))


def msgs_found(log: str, msgs: list[str]) -> list[bool]:
    """For each expected message, found after the previous match (as test_loader)."""
    found, pos = [], 0
    for msg in msgs:
        m = _msg_regex(msg).search(log, pos)
        found.append(m is not None)
        if m is not None:
            pos = m.end()
    return found


_TIME = re.compile(r"verification time \d+ usec")
_ADDR = re.compile(r"0xffff[0-9a-f]{12}")


def norm(log: str) -> str:
    """Kernel addresses of maps (``r1 = 0xffff888154f3d600``) differ per load."""
    return _ADDR.sub("ADDR", _TIME.sub("verification time N usec", log))


@pytest.mark.parametrize("cid", _ids())
def test_case_agrees_with_kernel(cid: str) -> None:
    c = _case(cid)
    k = c["kernel"]
    insns, env = corpus_case(c)
    r = verify(insns, env, log_level=1)
    assert r.accepted == (k["verdict"] == "accepted"), r.log
    if not r.accepted:
        assert r.errno == k["errno"]
        assert r.error_line == k["error_line"]
    assert r.processed == k["processed"]
    if not k.get("log_truncated"):
        assert norm(r.log) == norm(k["log"])
    else:
        assert norm(r.log).endswith(norm(k["log"]))


@pytest.mark.parametrize("cid", [c["id"] for c in verifier_corpus() if c["annotations"]["msgs"]] or ["corpus-missing"])
def test_expected_messages_where_the_kernel_prints_them(cid: str) -> None:
    """The selftest's ``__msg`` lines are found in our log exactly where the 6.18
    kernel's log had them (12 of them changed text between 6.12 and 6.18)."""
    c = _case(cid)
    k = c["kernel"]
    level = k.get("msg_check_log_level") or 1
    insns, env = corpus_case(c)
    r = verify(insns, env, log_level=level)
    want = k["agreement"]["msgs_found"]
    assert msgs_found(r.log, c["annotations"]["msgs"]) == want


@pytest.mark.parametrize("cid", [c["id"] for c in verifier_corpus() if c["kernel"].get("log_annotated_level_tail")]
                         or ["corpus-missing"])
def test_level2_tail(cid: str) -> None:
    c = _case(cid)
    k = c["kernel"]
    insns, env = corpus_case(c)
    r = verify(insns, env, log_level=k["msg_check_log_level"])
    tail = norm(k["log_annotated_level_tail"])
    ours = norm(r.log)
    assert ours.endswith(tail)

