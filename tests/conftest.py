"""Shared test helpers."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def run_script(args, *, env=None, timeout=600, check=False):
  """Runs `python -m ...` from the repo root; returns the CompletedProcess."""
  full_env = dict(os.environ)
  full_env["PYTHONPATH"] = str(ROOT)
  full_env.setdefault("JAX_PLATFORMS", "cpu")
  full_env.update(env or {})
  proc = subprocess.run(
      [sys.executable, *args],
      cwd=ROOT,
      env=full_env,
      capture_output=True,
      text=True,
      timeout=timeout,
  )
  if check and proc.returncode != 0:
    raise AssertionError(
        f"{args} failed ({proc.returncode}):\n{proc.stdout}" f"\n{proc.stderr}"
    )
  return proc


def popen_interruptible(args, **kwargs):
  """`subprocess.Popen` for a child that a test interrupts with SIGINT.

  A suite started as a background job of a shell without job control runs
  with SIGINT ignored, and an ignored signal stays ignored across exec, so
  the child would run on after SIGINT. A caught one is reset to its default
  by exec (and Python then turns it into KeyboardInterrupt), so this process
  catches SIGINT while it starts the child. (No `preexec_fn`: a fork in a
  process running JAX's threads can deadlock.)
  """
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    return subprocess.Popen(args, **kwargs)
  finally:
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def root():
  return ROOT


def pytest_collection_modifyitems(config, items):
  """Slow tests (learning runs, subprocesses) first, each group in its
  collection order. With two xdist workers the run then ends on short tests
  that fill both workers, not on one long test while the other idles."""
  del config
  items.sort(key=lambda item: item.get_closest_marker("slow") is None)
