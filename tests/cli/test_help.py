"""Every command's ``--help``: an example, the exit statuses, help text for every option."""

from __future__ import annotations

import argparse

import pytest

from emu.cli.main import COMMANDS, build_parser

NAMES = [n for _, _, names in COMMANDS for n in names]


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    out = [("", p)]
    for name, sp in sub.choices.items():
        out.append((name, sp))
        for a in sp._actions:
            if isinstance(a, argparse._SubParsersAction):
                out.extend((f"{name} {n}", q) for n, q in a.choices.items())
    return out


@pytest.mark.parametrize("name, parser", _parsers(), ids=lambda x: x if isinstance(x, str) else "")
def test_help_has_an_example_and_the_exit_statuses(name, parser) -> None:
    text = parser.format_help()
    assert "exit status: 0 ok, 1 refused by the emulated kernel" in text
    assert "2 bad input, 3 not modelled" in text.replace("\n", " ")
    if name:
        assert "example" in text and f"structops {name.split()[0]}" in text.split("example", 1)[1]


@pytest.mark.parametrize("name", ["verify", "tramp", "types", "modules", "check-signatures", "load", "exec",
                                  "test-run"])
def test_every_option_has_help(name) -> None:
    parser = dict(_parsers())[name]
    missing = [a.option_strings or a.dest for a in parser._actions
               if not a.help and not isinstance(a, argparse._HelpAction)]
    assert not missing, f"{name}: options without help: {missing}"


@pytest.mark.parametrize("name", ["verify", "tramp", "types", "modules", "check-signatures", "load", "exec",
                                  "test-run"])
def test_json_option_is_everywhere(name) -> None:
    assert "-j, --json" in dict(_parsers())[name].format_help()
