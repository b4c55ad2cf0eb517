"""Every fenced block of README.md and docs/*.md is run, or listed with the reason it is not.

The conventions a doc follows (a fence without a language is an error here, so a new
code block cannot slip past unrun):

``sh``
    Commands run in order, each checked for its exit status: 0, or the ``N`` of a
    trailing comment that says ``exit N`` (``structops verify bad.s   # exit 1``).
    A command is a line with its ``\\`` continuations and here-documents; bash runs it
    with ``-o pipefail`` (a pipeline fails when any of its commands does).
``console``
    A transcript: lines starting ``$ `` are commands (run as in ``sh``, stderr merged
    into stdout; a here-document's lines start ``> ``), the lines after one are its output, compared with what it prints.
    Masking, the only one: ``...`` in an output line matches any text, and a line that
    is just ``...`` matches any number of lines (addresses, timings, long logs).
    Trailing blanks are ignored.
``python``
    Executed statement by statement in one namespace per doc file, in order. A
    statement ending in a comment ``# -> TEXT`` is an expression whose ``repr`` must be
    ``TEXT`` (``...`` in TEXT matching any text).
``text``
    Not code: diagrams, usage synopses, sample output of a run too long to replay.
``c`` (and any block) after ``<!-- file: NAME -->``
    Written to NAME in the doc's directory, not run; a later block of the same doc must
    name NAME (it compiles, imports or runs it).

Every doc file gets one temporary working directory shared by its blocks, with
``examples/`` and ``tests/`` of the repository linked into it (what the docs' commands
name), ``.venv`` linked to the running interpreter's environment, its ``bin`` first on
``PATH`` (``structops``, ``python``), and the doc's blocks run from there.

The line right before a fence may carry a marker:

``<!-- no-run: REASON -->``
    The block is not run: the test is skipped with the reason. Kept few (NO_RUN below
    lists them all, so a new one is a visible change of this file).
``<!-- needs: clang | bpf | vmlinux-btf -->``
    Run only where the machine has it: clang for ``-target bpf`` (the finder of
    ``emu.host.toolchain``, the Makefile's rule), ``bpf()`` permitted (the host kernel as
    oracle), ``/sys/kernel/btf/vmlinux``; elsewhere skipped with the reason. A later
    block of that doc that depends on it carries the same marker.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: every ``<!-- no-run: -->`` block, by (doc, first line of its text): the reason is in the doc
NO_RUN = {
    ("README.md", "make demo    # a guided run through the emulator"),
    ("docs/property-testing.md", "pip install 'structops-emu[strategies]'   # the strategies need hypothesis; nothing else does"),
}

LANGS = {"sh", "console", "python", "text", "c"}
NEEDS = {"clang", "bpf", "vmlinux-btf"}
COMMAND_TIMEOUT = 300

_FENCE = re.compile(r"^(\s*)```(.*)$")
_MARK = re.compile(r"^<!--\s*(no-run|needs|file):\s*(.*?)\s*-->\s*$")
_EXIT = re.compile(r"(?:^|\s)#.*?\bexit (\d+)\b")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
_ARROW = re.compile(r"#\s*->\s*(.*?)\s*$")


@dataclass
class Block:
    doc: Path
    line: int            # 1-based line of the opening fence
    lang: str
    text: str
    marks: dict[str, str] = field(default_factory=dict)

    @property
    def rel(self) -> str:
        return self.doc.relative_to(ROOT).as_posix()

    @property
    def id(self) -> str:
        return f"{self.rel}:{self.line}"

    @property
    def first_line(self) -> str:
        return next((ln for ln in self.text.splitlines() if ln.strip()), "")


def parse_blocks(doc: Path) -> list[Block]:
    """The fenced blocks of ``doc`` with the marker on the line before each."""
    lines = doc.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{doc}:{start + 1}: fence never closed")
        marks: dict[str, str] = {}
        if start > 0 and (mk := _MARK.match(lines[start - 1].strip())):
            marks[mk.group(1)] = mk.group(2)
        blocks.append(Block(doc, start + 1, lang, "\n".join(body) + "\n", marks))
        i += 1
    return blocks


ALL_BLOCKS = [b for doc in DOCS for b in parse_blocks(doc)]


def split_commands(text: str) -> list[tuple[int, str]]:
    """(line offset, command) of a shell block: continuations joined, here-documents kept."""
    lines = text.splitlines()
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip() or lines[i].lstrip().startswith("#"):
            i += 1
            continue
        start = i
        cmd = [lines[i]]
        while cmd[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd.append(lines[i])
        if h := _HEREDOC.search("\n".join(cmd)):
            while i + 1 < len(lines):
                i += 1
                cmd.append(lines[i])
                if lines[i].strip() == h.group(2):
                    break
        out.append((start, "\n".join(cmd)))
        i += 1
    return out


def expected_status(cmd: str) -> int:
    """0, or the N of a comment saying ``exit N`` (a here-document's body excluded)."""
    lines = cmd.splitlines()
    for line in lines[:1] if _HEREDOC.search(lines[0]) else lines:
        if m := _EXIT.search(line):
            return int(m.group(1))
    return 0


def matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` lines match ``actual`` with ``...`` masking (see the module doc)."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(matches(rest, actual[k:]) for k in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.rstrip().split("..."))
    return re.fullmatch(pattern, actual[0].rstrip()) is not None and matches(rest, actual[1:])


def _needs_reason(need: str) -> str | None:
    """Why the machine lacks ``need`` (None when it has it)."""
    if need == "clang":
        from emu.host.toolchain import find_clang

        try:
            return None if find_clang() else "no clang found ($CLANG, clang or clang-NN on PATH)"
        except FileNotFoundError as e:      # $CLANG names no program
            return str(e)
    if need == "bpf":
        from emu.host.hostbpf import oracle_status

        ok, why = oracle_status()
        return None if ok else f"host kernel oracle unavailable: {why}"
    if need == "vmlinux-btf":
        return None if Path("/sys/kernel/btf/vmlinux").exists() else "no /sys/kernel/btf/vmlinux"
    raise AssertionError(f"unknown need {need!r} (known: {sorted(NEEDS)})")


def _check_arrow(value: object, want: str, where: str) -> None:
    """What a ``# -> TEXT`` comment checks: ``repr(value)`` matches TEXT."""
    assert matches([want], [repr(value)]), f"{where}: {value!r} != {want}"


class _ArrowChecks(ast.NodeTransformer):
    """Each expression statement whose last line carries ``# -> TEXT`` (at any depth: in a
    ``with``, a loop, a function) becomes ``__doc_check__(value, TEXT, where)``."""

    def __init__(self, arrows: dict[int, str], rel: str) -> None:
        self.arrows, self.rel = arrows, rel

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        want = self.arrows.pop(node.end_lineno or 0, None)
        if want is None:
            return node
        call = ast.Call(ast.Name("__doc_check__", ast.Load()),
                        [node.value, ast.Constant(want), ast.Constant(f"{self.rel}:{node.lineno}")], [])
        return ast.copy_location(ast.Expr(call), node)


class DocRun:
    """One doc's working directory, Python namespace and progress."""

    def __init__(self, doc: Path, workdir: Path) -> None:
        self.doc = doc
        self.dir = workdir
        self.ns: dict[str, object] = {"__name__": "__doc__"}
        self.done = 0          # blocks of this doc run (or skipped) so far, in order
        self.failed: str | None = None
        for name in ("examples", "tests"):
            (workdir / name).symlink_to(ROOT / name)
        (workdir / ".venv").symlink_to(Path(sys.prefix))
        bindir = str(Path(sys.executable).parent)
        self.env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                        VIRTUAL_ENV=sys.prefix, PYTHONPATH=str(ROOT), COLUMNS="100")

    def shell(self, cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=self.dir, env=self.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=COMMAND_TIMEOUT)

    def run_sh(self, b: Block) -> None:
        """The block's commands in one bash (variables carry from one to the next), each
        followed by a check of its exit status."""
        cmds = split_commands(b.text)
        script = []
        for k, (_, cmd) in enumerate(cmds):
            script.append(f"{cmd}\n__s=$?; [ $__s -eq {expected_status(cmd)} ] || "
                          f"{{ echo \"@@doc-fail {k} $__s\"; exit 97; }}; echo \"@@doc-ok {k}\"")
        r = self.shell("\n".join(script))
        out = r.stdout.split("\n")
        if m := re.search(r"^@@doc-fail (\d+) (\d+)$", r.stdout, re.M):
            k, status = int(m.group(1)), int(m.group(2))
            ok = [i for i, line in enumerate(out) if line == f"@@doc-ok {k - 1}"]
            shown = "\n".join(out[ok[-1] + 1 if ok else 0:out.index(m.group(0))])
            off, cmd = cmds[k]
            raise AssertionError(f"{b.rel}:{b.line + 1 + off}: exit {status}, expected {expected_status(cmd)}\n"
                                 f"$ {cmd}\n{shown}")
        assert r.returncode == 0 and f"@@doc-ok {len(cmds) - 1}" in out, (
            f"{b.id}: the block stopped early (exit {r.returncode})\n{r.stdout}")

    def run_console(self, b: Block) -> None:
        lines = b.text.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                raise AssertionError(f"{b.rel}:{b.line + 1 + i}: transcript line outside a command's output")
            start = i
            cmd = [lines[i][2:]]
            while cmd[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd.append(lines[i].removeprefix("> "))
            if h := _HEREDOC.search(cmd[0]):   # the document's lines follow as the shell shows them: "> "
                while i + 1 < len(lines) and lines[i + 1].startswith(">"):
                    i += 1
                    cmd.append(lines[i].removeprefix(">").removeprefix(" "))
                    if cmd[-1].strip() == h.group(2):
                        break
            i += 1
            out: list[str] = []
            while i < len(lines) and not lines[i].startswith("$ "):
                out.append(lines[i])
                i += 1
            command = "\n".join(cmd)
            want = expected_status(command)
            r = self.shell(command)
            got = r.stdout.splitlines()
            assert r.returncode == want and matches(out, got), (
                f"{b.rel}:{b.line + 1 + start}: exit {r.returncode} (expected {want})\n$ {command}\n"
                f"--- expected\n" + "\n".join(out) + "\n--- got\n" + r.stdout)

    def run_python(self, b: Block) -> None:
        tree = ast.parse(b.text, filename=b.id)
        ast.increment_lineno(tree, b.line)
        arrows = {b.line + 1 + k: m.group(1) for k, line in enumerate(b.text.splitlines())
                  if (m := _ARROW.search(line))}
        tree = _ArrowChecks(arrows, b.rel).visit(tree)
        assert not arrows, f"{b.rel}:{min(arrows)}: '# ->' after something that is not an expression statement"
        ast.fix_missing_locations(tree)
        self.ns["__doc_check__"] = _check_arrow
        cwd = os.getcwd()
        os.chdir(self.dir)
        try:
            for stmt in tree.body:
                exec(compile(ast.Module([stmt], []), str(self.doc), "exec"), self.ns)  # noqa: S102
        finally:
            os.chdir(cwd)

    def write_file(self, b: Block) -> None:
        name = b.marks["file"]
        later = ALL_BLOCKS[ALL_BLOCKS.index(b) + 1:]
        assert any(o.doc == b.doc and name in o.text for o in later), (
            f"{b.id}: file {name} is named by no later block of {b.rel}")
        (self.dir / name).write_text(b.text)

    def run(self, b: Block) -> None:
        """Run ``b`` (or raise pytest's skip with the reason)."""
        if "no-run" in b.marks:
            assert (b.rel, b.first_line) in NO_RUN, f"{b.id}: a no-run block missing from NO_RUN"
            pytest.skip(f"{b.id}: not run: {b.marks['no-run']}")
        if "needs" in b.marks and (why := _needs_reason(b.marks["needs"])):
            pytest.skip(f"{b.id}: {why}")
        if "file" in b.marks:
            self.write_file(b)
        elif b.lang == "sh":
            self.run_sh(b)
        elif b.lang == "console":
            self.run_console(b)
        elif b.lang == "python":
            self.run_python(b)
        elif b.lang == "text":
            pass
        else:
            raise AssertionError(f"{b.id}: a ```{b.lang} block is run only as a <!-- file: --> block")


_RUNS: dict[Path, DocRun] = {}


@pytest.fixture(scope="session")
def doc_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, DocRun]:
    for doc in DOCS:
        _RUNS.setdefault(doc, DocRun(doc, tmp_path_factory.mktemp(doc.stem)))
    return _RUNS


def test_every_fence_has_a_known_language_and_marker() -> None:
    for b in ALL_BLOCKS:
        assert b.lang in LANGS, f"{b.id}: fence language {b.lang!r} (use one of {sorted(LANGS)})"
        if "needs" in b.marks:
            assert b.marks["needs"] in NEEDS, f"{b.id}: unknown need {b.marks['needs']!r}"
        if b.lang == "console":
            assert b.first_line.startswith("$ "), f"{b.id}: a console block starts with '$ '"
    listed = {(b.rel, b.first_line) for b in ALL_BLOCKS if "no-run" in b.marks}
    assert listed == NO_RUN, f"NO_RUN differs from the docs' no-run markers: {listed ^ NO_RUN}"


def test_masking_rules() -> None:
    assert matches(["a ... c"], ["a bbb c"]) and not matches(["a ... c"], ["a bbb d"])
    assert matches(["x", "...", "z"], ["x", "1", "2", "z"]) and matches(["x", "...", "z"], ["x", "z"])
    assert not matches(["x", "z"], ["x", "y", "z"]) and matches(["x  "], ["x"])
    assert expected_status("structops verify a.s --attach m:t   # exit 1") == 1
    assert expected_status("structops verify a.s") == 0
    assert [c for _, c in split_commands("a \\\n  b\ncat > f <<'E'\nx\nE\n# c\nd\n")] == [
        "a \\\n  b", "cat > f <<'E'\nx\nE", "d"]


def test_arrows_and_statuses_are_checked(tmp_path: Path) -> None:
    run = DocRun(ROOT / "README.md", tmp_path)
    ok = Block(ROOT / "README.md", 1, "python", "x = 1\nfor i in range(2):\n    x + i  # -> ...\nx  # -> 1\n")
    run.run_python(ok)
    for bad in ("with open('.venv/bin/python', 'rb') as f:\n    len('ab')  # -> 3\n", "x = 2  # -> 2\n"):
        with pytest.raises(AssertionError):
            run.run_python(Block(ROOT / "README.md", 1, "python", bad))
    with pytest.raises(AssertionError):
        run.run_sh(Block(ROOT / "README.md", 1, "sh", "true\nfalse   # exits 1 without saying so\n"))
    run.run_sh(Block(ROOT / "README.md", 1, "sh", "false   # exit 1\n"))
    with pytest.raises(AssertionError):
        run.run_console(Block(ROOT / "README.md", 1, "console", "$ echo a; echo b\na\n"))
    run.run_console(Block(ROOT / "README.md", 1, "console", "$ echo a; echo b\na\n...\n"))


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[b.id for b in ALL_BLOCKS])
def test_doc_block(block: Block, doc_runs: dict[Path, DocRun]) -> None:
    run = doc_runs[block.doc]
    blocks = [b for b in ALL_BLOCKS if b.doc == block.doc]
    index = blocks.index(block)
    # the blocks before this one first (when it is run alone), each once
    while run.done <= index:
        b = blocks[run.done]
        run.done += 1
        if run.failed and b.lang != "text":
            pytest.fail(f"{block.id}: not run, an earlier block of the doc failed: {run.failed}")
        try:
            run.run(b)
        except pytest.skip.Exception:
            if b is block:
                raise
        except BaseException:
            run.failed = b.id
            raise
