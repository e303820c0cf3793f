"""A run's directory: checked before it is touched, locked while in use.

Every script that writes results into a `--workdir` goes through this module:

  * `ensure_writable_dir(path)` says, before anything is written, whether
    `path` can hold results (it creates nothing; a UserError otherwise);
  * `WorkdirLock(path)` is an exclusive lock on DIR/.lock (fcntl.flock), so
    that two runs never write into one directory at once. The holder's pid is
    written into the file while it holds it (the file is emptied on release);
    the kernel drops the lock when its process dies, so a lock left behind by
    a killed run is simply taken over;
  * `write_json_atomic(path, payload)` writes JSON through a temporary file
    and a rename, so a reader (or a resumed run) never sees half a file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import tempfile
from typing import Any

import numpy as np

from agents.runtime.errors import UserError

LOCK_NAME = ".lock"


def _nearest_existing(path: str) -> str:
  current = os.path.abspath(path)
  while not os.path.lexists(current):
    parent = os.path.dirname(current)
    if parent == current:
      break
    current = parent
  return current


def ensure_writable_dir(path: str) -> None:
  """Raises UserError unless `path` is (or can become) a writable directory.

  Writes nothing into `path`: a directory that does not exist yet is checked
  through its nearest existing ancestor (which must be a writable directory;
  the probe file made there is removed at once).
  """
  if not isinstance(path, str) or not path.strip():
    raise UserError("--workdir is empty: give a directory for the results")
  existing = _nearest_existing(path)
  if existing == os.path.abspath(path):
    if not os.path.isdir(existing):
      raise UserError(f"--workdir={path} exists and is not a directory")
  elif not os.path.isdir(existing):
    raise UserError(
        f"--workdir={path} cannot be created: {existing} is not " "a directory"
    )
  try:
    fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=existing)
  except OSError as e:
    what = (
        "is not writable"
        if existing == os.path.abspath(path)
        else f"cannot be created in {existing}"
    )
    why = (
        "" if e.errno in (None, errno.ENOENT) else f" ({os.strerror(e.errno)})"
    )
    raise UserError(f"--workdir={path} {what}{why}") from None
  os.close(fd)
  os.remove(probe)


def jsonable(tree: Any, nonfinite_as_none: bool = False) -> Any:
  """`tree` in JSON's types: dicts (keys as strings), lists (from tuples),
  numpy / jax arrays and scalars -> Python lists and numbers, config dicts
  (anything with `to_dict`) -> dicts. `nonfinite_as_none`: NaN and +-inf ->
  None (strict JSON; otherwise they stay floats, which json writes as NaN)."""
  if isinstance(tree, dict):
    return {str(k): jsonable(v, nonfinite_as_none) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return [jsonable(v, nonfinite_as_none) for v in tree]
  if callable(getattr(tree, "to_dict", None)):
    return jsonable(tree.to_dict(), nonfinite_as_none)
  if hasattr(tree, "__array__") and not isinstance(tree, (bool, int, float)):
    value = np.asarray(tree).tolist()
    return (
        jsonable(value, nonfinite_as_none)
        if isinstance(value, list)
        else (_scalar(value, nonfinite_as_none))
    )
  return _scalar(tree, nonfinite_as_none)


def _scalar(x: Any, nonfinite_as_none: bool) -> Any:
  if nonfinite_as_none and isinstance(x, float) and not math.isfinite(x):
    return None
  return x


def write_json_atomic(path: str, payload: Any) -> None:
  """Writes `payload` as indented, key-sorted JSON to `path` atomically."""
  tmp = f"{path}.{os.getpid()}.tmp"
  try:
    with open(tmp, "w") as f:
      json.dump(payload, f, indent=2, sort_keys=True)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


class WorkdirLock:
  """Exclusive lock on DIR/.lock; a second holder gets a UserError naming the
  first one's pid. Use as a context manager, or `acquire()` / `release()`."""

  def __init__(self, directory: str):
    self.directory = directory
    self.path = os.path.join(directory, LOCK_NAME)
    self._fd: int | None = None

  def acquire(self) -> None:
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      holder = _read_pid(fd)
      os.close(fd)
      if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        raise UserError(
            f"cannot lock {self.path}: {os.strerror(e.errno)}"
        ) from None
      who = f"process {holder}" if holder else "another process"
      raise UserError(
          f"{self.directory} is in use by {who} (lock {self.path}); wait for "
          "it to finish or stop it, or use another --workdir"
      ) from None
    # Whatever pid is in the file was left by a dead process: ours replaces it.
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    os.fsync(fd)
    self._fd = fd

  def release(self) -> None:
    if self._fd is None:
      return
    try:
      os.ftruncate(self._fd, 0)
    except OSError:
      pass
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None

  @property
  def held(self) -> bool:
    return self._fd is not None

  def __enter__(self) -> WorkdirLock:
    self.acquire()
    return self

  def __exit__(self, *exc) -> None:
    self.release()


def _read_pid(fd: int) -> int | None:
  try:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
  except OSError:
    return None
