"""Every option of every CLI says its default (or that it is required), and the README documents it."""
import importlib
from pathlib import Path

import pytest

CLIS = ["train", "prune", "export", "evaluate", "derain", "bench", "rain", "inspect"]
README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


@pytest.mark.parametrize("name", CLIS)
def test_every_option_has_help_with_default_and_is_in_the_readme(name):
    parser = importlib.import_module(f"drn_edge.cli.{name}").build_parser()
    for action in parser._actions:
        if not action.option_strings or action.option_strings[0] in ("-h", "--help"):
            continue
        flag = action.option_strings[0]
        text = action.help or ""
        assert "default" in text or "required" in text or "deprecated" in text, f"{parser.prog} {flag}: {text!r}"
        assert f"`{flag}" in README, f"README does not document {parser.prog} {flag}"
