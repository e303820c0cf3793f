"""Ctrl-C and SIGTERM taken where the run can stop cleanly.

Python raises KeyboardInterrupt (and `errors.Terminated`, which `scripts/_cli`
raises for SIGTERM) wherever the main thread happens to be when the signal
arrives: inside orbax's save machinery (which then logs its own traceback
before the driver's one line), between a lock's acquire and its release,
halfway through a metrics.csv row. Taken between two segments instead, the
run stops where its state is whole: the segment's row written, its
checkpoint (if one was due) handed to orbax.

`held()` records the signals that arrive inside its block instead, and
delivers them, to the handlers that were installed before it, when the block
ends or when the block calls `deliver_pending()` at a safe point (the
training driver: between two segments). With `second_now=True` a second
signal is delivered at once: a user who presses Ctrl-C twice during a long
segment is not kept waiting.

A signal the process ignores stays ignored (a background job of a shell
without job control starts with SIGINT ignored). Only the main thread can
set signal handlers; elsewhere `held()` does nothing.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Held:
  """A `held()` block: the signals recorded in it, `deliver_pending()`."""

  def __init__(self, second_now: bool):
    self.pending: list[int] = []
    self._second_now = second_now
    self._previous: dict[int, object] = {}

  def __enter__(self) -> Held:
    if threading.current_thread() is threading.main_thread():
      for sig in SIGNALS:
        handler = signal.getsignal(sig)
        if handler is not signal.SIG_IGN:  # an ignored one stays ignored
          self._previous[sig] = handler
          signal.signal(sig, self._record)
    return self

  def __exit__(self, *exc_info) -> None:
    self.deliver_pending()
    self._restore()

  def _restore(self) -> None:
    previous, self._previous = self._previous, {}
    for sig, handler in previous.items():
      signal.signal(sig, handler)

  def _record(self, signum, frame) -> None:
    if self.pending and self._second_now:
      handler = self._previous.get(signum)
      self._restore()
      if callable(handler):
        handler(signum, frame)  # raises KeyboardInterrupt / Terminated here
      else:
        signal.raise_signal(signum)  # the default action
      return
    self.pending.append(signum)

  def deliver_pending(self) -> None:
    """Delivers the first recorded signal to the earlier handler, here.

    Its handler raises (KeyboardInterrupt, Terminated) or ends the process;
    with none recorded this returns at once and the block stays held.
    """
    if self.pending and self._previous:
      self._restore()
      signal.raise_signal(self.pending[0])


def held(second_now: bool = False) -> Held:
  """SIGINT and SIGTERM arriving inside the `with` block take effect at its
  end, or at a `deliver_pending()` call inside it (see the module
  docstring)."""
  return Held(second_now)
