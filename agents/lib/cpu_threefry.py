"""Threefry on XLA:CPU as straight-line code instead of a rolled loop.

Every `jax.random` call (split, uniform, randint, ...) is the threefry2x32
hash of Salmon et al. 2011: 20 rounds, key injected every 4. JAX lowers it
unrolled on GPU and TPU, but on CPU as a `while` loop of 5 iterations of 4
rounds. Under XLA:CPU's thunk runtime every iteration of that loop runs its
small body as separate kernels, and the agents here call the hash several
times per environment step, each on a few dozen keys, so that overhead is a
large share of a training step. Registering the unrolled form for CPU makes
training markedly faster, side by side: `python -m scripts.benchmark
--cpu_threefry=rolled` against the default `--cpu_threefry=unrolled`.

Only the lowering changes, not the algorithm: the random bits are the same
(tests/test_cpu_threefry.py compares both lowerings bit for bit), so seeds,
checkpoints and every recorded result stay valid.

Who installs it: nothing at import. The runtime calls `install_for_runtime()`
before it compiles (the loops' constructors, `AnakinLoop` and `HostLoop`,
and the reproduction scripts); it installs the form the environment variable
`BRAINRL_CPU_THREEFRY` names, `unrolled` (default) or `rolled` (JAX's own,
untouched: the off switch), unless a form was already chosen with
`install(unrolled=...)` (scripts.benchmark's `--cpu_threefry`). The rules
used are JAX's own and private: if a JAX version moves or changes them,
installing leaves JAX's default in place (correct, only slower) and says so
in one log line.
"""

from __future__ import annotations

import os

from absl import logging

from agents.runtime.errors import UserError

ENV_VAR = "BRAINRL_CPU_THREEFRY"
FORMS = ("unrolled", "rolled")

_installed = None  # True / False: the form chosen (unrolled?), None before
_unavailable_logged = False


def _rules():
  """(primitive, unrolled rule, rolled rule) of JAX's threefry, or None."""
  try:
    from jax._src.random import threefry2x32  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  found = tuple(
      getattr(threefry2x32, name, None)
      for name in (
          "threefry2x32_p",
          "_threefry2x32_lowering_rule",
          "_threefry2x32_cpu_lowering_rule",
      )
  )
  if (
      None in found
      or not hasattr(found[0], "bind")
      or not all(callable(rule) for rule in found[1:])
  ):
    return None  # moved or changed in this JAX version
  return found


def install(unrolled: bool = True) -> bool:
  """Registers the unrolled (or, `unrolled=False`, JAX's default rolled)
  threefry lowering for the CPU platform; returns whether it did.

  Applies to programs compiled afterwards; those already compiled keep
  theirs (both forms give the same bits).
  """
  global _installed
  if _installed == unrolled:
    return True
  found = _rules()
  if found is None:
    _log_unavailable("JAX's threefry lowering rules were not found")
    return False
  from jax.interpreters import mlir  # pylint: disable=g-import-not-at-top

  primitive, unrolled_rule, rolled_rule = found
  try:
    mlir.register_lowering(
        primitive, unrolled_rule if unrolled else rolled_rule, platform="cpu"
    )
  except Exception as e:  # pylint: disable=broad-except
    _log_unavailable(
        f"registering JAX's threefry lowering failed "
        f"({type(e).__name__}: {e})"
    )
    return False
  _installed = unrolled
  return True


def _log_unavailable(reason: str) -> None:
  global _unavailable_logged
  if not _unavailable_logged:
    logging.warning(
        "cpu_threefry: %s in this JAX version; keeping JAX's CPU "
        "default (same random bits, slower).",
        reason,
    )
    _unavailable_logged = True


def current_form() -> str:
  """The form programs compiled now get: "unrolled" or "rolled"."""
  return "unrolled" if _installed else "rolled"


def install_for_runtime() -> bool:
  """What the runtime calls before compiling: the form `BRAINRL_CPU_THREEFRY`
  names (`unrolled` by default; `rolled` leaves JAX untouched), unless a
  form was chosen already. Returns whether the unrolled form is in place.

  Raises:
    UserError: the environment variable holds something else.
  """
  if _installed is not None:
    return _installed
  form = os.environ.get(ENV_VAR, "").strip().lower() or "unrolled"
  if form not in FORMS:
    raise UserError(
        f"{ENV_VAR}={os.environ[ENV_VAR]!r}: expected one of "
        f"{', '.join(FORMS)} (unrolled is the default)"
    )
  if form == "rolled":
    return False  # JAX's own lowering, untouched
  return install(unrolled=True)
