"""The style gate: ruff (lint and import order, configured in pyproject.toml) is clean over the whole tree."""
import shutil
import subprocess
import sys

from tests.conftest import REPO


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert ruff, "ruff is not installed: pip install -e '.[test]' installs it"
    r = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", "."], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, "ruff check found problems (run `ruff check --fix .`):\n" + r.stdout[-4000:]
