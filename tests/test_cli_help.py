"""Every option of every CLI says its default (or that it is required), and the README or docs/ document it."""
import importlib

import pytest

from tests.conftest import REPO

CLIS = ["train", "prune", "export", "evaluate", "derain", "bench", "rain", "inspect"]
README = "\n".join(p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])


@pytest.mark.parametrize("name", CLIS)
def test_every_option_has_help_with_default_and_is_in_the_readme(name):
    import argparse

    parsers = [importlib.import_module(f"drn_edge.cli.{name}").build_parser()]
    for parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):  # drn-bench frames / video / streams
                parsers += list(action.choices.values())
                for sub in action.choices:
                    assert f"drn-bench {sub}" in README or sub == "frames", f"the docs do not show drn-bench {sub}"
                continue
            if not action.option_strings or action.option_strings[0] in ("-h", "--help"):
                continue
            flag = action.option_strings[0]
            text = action.help or ""
            assert "default" in text or "required" in text or "deprecated" in text, f"{parser.prog} {flag}: {text!r}"
            assert f"`{flag}" in README, f"the docs do not document {parser.prog} {flag}"
