"""Orbax checkpoints of the complete loop state (one pytree), with fallback.

Orbax writes each checkpoint into a temporary directory and renames it when
complete, so a process killed mid-save (even by SIGKILL) leaves the previous
checkpoints intact; `restore_latest` also falls back to older steps when the
latest one cannot be read (a damaged file), logging why.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
import orbax.checkpoint as ocp


class Checkpointer:

  def __init__(self, directory: str, max_to_keep: int = 3):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any) -> None:
    self._manager.save(step, args=ocp.args.StandardSave(state))

  def restore_latest(self, abstract_state: Any) -> tuple[int, Any] | None:
    """(step, state) of the newest readable checkpoint, or None if there is none."""
    for step in reversed(self.all_steps()):
      try:
        state = self._manager.restore(
            step, args=ocp.args.StandardRestore(abstract_state))
        return step, state
      except Exception as e:  # pylint: disable=broad-except
        logging.warning("checkpoint %d in %s is unreadable (%s: %s); "
                        "falling back to the previous one", step,
                        self.directory, type(e).__name__, e)
    return None

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
