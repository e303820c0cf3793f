"""User-facing errors: one clear message, non-zero exit, no traceback."""


class UserError(Exception):
  """Bad input from the user (config, task, workdir). Scripts print and exit 2."""


class NonFiniteLossError(Exception):
  """Training produced a non-finite loss; the last good checkpoint is kept."""


class Terminated(KeyboardInterrupt):
  """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that the same
  clean-up runs (scripts exit 143 instead of 130)."""


class LoopCrashed(Exception):
  """A thread of an asynchronous loop (an actor, a learner) raised: the run
  stops (threads joined, the last checkpoint kept); scripts print one line
  and exit 1."""
