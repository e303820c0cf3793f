"""agents/runtime/interrupts.py: Ctrl-C and SIGTERM held until a safe point.

The end-to-end checks (a training process interrupted between segments, one
line, exit 130 / 143, the last checkpoint kept) are in test_reliability.py
and test_async_loops.py.
"""

import signal

import pytest

from agents.runtime import errors
from agents.runtime import interrupts


@pytest.fixture
def sigint_raises():
  """SIGINT -> KeyboardInterrupt in this process for the test (the suite may
  run with SIGINT ignored, as a background job)."""
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  yield
  signal.signal(signal.SIGINT, previous)


def test_signals_in_a_held_block_wait_for_its_safe_point(sigint_raises):
  """The driver's segment loop: a signal is delivered between segments (and
  after a nested hold, a checkpoint save), never wherever the main thread
  was; a second one is delivered at once; the handlers are restored."""
  del sigint_raises
  before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
  reached = []
  with pytest.raises(KeyboardInterrupt):
    with interrupts.held(second_now=True) as signals:
      signal.raise_signal(signal.SIGINT)
      reached.append("after the signal")
      with interrupts.held():  # a checkpoint save inside the segment loop
        reached.append("inside the nested hold")
      reached.append("after the nested hold")
      signals.deliver_pending()
      reached.append("after the safe point")
  assert reached == [
      "after the signal",
      "inside the nested hold",
      "after the nested hold",
  ]
  assert (
      signal.getsignal(signal.SIGINT),
      signal.getsignal(signal.SIGTERM),
  ) == (before)

  reached = []
  with pytest.raises(KeyboardInterrupt):
    with interrupts.held(second_now=True):
      signal.raise_signal(signal.SIGINT)
      reached.append("after the first")
      signal.raise_signal(signal.SIGINT)
      reached.append("after the second")
  assert reached == ["after the first"]
  assert signal.getsignal(signal.SIGINT) == before[0]

  # Without a signal the block runs through; a signal in a nested hold
  # reaches the outer one (first signal: held there too).
  with interrupts.held(second_now=True) as signals:
    signals.deliver_pending()
    with interrupts.held():
      signal.raise_signal(signal.SIGINT)
    assert signals.pending == [signal.SIGINT]
    signals.pending.clear()
  assert signal.getsignal(signal.SIGINT) == before[0]


def test_an_ignored_signal_stays_ignored_in_a_held_block():
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
  try:
    with interrupts.held(second_now=True) as signals:
      assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
      signal.raise_signal(signal.SIGINT)
      signals.deliver_pending()
    assert not signals.pending
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
  finally:
    signal.signal(signal.SIGINT, previous)


def test_sigterm_in_a_held_block_reaches_the_run_s_handler():
  def terminated(signum, frame):
    del signum, frame
    raise errors.Terminated()

  previous = signal.signal(signal.SIGTERM, terminated)
  try:
    with pytest.raises(errors.Terminated):
      with interrupts.held(second_now=True) as signals:
        signal.raise_signal(signal.SIGTERM)
        signals.deliver_pending()
    assert signal.getsignal(signal.SIGTERM) is terminated
  finally:
    signal.signal(signal.SIGTERM, previous)
