"""Orbax checkpoints of the complete loop state (one pytree), with recovery.

Orbax writes each checkpoint into a temporary directory and renames it when
complete, so a process killed mid-save (even by SIGKILL) leaves the previous
checkpoints intact. `restore_latest` falls back to older steps when the newest
one cannot be read (a damaged file), with one warning line per bad step. A
training run (`move_corrupt=True`) also moves each unreadable step newer than
the one it resumes from aside to `checkpoints/corrupt-<step>`: orbax never
rewrites a step that exists, so leaving it in place would keep the damaged
step as the run's newest. When no step can be read at all, nothing is moved
(the cause may be transient).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

import orbax.checkpoint as ocp

from agents.runtime import interrupts

CORRUPT_PREFIX = "corrupt-"


def _warn_stderr(message: str) -> None:
  print(f"warning: {message}", file=sys.stderr, flush=True)


def _one_line(error: BaseException, limit: int = 160) -> str:
  """`Type: first line of the message`, cut short (TensorStore's errors run
  to dozens of lines)."""
  text = str(error).strip().splitlines()
  first = text[0] if text else ""
  if len(first) > limit:
    first = first[: limit - 3] + "..."
  return f"{type(error).__name__}: {first}" if first else type(error).__name__


class Checkpointer:
  """Saves and restores the loop state under one directory, by segment.

  `create=False` (a reader, scripts.evaluate) does not create the directory.
  """

  def __init__(
      self,
      directory: str,
      max_to_keep: int = 3,
      *,
      create: bool = True,
      warn: Callable[[str], None] = _warn_stderr,
  ):
    self.directory = os.path.abspath(directory)
    self._warn = warn
    self._closed = False
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=create
        ),
    )

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any) -> None:
    # `save` waits for the previous save inside orbax; interrupted there,
    # orbax logs its own traceback before the interrupt reaches the driver
    # (whose message is then not the only line), so a signal is held until
    # the save has been handed to orbax.
    with interrupts.held():
      self._manager.save(step, args=ocp.args.StandardSave(state))

  def restore_latest(
      self, abstract_state: Any, *, move_corrupt: bool = False
  ) -> tuple[int, Any] | None:
    """(step, state) of the newest readable checkpoint, or None if none is.

    Args:
      abstract_state: the state's structure (shapes, dtypes, shardings).
      move_corrupt: once an older step has been read, move each unreadable
        newer one to `corrupt-<step>` (a writer does this, so that the step
        is written again; readers leave it).
    """
    failed = []
    for step in reversed(self.all_steps()):
      try:
        state = self._manager.restore(
            step, args=ocp.args.StandardRestore(abstract_state)
        )
      except Exception as e:  # pylint: disable=broad-except
        failed.append((step, _one_line(e)))
        continue
      for bad, reason in failed:
        where = (
            f"moved to {self._move_aside(bad)}"
            if move_corrupt
            else "left in place"
        )
        self._warn(
            f"checkpoint {bad} in {self.directory} is unreadable "
            f"({reason}); {where}; using checkpoint {step}"
        )
      return step, state
    for bad, reason in failed:
      self._warn(
          f"checkpoint {bad} in {self.directory} is unreadable " f"({reason})"
      )
    return None

  def restore(self, step: int, abstract_state: Any) -> Any | None:
    """The state saved at `step`, or None (one warning line) if that step
    cannot be read; nothing is moved (a reader's sweep over old steps)."""
    try:
      return self._manager.restore(
          step, args=ocp.args.StandardRestore(abstract_state)
      )
    except Exception as e:  # pylint: disable=broad-except
      self._warn(
          f"checkpoint {step} in {self.directory} is unreadable "
          f"({_one_line(e)}); skipped"
      )
      return None

  def _move_aside(self, step: int) -> str:
    source = os.path.join(self.directory, str(step))
    target = os.path.join(self.directory, f"{CORRUPT_PREFIX}{step}")
    n = 1
    while os.path.exists(target):
      n += 1
      target = os.path.join(self.directory, f"{CORRUPT_PREFIX}{step}.{n}")
    os.rename(source, target)
    self._manager.reload()
    return target

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for the saves under way, then closes (a second call is a no-op)."""
    if self._closed:
      return
    self._manager.wait_until_finished()
    self._manager.close()
    self._closed = True
