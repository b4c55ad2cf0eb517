"""``verify --dot`` / ``--explain`` and ``tramp --svg``: well-formed pictures that show
what the verifier and the trampoline packer did."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from kernel_model.asm import assemble

from emu.cli.cfg_dot import basic_blocks
from emu.cli.failure_slice import failure_slice

from .conftest import ATTACH, DEREF, EXAMPLES, run

_NODE = re.compile(r"^\s*(\w+) \[label=<(.*)>(.*)\];$")
_EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?;$")


def parse_dot(text: str) -> tuple[dict[str, tuple[ET.Element, str]], list[tuple[str, str, str]]]:
    """A strict reading of what cfg_dot writes: every line a node, an edge, an attribute
    or a brace; braces balanced; every HTML label well-formed XML; every edge between
    declared nodes. Returns the nodes (label tree, attributes) and edges."""
    lines = text.splitlines()
    assert lines[0] == "digraph cfg {" and lines[-1] == "}"
    depth, nodes, edges = 0, {}, []
    for ln in lines:
        depth += ln.count("{") - ln.count("}") if "label=<" not in ln else 0
        m = _NODE.match(ln)
        if m:
            nodes[m.group(1)] = (ET.fromstring(m.group(2)), m.group(3))
            continue
        m = _EDGE.match(ln)
        if m:
            edges.append((m.group(1), m.group(2), m.group(3) or ""))
            continue
        assert re.match(r'^\s*(digraph cfg \{|\}|subgraph cluster_\d+ \{|(node|edge) \[.*\];|label=".*";( labelloc=t;)?)$',
                        ln), ln
    assert depth == 0
    for a, b, _ in edges:
        assert a in nodes and b in nodes, (a, b)
    return nodes, edges


def _rows(label: ET.Element) -> list[tuple[str, str | None]]:
    return [("".join(td.itertext()), td.get("bgcolor")) for td in label.iter("td")]


def test_dot_marks_the_path_the_rejection_and_the_slice(tmp_path, capsys) -> None:
    f, dot = tmp_path / "deref.s", tmp_path / "cfg.dot"
    f.write_text(DEREF)
    rc, out, _ = run(capsys, "verify", str(f), *ATTACH, "--dot", str(dot), "--explain")
    assert rc == 1
    nodes, edges = parse_dot(dot.read_text())
    assert set(nodes) == {"b0", "b3", "b5"}  # blocks: 0-2, 3-4, 5-6
    red = {(a, b) for a, b, attrs in edges if "#d62728" in attrs}
    assert red == {("b0", "b3"), ("b3", "b5")}  # the fall-through path the verifier walked to insn 5
    rows = dict(_rows(nodes["b5"][0]))
    assert rows["5: r0 = *(u64 *)(r2 +0)"] == "#ffb3b3"  # rejected here
    slice_rows = [t for n in nodes.values() for t, bg in _rows(n[0]) if bg in ("#ffd8a8", "#fff3b0")]
    assert [t.split(":")[0] for t in slice_rows] == ["0", "1", "2", "3", "4"]
    # --explain's text: the same slice, r2 named
    assert "r2 there comes from" in out
    assert re.search(r"^  \?\s+2: if r2 == 0x0 goto pc\+2", out, re.M)  # the NULL check: a condition


def test_dot_states_label_branches(tmp_path, capsys) -> None:
    f, dot = tmp_path / "br.s", tmp_path / "cfg.dot"
    # skb->len is a scalar: the jump refines it, the load through it is refused
    f.write_text("r0 = 0\nr2 = *(u32 *)(r1 +0)\nif r2 > 5 goto +1\nr0 = *(u64 *)(r2 +0)\nexit\n")
    rc, out, _ = run(capsys, "verify", str(f), "--dot", str(dot), "--dot-states")
    assert rc == 1 and out.splitlines()[-2] == "R2 invalid mem access 'scalar'"
    nodes, edges = parse_dot(dot.read_text())
    texts = [t for n in nodes.values() for t, _ in _rows(n[0])]
    assert any(t.startswith("; ") and "R2" in t for t in texts), texts  # the state after the branch
    assert "R2 invalid mem access 'scalar'" in texts


def test_slice_follows_stack_spills() -> None:
    insns = assemble("r2 = 0\n*(u64 *)(r10 -8) = r2\nr3 = *(u64 *)(r10 -8)\nr0 = *(u64 *)(r3 +0)\nexit\n")
    sl = failure_slice(insns, [0, 1, 2, 3], "R3 invalid mem access 'scalar'")
    assert sl is not None and sl.regs == (3,)
    assert [(e.insn, e.role) for e in sl.entries] == [(0, "def"), (1, "def"), (2, "def"), (3, "failed")]


def test_slice_stops_at_a_helper_result() -> None:
    insns = assemble("r6 = 1\nr1 = 2\ncall 7\nr0 = *(u64 *)(r0 +0)\nexit\n")  # bpf_get_prandom_u32
    sl = failure_slice(insns, [0, 1, 2, 3], "R0 invalid mem access 'scalar'")
    assert [e.insn for e in sl.entries] == [2, 3]


def test_basic_blocks_of_lddw_and_calls() -> None:
    insns = assemble("r1 = 0x100000000 ll\ncall pc+1\nexit\nr0 = 0\ncall 7\nexit\n")
    blocks = basic_blocks(insns)
    # the lddw's second slot is no instruction; a bpf-to-bpf call ends its block, a helper call does not
    assert [(b.start, b.end, b.insns) for b in blocks] == [(0, 2, [0, 2]), (3, 3, [3]), (4, 6, [4, 5, 6])]
    assert blocks[0].calls == [4] and blocks[0].succs == [3]


def test_explain_in_an_object(capsys) -> None:
    rc, out, _ = run(capsys, "verify", "--explain", "-o", "table", str(EXAMPLES / "dummy_st_ops_fail.bpf.o"))
    assert rc == 1
    assert "explain unchecked_deref: R1 invalid mem access" in out
    assert re.search(r"^  \*\s+0: r1 = \*\(u64 \*\)\(r1 \+0\)", out, re.M)


def test_tramp_svg_is_valid_xml_with_a_box_per_trampoline(tmp_path, capsys) -> None:
    svg = tmp_path / "p.svg"
    rc, _, _ = run(capsys, "tramp", "--type", "bpf_dummy_ops", "--svg", str(svg))
    assert rc == 0
    root = ET.parse(svg).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    boxes = [g for g in root.iter(f"{ns}g") if g.find(f"{ns}title") is not None]
    assert sorted(g.find(f"{ns}title").text.split(":")[0] for g in boxes) == ["test_1", "test_2", "test_sleepable"]
    assert any("free" in (t.text or "") for t in root.iter(f"{ns}text"))


def test_tramp_svg_marks_e2big(tmp_path, capsys) -> None:
    svg = tmp_path / "p.svg"
    rc, _, _ = run(capsys, "tramp", "--decl", f"{EXAMPLES / 'many_ops.h'}:many_ops", "--profile", "6.8",
                   "--svg", str(svg))
    assert rc == 1
    root = ET.parse(svg).getroot()
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(t.startswith("E2BIG: ") for t in texts)
