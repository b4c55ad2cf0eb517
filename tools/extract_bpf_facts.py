#!/usr/bin/env python3
"""Extract BPF facts from a Linux kernel source tree into Python data modules.

Reads, without compiling anything, the parts of a kernel tree that declare
what BPF programs may use, and writes them as plain data (no kernel code is
copied: every fact is re-expressed in our own representation):

* ``const struct bpf_func_proto NAME = { ... }`` initialisers (helper
  prototypes): argument/return types as symbol tuples, flags, btf ids, sizes;
  -> ``kernel_model/bpf_facts/gen_protos.py``
* the ``*_func_proto(enum bpf_func_id func_id, const struct bpf_prog *prog)``
  functions (each program type's ``get_func_proto``), turned into a small
  decision tree whose conditions are mapped onto our predicate vocabulary
  (capabilities, expected_attach_type, sleepable, config options...); a
  condition outside that vocabulary stops the extraction with its file and
  line, so nothing is silently dropped;
  -> ``kernel_model/bpf_facts/gen_func_proto.py``
* ``bpf_verifier_ops`` / ``bpf_prog_ops`` initialisers and
  ``include/linux/bpf_types.h`` (program type -> ops, context types; map type
  -> ``bpf_map_ops``) -> ``kernel_model/bpf_facts/gen_ops.py``
* kfunc sets (``BTF_KFUNCS_START(set) ... BTF_ID_FLAGS(func, name, KF_...)``)
  and their registrations (``register_btf_kfunc_id_set(BPF_PROG_TYPE_X,
  &desc)``) -> ``kernel_model/bpf_facts/gen_kfunc_sets.py``

Usage: ``python tools/extract_bpf_facts.py KERNEL_TREE [--version 6.12]``.
The committed outputs were made from the Debian ``linux-source-6.12`` package
(6.12.118); kernel_model/bpf_facts applies the 6.18 changes on top, each cited.
"""

from __future__ import annotations

import argparse
import pprint
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "kernel_model" / "bpf_facts"

# --------------------------------------------------------------------------- lexing


@dataclass(frozen=True, slots=True)
class Tok:
    text: str
    line: int
    #: the preprocessor conditions (our normalised form) active at this token
    guard: tuple[str, ...]


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:\\.|[^"\\])*")
  | (?P<chr>'(?:\\.|[^'\\])*')
  | (?P<id>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<num>0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*)
  | (?P<op>->|==|!=|<=|>=|&&|\|\||<<|>>|\+\+|--|[-+*/%&|^!~<>=?:;,.(){}\[\]#])
""", re.X)


def strip_comments(src: str) -> str:
    """Comments replaced by spaces (newlines kept, so line numbers stay right)."""
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src[i] == '"':
            m = re.compile(r'"(?:\\.|[^"\\])*"').match(src, i)
            j = m.end() if m else i + 1
            out.append(src[i:j])
            i = j
        else:
            out.append(src[i])
            i += 1
    return "".join(out)


def _pp_condition(directive: str, rest: str) -> str:
    """``#ifdef CONFIG_X`` -> ``CONFIG_X``; ``#if IS_ENABLED(CONFIG_X)`` -> ``CONFIG_X``;
    other ``#if`` expressions kept as text with ``defined()``/``IS_ENABLED()`` removed."""
    rest = " ".join(rest.split())
    if directive == "ifdef":
        return rest
    if directive == "ifndef":
        return "!" + rest
    rest = re.sub(r"(?:defined|IS_ENABLED|IS_BUILTIN)\s*\(\s*(\w+)\s*\)", r"\1", rest)
    rest = re.sub(r"\bdefined\s+(\w+)", r"\1", rest)
    return rest


def tokenize(src: str) -> list[Tok]:
    """C tokens with the preprocessor conditions that guard them. ``#define``
    bodies and other directives are dropped (line continuations joined)."""
    src = strip_comments(src)
    lines = src.split("\n")
    toks: list[Tok] = []
    stack: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        lineno = i + 1
        stripped = line.strip()
        if stripped.startswith("#"):
            full = stripped
            while full.endswith("\\") and i + 1 < len(lines):
                i += 1
                full = full[:-1] + " " + lines[i].strip()
            m = re.match(r"#\s*(\w+)\s*(.*)", full)
            if m:
                d, rest = m.group(1), m.group(2)
                if d in ("if", "ifdef", "ifndef"):
                    stack.append(_pp_condition(d, rest))
                elif d == "elif":
                    prev = stack.pop() if stack else ""
                    stack.append(f"!({prev}) && ({_pp_condition('if', rest)})")
                elif d == "else":
                    prev = stack.pop() if stack else ""
                    stack.append(prev[1:] if prev.startswith("!") and " " not in prev else f"!({prev})")
                elif d == "endif":
                    if stack:
                        stack.pop()
            i += 1
            continue
        guard = tuple(stack)
        pos = 0
        while pos < len(line):
            m = _TOKEN.match(line, pos)
            if not m:
                pos += 1
                continue
            pos = m.end()
            if m.lastgroup == "ws":
                continue
            toks.append(Tok(m.group(), lineno, guard))
        i += 1
    return toks


def match_brace(toks: list[Tok], i: int) -> int:
    """Index of the token closing the bracket at ``toks[i]``."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    open_, close = toks[i].text, pairs[toks[i].text]
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].text == open_:
            depth += 1
        elif toks[j].text == close:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unbalanced {open_} at line {toks[i].line}")


def join(toks: list[Tok]) -> str:
    out = ""
    for t in toks:
        if out and (out[-1].isalnum() or out[-1] == "_") and (t.text[0].isalnum() or t.text[0] == "_"):
            out += " "
        out += t.text
    return out


# --------------------------------------------------------------------------- protos

_PROTO_DEF = re.compile(r"^(static\s+)?const\s+struct\s+bpf_func_proto\s+(\w+)\s*=\s*\{", re.M)
PROTO_FILES: list[str] = []


def _split_top(toks: list[Tok], sep: str) -> list[list[Tok]]:
    parts: list[list[Tok]] = [[]]
    depth = 0
    for t in toks:
        if t.text in "([{":
            depth += 1
        elif t.text in ")]}":
            depth -= 1
        if t.text == sep and depth == 0:
            parts.append([])
        else:
            parts[-1].append(t)
    return [p for p in parts if p]


def _type_symbols(toks: list[Tok], where: str) -> tuple[str, ...]:
    parts = _split_top(toks, "|")
    out = []
    for p in parts:
        if len(p) != 1 or not re.fullmatch(r"[A-Z_0-9]+", p[0].text):
            raise ValueError(f"{where}: type expression {join(toks)!r} is not an OR of enum names")
        out.append(p[0].text)
    return tuple(out)


def _btf_id_ref(toks: list[Tok]) -> str:
    """``&btf_sock_ids[BTF_SOCK_TYPE_TCP]`` -> ``btf_sock_ids[BTF_SOCK_TYPE_TCP]``;
    ``&bpf_x_btf_ids[0]`` kept as text; the type it names is resolved in bpf_facts."""
    s = join(toks)
    return s[1:] if s.startswith("&") else s


def extract_protos(tree: Path) -> dict[str, dict]:
    protos: dict[str, dict] = {}
    for path in sorted(tree.rglob("*.c")):
        rel = str(path.relative_to(tree))
        if rel.startswith(("tools/", "samples/", "Documentation/")):
            continue
        text = path.read_text(errors="replace")
        if "bpf_func_proto" not in text:
            continue
        toks = tokenize(text)
        for i in range(len(toks) - 6):
            t = toks[i]
            if t.text != "bpf_func_proto" or toks[i - 1].text != "struct":
                continue
            # [static] const struct bpf_func_proto NAME = {
            j = i + 1
            if j + 2 >= len(toks) or toks[j + 1].text != "=" or toks[j + 2].text != "{":
                continue
            name = toks[j].text
            is_static = i >= 3 and toks[i - 3].text == "static"
            end = match_brace(toks, j + 2)
            body = toks[j + 3:end]
            entry: dict = {"file": rel, "line": toks[j].line, "static": is_static,
                           "config": list(toks[j].guard)}
            for field in _split_top(body, ","):
                if field[0].text != "." or len(field) < 4 or field[2].text != "=":
                    raise ValueError(f"{rel}:{field[0].line}: unexpected initialiser {join(field)!r}")
                key, value = field[1].text, field[3:]
                where = f"{rel}:{field[0].line} {name}.{key}"
                if key in ("gpl_only", "pkt_access", "might_sleep", "allow_fastcall"):
                    v = join(value)
                    if v not in ("true", "false"):
                        raise ValueError(f"{where}: {v!r} is not a boolean")
                    entry[key] = v == "true"
                elif key == "ret_type" or re.fullmatch(r"arg[1-5]_type", key):
                    entry[key] = _type_symbols(value, where)
                elif re.fullmatch(r"arg[1-5]_btf_id|ret_btf_id", key):
                    entry[key] = _btf_id_ref(value)
                elif re.fullmatch(r"arg[1-5]_size", key):
                    entry[key] = join(value)
                elif key in ("func", "allowed"):
                    entry[key] = join(value)
                else:
                    raise ValueError(f"{where}: unknown field")
            if name in protos:
                raise ValueError(f"{rel}: {name} defined twice (also {protos[name]['file']})")
            protos[name] = entry
    return protos


# ----------------------------------------------------------------- func_proto functions
#
# The decision tree of a ``*_func_proto`` function, as nested tuples:
#   ("seq", [stmt...])
#   ("switch_func", [(labels, guard, [stmt...]) ...])  labels: helper names, "default";
#                      C fall-through between groups is kept (evaluate in order until return/break)
#   ("switch_attach", [(labels, guard, [stmt...]) ...]) labels: BPF_* attach type names, "default"
#   ("if", cond, then_stmt, else_stmt_or_None)
#   ("return", result)        result: ("proto", NAME) | ("null",) | ("call", FN) | ("var",)
#                                     | ("cond", cond, result, result)
#   ("assign_call", FN)       func_proto = FN(func_id, prog)
#   ("assign_proto", NAME)    func_proto = &NAME
#   ("break",)
#   ("guarded", guard, stmt)  statement under preprocessor conditions
# conditions: ("cap", "CAP_BPF") ("attach", "==", NAME) ("sleepable",) ("lockdown", NAME)
#             ("var_set",) ("not", c) ("and", a, b) ("or", a, b) ("pred", NAME)
#             ("attach_btf_in", SETNAME) ("config", NAME) ("prog_type", "==", NAME)
#             ("struct_ops_member", STRUCT, MEMBER): the prog implements that struct_ops member

_FUNC_PROTO_SIG = re.compile(r"\b(\w*func_proto\w*)\s*\(\s*enum\s+bpf_func_id\s+func_id\s*,\s*"
                             r"const\s+struct\s+bpf_prog\s*\*\s*prog\s*\)\s*\{")

#: calls that return a fixed proto (getters)
_PROTO_GETTERS = {
    "bpf_get_trace_printk_proto": "bpf_trace_printk_proto",
    "bpf_get_trace_vprintk_proto": "bpf_trace_vprintk_proto",
    "bpf_get_probe_write_proto": "bpf_probe_write_user_proto",
    "bpf_get_perf_event_read_value_proto": "bpf_perf_event_read_value_proto",
}

#: predicate calls on ``prog`` we model by name (the kernel function -> our predicate)
_PRED_CALLS = {
    "bpf_prog_check_recur": "recur",             # kernel/trace/bpf_trace.c
    "is_kprobe_multi": "kprobe_multi",
    "is_kprobe_session": "kprobe_session",
    "is_uprobe_multi": "uprobe_multi",
    "is_uprobe_session": "uprobe_session",
    "bpf_prog_has_trampoline": "has_trampoline",
    "bpf_prog_is_raw_tp": "raw_tp",
    "is_tracing_multi": "tracing_multi",
}


#: functions whose decision is not a switch we can read (kept as an opaque node, modelled by hand)
OPAQUE_FNS = {
    "bpf_iter_get_func_proto": "asks the iterator target registered for prog->aux->attach_btf_id",
}


#: the names the functions give their local ``const struct bpf_func_proto *``
_LOCALS = ("func_proto", "fn", "func")


class FnParser:
    def __init__(self, toks: list[Tok], where: str):
        self.t = toks
        self.i = 0
        self.where = where

    def err(self, msg: str) -> ValueError:
        line = self.t[min(self.i, len(self.t) - 1)].line if self.t else 0
        return ValueError(f"{self.where}:{line}: {msg}")

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.t[j].text if j < len(self.t) else ""

    def expect(self, s: str) -> None:
        if self.peek() != s:
            raise self.err(f"expected {s!r}, found {self.peek()!r}")
        self.i += 1

    # statements ------------------------------------------------------------
    def stmts_until(self, end: str) -> list:
        out = []
        while self.peek() != end:
            out.append(self.stmt())
        return out

    def wrap_guard(self, start: int, node):
        g = self.t[start].guard
        return ("guarded", g, node) if g else node

    def stmt(self):
        start = self.i
        p = self.peek()
        if p == "{":
            self.i += 1
            body = self.stmts_until("}")
            self.i += 1
            return ("seq", body)
        if p == ";":
            self.i += 1
            return ("seq", [])
        if p == "switch":
            return self.switch()
        if p == "if":
            self.i += 1
            self.expect("(")
            close = match_brace(self.t, self.i - 1)
            cond = self.cond(self.t[self.i:close])
            self.i = close + 1
            then = self.stmt()
            other = None
            if self.peek() == "else":
                self.i += 1
                other = self.stmt()
            return self.wrap_guard(start, ("if", cond, then, other))
        if p == "return":
            self.i += 1
            j = self.i
            while self.peek() != ";":
                self.i += 1
            res = self.result(self.t[j:self.i])
            self.i += 1
            return self.wrap_guard(start, ("return", res))
        if p == "break":
            self.i += 2
            return ("break",)
        # declaration of the local: const struct bpf_func_proto *func_proto;
        j = self.i
        while self.peek() != ";":
            self.i += 1
        toks = self.t[j:self.i]
        self.i += 1
        text = join(toks)
        if re.fullmatch(r"(const )?struct bpf_func_proto\*\w+(=NULL)?", text) or text == "fallthrough" \
                or text.startswith("BTF_TYPE_EMIT("):
            return ("seq", [])
        m = re.fullmatch(r"(\w+)=(\w+)\(func_id,prog\)", text)
        if m and m.group(1) in _LOCALS:
            return self.wrap_guard(start, ("assign_call", m.group(2)))
        m = re.fullmatch(r"(\w+)=&(\w+)", text)
        if m and m.group(1) in _LOCALS:
            return self.wrap_guard(start, ("assign_proto", m.group(2)))
        raise self.err(f"statement not modelled: {text!r}")

    def switch(self):
        self.expect("switch")
        self.expect("(")
        close = match_brace(self.t, self.i - 1)
        subject = join(self.t[self.i:close])
        self.i = close + 1
        if subject == "func_id":
            kind, prefix = "switch_func", "BPF_FUNC_"
        elif subject == "prog->expected_attach_type":
            kind, prefix = "switch_attach", ""
        else:
            raise self.err(f"switch on {subject!r} not modelled")
        self.expect("{")
        groups: list = []
        labels: list[str] = []
        guard: tuple[str, ...] = ()
        body: list = []
        while self.peek() != "}":
            if self.peek() in ("case", "default"):
                if body:
                    groups.append((tuple(labels), guard, body))
                    labels, body = [], []
                tok = self.t[self.i]
                if self.peek() == "default":
                    self.i += 1
                    labels.append("default")
                else:
                    self.i += 1
                    name = self.peek()
                    self.i += 1
                    if not name.startswith(prefix):
                        raise self.err(f"case {name} in a {kind}")
                    labels.append(name[len(prefix):])
                if not labels[1:]:
                    guard = tok.guard
                elif tok.guard != guard:
                    # labels of one group under different #ifdefs: keep them apart
                    raise self.err("case labels of one group under different preprocessor conditions")
                self.expect(":")
            else:
                body.append(self.stmt())
        if labels or body:
            groups.append((tuple(labels), guard, body))
        self.i += 1
        return (kind, groups)

    # expressions -------------------------------------------------------------
    def result(self, toks: list[Tok]):
        parts = self._ternary(toks)
        if parts:
            c, a, b = parts
            return ("cond", self.cond(c), self.result(a), self.result(b))
        text = join(toks)
        if text in ("NULL", "0"):
            return ("null",)
        if text in _LOCALS:
            return ("var",)
        m = re.fullmatch(r"&(\w+)", text)
        if m:
            return ("proto", m.group(1))
        m = re.fullmatch(r"(\w+)\(\)", text)
        if m and m.group(1) in _PROTO_GETTERS:
            return ("proto", _PROTO_GETTERS[m.group(1)])
        m = re.fullmatch(r"(\w+)\(func_id,prog\)", text)
        if m:
            return ("call", m.group(1))
        m = re.fullmatch(r"(\w+)\(func_id\)", text)
        if m:
            return ("getter", m.group(1))
        raise self.err(f"return value not modelled: {text!r}")

    @staticmethod
    def _ternary(toks: list[Tok]):
        depth = 0
        q = None
        for k, t in enumerate(toks):
            if t.text in "([":
                depth += 1
            elif t.text in ")]":
                depth -= 1
            elif depth == 0 and t.text == "?" and q is None:
                q = k
            elif depth == 0 and t.text == ":" and q is not None:
                return toks[:q], toks[q + 1:k], toks[k + 1:]
        return None

    def cond(self, toks: list[Tok]):
        # strip enclosing parens
        while toks and toks[0].text == "(" and match_brace(toks, 0) == len(toks) - 1:
            toks = toks[1:-1]
        for op, name in (("||", "or"), ("&&", "and")):
            parts = _split_top(toks, op) if any(t.text == op for t in toks) else [toks]
            if len(parts) > 1:
                node = self.cond(parts[0])
                for p in parts[1:]:
                    node = (name, node, self.cond(p))
                return node
        if toks and toks[0].text == "!":
            return ("not", self.cond(toks[1:]))
        text = join(toks)
        m = re.fullmatch(r"(?:bpf_token_capable\(prog->aux->token,|capable\()(CAP_\w+)\)", text)
        if m:
            return ("cap", m.group(1))
        if text == "bpf_capable()":
            return ("cap", "CAP_BPF")
        if text == "perfmon_capable()":
            return ("cap", "CAP_PERFMON")
        m = re.fullmatch(r"prog->expected_attach_type(==|!=)(BPF_\w+)", text)
        if m:
            node = ("attach", m.group(2))
            return node if m.group(1) == "==" else ("not", node)
        m = re.fullmatch(r"prog->type(==|!=)(BPF_PROG_TYPE_\w+)", text)
        if m:
            node = ("prog_type", m.group(2))
            return node if m.group(1) == "==" else ("not", node)
        if text in ("prog->sleepable", "prog->aux->sleepable"):
            return ("sleepable",)
        m = re.fullmatch(r"security_locked_down\((LOCKDOWN_\w+)\)<0", text)
        if m:
            return ("lockdown", m.group(1))
        if text in _LOCALS:
            return ("var_set",)
        m = re.fullmatch(r"(\w+)\(prog\)", text)
        if m and m.group(1) in _PRED_CALLS:
            return ("pred", _PRED_CALLS[m.group(1)])
        m = re.fullmatch(r"btf_id_set_contains\(&(\w+),prog->aux->attach_btf_id\)", text)
        if m:
            return ("attach_btf_in", m.group(1))
        m = re.fullmatch(r"prog_ops_moff\(prog\)(==|!=)offsetof\(struct (\w+),(\w+)\)", text)
        if m:
            node = ("struct_ops_member", m.group(2), m.group(3))
            return node if m.group(1) == "==" else ("not", node)
        m = re.fullmatch(r"prog->aux->attach_btf_id==(\w+)\[(\d+)\]", text)
        if m:
            return ("attach_btf_is", f"{m.group(1)}[{m.group(2)}]")
        raise self.err(f"condition not modelled: {text!r}")


def extract_func_protos(tree: Path) -> dict[str, dict]:
    fns: dict[str, dict] = {}
    for path in sorted(tree.rglob("*.c")):
        rel = str(path.relative_to(tree))
        if rel.startswith(("tools/", "samples/", "Documentation/")):
            continue
        text = path.read_text(errors="replace")
        if "func_proto" not in text or "enum bpf_func_id func_id" not in text:
            continue
        toks = tokenize(text)
        for m in _FUNC_PROTO_SIG.finditer(" ".join(t.text for t in toks)):
            pass  # (located on tokens below)
        k = 0
        while k < len(toks) - 12:
            t = toks[k]
            if (t.text.endswith("func_proto") or "func_proto" in t.text) and toks[k + 1].text == "(" \
                    and toks[k + 2].text == "enum" and toks[k + 3].text == "bpf_func_id":
                close = match_brace(toks, k + 1)
                if close + 1 < len(toks) and toks[close + 1].text == "{" and toks[k - 1].text != "__weak":
                    name = t.text
                    end = match_brace(toks, close + 1)
                    body = toks[close + 2:end]
                    if name in OPAQUE_FNS:
                        tree_ = ("opaque", OPAQUE_FNS[name])
                    else:
                        fp = FnParser(body, rel)
                        tree_ = ("seq", fp.stmts_until(""))
                    if name in fns:
                        raise ValueError(f"{rel}: {name} defined twice")
                    fns[name] = {"file": rel, "line": t.line, "config": list(t.guard), "tree": tree_}
                    k = end
                    continue
            k += 1
    return fns


# ------------------------------------------------------------------ verifier/prog ops

def extract_ops(tree: Path) -> dict:
    verifier_ops: dict[str, dict] = {}
    prog_ops: dict[str, dict] = {}
    map_ops: dict[str, dict] = {}
    for path in sorted(tree.rglob("*.c")):
        rel = str(path.relative_to(tree))
        if rel.startswith(("tools/", "samples/", "Documentation/")):
            continue
        text = path.read_text(errors="replace")
        if not re.search(r"struct (bpf_verifier_ops|bpf_prog_ops|bpf_map_ops) \w+ = \{", text):
            continue
        toks = tokenize(text)
        for i in range(1, len(toks) - 3):
            kind = toks[i].text
            if kind not in ("bpf_verifier_ops", "bpf_prog_ops", "bpf_map_ops") or toks[i - 1].text != "struct":
                continue
            if toks[i + 2].text != "=" or toks[i + 3].text != "{":
                continue
            name = toks[i + 1].text
            end = match_brace(toks, i + 3)
            fields = {}
            for field in _split_top(toks[i + 4:end], ","):
                if field[0].text == "." and len(field) >= 4:
                    fields[field[1].text] = join(field[3:])
            entry = {"file": rel, "line": toks[i + 1].line, "config": list(toks[i + 1].guard), "fields": fields}
            {"bpf_verifier_ops": verifier_ops, "bpf_prog_ops": prog_ops, "bpf_map_ops": map_ops}[kind][name] = entry
    types_h = (tree / "include/linux/bpf_types.h").read_text()
    toks = tokenize(types_h)
    prog_types, map_types = [], []
    for i, t in enumerate(toks):
        if t.text in ("BPF_PROG_TYPE", "BPF_MAP_TYPE") and toks[i + 1].text == "(":
            close = match_brace(toks, i + 1)
            args = [join(a) for a in _split_top(toks[i + 2:close], ",")]
            if t.text == "BPF_PROG_TYPE":
                prog_types.append({"type": args[0], "name": args[1], "ctx": args[2], "kctx": args[3],
                                   "config": list(t.guard)})
            else:
                map_types.append({"type": args[0], "ops": args[1], "config": list(t.guard)})
    return {"verifier_ops": verifier_ops, "prog_ops": prog_ops, "map_ops": map_ops,
            "prog_types": prog_types, "map_types": map_types}


# ---------------------------------------------------------------------------- kfuncs

def extract_kfuncs(tree: Path) -> dict:
    sets: dict[str, dict] = {}
    descs: dict[str, dict] = {}
    regs: list[dict] = []
    for path in sorted(tree.rglob("*.c")):
        rel = str(path.relative_to(tree))
        if rel.startswith(("tools/", "samples/", "Documentation/")):
            continue
        text = path.read_text(errors="replace")
        if "BTF_KFUNCS_START" not in text and "register_btf_kfunc_id_set" not in text:
            continue
        toks = tokenize(text)
        cur = None
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.text in ("BTF_KFUNCS_START", "BTF_SET8_START") and toks[i + 1].text == "(":
                close = match_brace(toks, i + 1)
                name = join(toks[i + 2:close])
                cur = name
                sets[name] = {"file": rel, "line": t.line, "config": list(t.guard), "funcs": []}
                i = close + 1
                continue
            if t.text in ("BTF_KFUNCS_END", "BTF_SET8_END"):
                cur = None
            if t.text == "BTF_ID_FLAGS" and toks[i + 1].text == "(" and cur is not None:
                close = match_brace(toks, i + 1)
                args = [join(a) for a in _split_top(toks[i + 2:close], ",")]
                flags = [f.strip() for a in args[2:] for f in a.split("|") if f.strip()]
                sets[cur]["funcs"].append({"name": args[1], "flags": flags, "config": list(t.guard)})
                i = close + 1
                continue
            if t.text == "btf_kfunc_id_set" and toks[i - 1].text == "struct" and toks[i + 2].text == "=" \
                    and toks[i + 3].text == "{":
                end = match_brace(toks, i + 3)
                fields = {}
                for field in _split_top(toks[i + 4:end], ","):
                    if field[0].text == "." and len(field) >= 4:
                        fields[field[1].text] = join(field[3:])
                descs[f"{rel}:{toks[i + 1].text}"] = {"file": rel, "name": toks[i + 1].text, "set": fields.get("set", "").lstrip("&"),
                                           "filter": fields.get("filter")}
                i = end
                continue
            if t.text == "register_btf_kfunc_id_set" and toks[i + 1].text == "(":
                close = match_brace(toks, i + 1)
                args = [join(a) for a in _split_top(toks[i + 2:close], ",")]
                if not args[0].startswith("BPF_PROG_TYPE_"):
                    i = close + 1
                    continue  # the definition in kernel/bpf/btf.c, not a call
                regs.append({"file": rel, "line": t.line, "prog_type": args[0], "desc": f"{rel}:{args[1].lstrip('&')}",
                             "config": list(t.guard)})
                i = close + 1
                continue
            i += 1
    return {"sets": sets, "descs": descs, "registrations": regs}


# ---------------------------------------------------------------------------- output

HEADER = '''"""GENERATED by tools/extract_bpf_facts.py from the Linux {version} source tree:
do not edit by hand (re-run the tool). {what}
The 6.18 changes are applied by the hand-written modules of this package, each cited."""

# ruff: noqa: E501
from __future__ import annotations

SOURCE_VERSION = {version!r}

'''


def write(name: str, what: str, version: str, assignments: dict[str, object]) -> None:
    parts = [HEADER.format(version=version, what=what)]
    for var, value in assignments.items():
        parts.append(f"{var} = " + pprint.pformat(value, width=110, sort_dicts=True) + "\n\n")
    (OUT / name).write_text("".join(parts).rstrip() + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tree", type=Path, help="a Linux kernel source tree")
    ap.add_argument("--version", default="6.12", help="the tree's version, recorded in the outputs")
    args = ap.parse_args(argv)
    tree: Path = args.tree
    if not (tree / "include/linux/bpf.h").exists():
        print(f"extract_bpf_facts: {tree} is not a kernel source tree (no include/linux/bpf.h)", file=sys.stderr)
        return 2
    try:
        protos = extract_protos(tree)
        fns = extract_func_protos(tree)
        ops = extract_ops(tree)
        kf = extract_kfuncs(tree)
    except ValueError as e:
        print(f"extract_bpf_facts: {e}", file=sys.stderr)
        return 1
    write("gen_protos.py", "Every ``struct bpf_func_proto`` initialiser.", args.version, {"PROTOS": protos})
    write("gen_func_proto.py", "Every ``*_func_proto`` function as a decision tree.", args.version,
          {"FUNC_PROTO_FNS": fns})
    write("gen_ops.py", "Verifier/prog/map ops tables and include/linux/bpf_types.h.", args.version, ops)
    write("gen_kfunc_sets.py", "kfunc sets (BTF_ID_FLAGS) and their registrations.", args.version,
          {"KFUNC_SETS": kf["sets"], "KFUNC_DESCS": kf["descs"], "KFUNC_REGISTRATIONS": kf["registrations"]})
    print(f"{len(protos)} protos, {len(fns)} func_proto functions, {len(ops['verifier_ops'])} verifier ops, "
          f"{len(ops['map_ops'])} map ops, {len(kf['sets'])} kfunc sets "
          f"({sum(len(s['funcs']) for s in kf['sets'].values())} entries), "
          f"{len(kf['registrations'])} registrations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
