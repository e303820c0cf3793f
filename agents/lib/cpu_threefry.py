"""Threefry on XLA:CPU as straight-line code instead of a rolled loop.

Every `jax.random` call (split, uniform, randint, ...) is the threefry2x32
hash of Salmon et al. 2011: 20 rounds, key injected every 4. JAX lowers it
unrolled on GPU and TPU, but on CPU as a `while` loop of 5 iterations of 4
rounds. Under XLA:CPU's thunk runtime every iteration of that loop runs its
small body as separate kernels, and the agents here call the hash several
times per environment step (key splits in the loop and in the environments,
epsilon-greedy, sampled actions, replay indices), each on a few dozen keys,
so that overhead is a large share of a training step. With the unrolled form
registered for CPU, side by side on the 2-core CPU machine (`python -m
scripts.benchmark --only=a2c_cartpole,dqn_catch,qr_dqn_catch
--cpu_threefry=rolled`, then the default `--cpu_threefry=unrolled`): A2C on
CartPole 829k -> 1,158k env steps/s, DQN on Catch 137k -> 189k, QR-DQN on
Catch 59k -> 78k; the compile times in the same table did not grow (4.6 ->
3.9 s, 4.1 -> 4.2 s, 4.2 -> 3.5 s).

Only the lowering changes, not the algorithm: the random bits are the same
(tests/test_cpu_threefry.py compares both lowerings bit for bit), so seeds,
checkpoints and every recorded result stay valid. `install()` runs when the
`agents` package is imported; it is idempotent. It uses JAX's own rules,
which are private: if a JAX version moves them, `install()` leaves JAX's
default in place (correct, only slower) and says so in the log.
"""

from __future__ import annotations

from absl import logging

_installed = None  # the form registered by install(), None before


def _rules():
  """(primitive, unrolled rule, rolled rule) of JAX's threefry, or None."""
  try:
    from jax._src.random import threefry2x32  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  found = tuple(getattr(threefry2x32, name, None) for name in (
      "threefry2x32_p", "_threefry2x32_lowering_rule",
      "_threefry2x32_cpu_lowering_rule"))
  return None if None in found else found


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
    logging.info("cpu_threefry: JAX's threefry lowering rules were not found "
                 "in this JAX version; keeping its CPU default.")
    return False
  from jax.interpreters import mlir  # pylint: disable=g-import-not-at-top
  primitive, unrolled_rule, rolled_rule = found
  mlir.register_lowering(primitive, unrolled_rule if unrolled else rolled_rule,
                         platform="cpu")
  _installed = unrolled
  return True
