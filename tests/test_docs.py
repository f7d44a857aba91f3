"""The docs cannot rot: the site builds strictly, every drn-* command in README.md and docs/ parses against the
current CLI, and the embedding snippet of docs/runtime.md runs as written on a headless install."""
import importlib
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CLI_MODULES = {"drn-train": "train", "drn-prune": "prune", "drn-eval": "evaluate", "drn-export": "export",
               "drn-derain": "derain", "drn-bench": "bench", "drn-rain": "rain", "drn-inspect": "inspect"}


def _blocks(text: str) -> list[str]:
    """Full drn-* command lines of bash blocks (continuations joined, comments dropped): they must parse."""
    found = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|;|\|", line.split(" #")[0]):
                if part.strip().startswith("drn-"):
                    found.append(part.strip())
    return found


def _inline(text: str) -> list[str]:
    """drn-* mentions in inline code (`drn-eval --real`): prose, often without values; their options must exist."""
    return [c for c in re.findall(r"`(drn-[a-z]+(?: [^`]*)?)`", text) if "..." not in c]


def _parser(cli: str):
    return importlib.import_module(f"drn_edge.cli.{CLI_MODULES[cli]}").build_parser()


def _options(cli: str) -> set[str]:
    import argparse

    parsers, flags = [_parser(cli)], set()
    for parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += list(action.choices.values())
            flags.update(action.option_strings)
    return flags


def _parse(command: str) -> None:
    argv = shlex.split(command)
    args = argv[1:]
    if argv[0] == "drn-bench":
        args = importlib.import_module("drn_edge.cli.bench").translate_legacy(list(args))
    _parser(argv[0]).parse_args(args)


def test_every_documented_command_parses():
    bad, count = [], 0
    for doc in DOCS:
        text = doc.read_text()
        for command in _blocks(text):
            if command.split()[0] not in CLI_MODULES:
                continue
            count += 1
            try:
                _parse(command)
            except SystemExit as exc:
                if exc.code:
                    bad.append(f"{doc.name}: {command}")
            except Exception as exc:  # noqa: BLE001 - a shlex error is a broken example too
                bad.append(f"{doc.name}: {command} ({exc})")
        for mention in _inline(text):
            cli = mention.split()[0]
            if cli not in CLI_MODULES:
                bad.append(f"{doc.name}: `{mention}` names no drn-edge command")
                continue
            count += 1
            unknown = [t.split("=")[0] for t in mention.split()[1:] if t.startswith("--") and t.split("=")[0] not in _options(cli)]
            if unknown:
                bad.append(f"{doc.name}: `{mention}`: {cli} has no {', '.join(unknown)}")
    assert count > 50, f"only {count} drn-* commands found: the extraction is broken"
    assert not bad, "documented commands the CLI rejects:\n" + "\n".join(bad)


def test_the_site_builds_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    assert mkdocs, "mkdocs is not installed: pip install -e '.[test]' installs it"
    r = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "site" / "jetson" / "index.html").is_file()


def test_the_embedding_snippet_runs_as_written(tiny_checkpoint, calib_dir, tmp_path):
    import cv2
    import numpy as np

    from drn_edge.cli.export import main as export_main

    text = (REPO / "docs" / "runtime.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "rainy_drive.mp4" in b)
    assert "imshow" not in snippet
    out = tmp_path / "drn_export"
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--int8", "--calib", str(calib_dir),
                        "--no-fidelity", "--backend", "onnx"]) == 0
    writer = cv2.VideoWriter(str(tmp_path / "rainy_drive.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 64))
    for i in range(5):
        writer.write(np.full((64, 96, 3), 40 * i, np.uint8))
    writer.release()
    r = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "frames=5" in r.stdout.replace(" ", "") and (tmp_path / "derained.mp4").stat().st_size > 0


def test_generated_quality_tables_are_filled():
    """The README and docs/models.md quality tables are generated between markers (benchmarks/model_tables.py); a
    block once left empty was never filled again, and both pages shipped without a number for a release."""
    for doc in (REPO / "README.md", REPO / "docs" / "models.md"):
        blocks = re.findall(r"<!-- tables:(\w+) -->\n(.*?)<!-- /tables:\1 -->", doc.read_text(), re.S)
        assert blocks, f"{doc.name}: no generated tables"
        empty = [name for name, body in blocks if "|---" not in body]
        assert not empty, f"{doc.name}: empty generated tables {empty}: run python benchmarks/model_tables.py --write"


def test_model_tables_explains_a_missing_eval_folder_and_prints_its_usage(tmp_path):
    script = str(REPO / "benchmarks" / "model_tables.py")
    out = subprocess.run([sys.executable, script, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 1 and "drn_base.json" in out.stderr and "eval_models.sh" in out.stderr
    assert "Traceback" not in out.stderr
    shown = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "Usage: python benchmarks/model_tables.py" in shown.stdout


def test_every_benchmark_script_prints_its_usage_and_names_a_bad_checkpoint_in_one_line(tmp_path):
    # The scripts the docs send users to: --help must show the usage, not take '--help' for a checkpoint or a folder.
    scripts = sorted(p for p in (REPO / "benchmarks").glob("*.py") if p.name != "script_cli.py")
    runs = {p.name: subprocess.Popen([sys.executable, str(p), "--help"], cwd=tmp_path, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in scripts}
    for name, proc in runs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "usage" in out.lower() and "Traceback" not in err, (name, out[-300:], err[-300:])
    assert not list(tmp_path.iterdir()), "a script wrote something when asked for its usage"
    missing = str(tmp_path / "no.safetensors")
    for script, args in {"score_checkpoints.py": [missing], "measure_copy.py": [missing], "dof_check.py": [missing],
                         "clean_folder.py": [str(tmp_path), missing]}.items():
        bad = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], capture_output=True, text=True)
        assert bad.returncode == 2 and bad.stderr.count("error:") == 1 and "Traceback" not in bad.stderr, bad.stderr


def test_clean_folder_names_a_missing_folder_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "clean_folder.py"), str(tmp_path / "no_such_folder"),
                          "drn_edge"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("error:") == 1 and "no_such_folder" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("flag, value", [("--scales", "1,9"), ("--passes", "0")])
def test_scale_check_refuses_a_scale_or_pass_count_it_cannot_run_in_one_line(flag, value):
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "scale_check.py"), flag, value, "x.onnx"],
                         capture_output=True, text=True)
    # Beside ../shared the option is named; without it the missing folder is (checked first): one line either way.
    assert out.returncode == 2 and out.stderr.count("error:") == 1 and "Traceback" not in out.stderr, out.stderr
    assert (flag in out.stderr) == (REPO.parent / "shared").is_dir()
