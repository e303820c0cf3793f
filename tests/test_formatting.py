"""The repository stays in the project's style ([tool.pyink] in pyproject.toml).

`make format` rewrites every file; this test names the files it would change.
"""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_python_file_is_formatted():
  result = subprocess.run(
      [sys.executable, "-m", "pyink", "--check", "--quiet", "."],
      cwd=ROOT,
      capture_output=True,
      text=True,
      check=False,
  )
  assert result.returncode == 0, (
      "files not in the project's style (run `make format`):\n" + result.stderr
  )
