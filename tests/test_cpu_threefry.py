"""The unrolled CPU threefry lowering gives JAX's own random bits; it is
installed by the runtime (not by importing `agents`), can be switched off,
and falls back to JAX's default when JAX's private rules are not there."""

import logging
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.interpreters import mlir

from agents.lib import cpu_threefry
from agents.runtime.errors import UserError


def _draws(seed):
  key = jax.random.PRNGKey(seed)
  keys = jax.random.split(key, 7)
  return dict(
      split=keys,
      uniform=jax.vmap(lambda k: jax.random.uniform(k, (5,)))(keys),
      randint=jax.random.randint(keys[0], (33,), 0, 1000),
      normal=jax.random.normal(keys[1], (4, 3)),
      fold=jax.random.fold_in(keys[2], 12345),
  )


def _compile():
  # A fresh function object each time, so nothing is reused from jit's cache.
  fn = jax.jit(lambda s: _draws(s))
  compiled = fn.lower(jnp.int32(0)).compile()
  return compiled, compiled.as_text()


def _compiled(unrolled):
  assert cpu_threefry.install(unrolled=unrolled)
  return _compile()


@pytest.fixture
def fresh_state(monkeypatch):
  """No form chosen yet (as in a new process); JAX's CPU rule restored
  afterwards (the unrolled one, what the other tests run with)."""
  monkeypatch.setattr(cpu_threefry, "_installed", None)
  monkeypatch.setattr(cpu_threefry, "_unavailable_logged", False)
  monkeypatch.delenv(cpu_threefry.ENV_VAR, raising=False)
  yield
  monkeypatch.undo()
  cpu_threefry._installed = None  # pylint: disable=protected-access
  assert cpu_threefry.install(unrolled=True)


def test_unrolled_and_rolled_threefry_give_the_same_bits():
  try:
    rolled, rolled_text = _compiled(unrolled=False)
    unrolled, unrolled_text = _compiled(unrolled=True)
  finally:
    assert cpu_threefry.install(unrolled=True)
  if jax.default_backend() == "cpu":
    # The two programs really differ: JAX's CPU default is a while loop.
    assert " while(" in rolled_text
    assert " while(" not in unrolled_text
  for seed in (0, 1, 2**31 - 1):
    a = rolled(jnp.int32(seed))
    b = unrolled(jnp.int32(seed))
    for name in a:
      np.testing.assert_array_equal(
          np.asarray(a[name]), np.asarray(b[name]), err_msg=name
      )


@pytest.mark.parametrize("unrolled", [True, False])
def test_install_is_idempotent(unrolled):
  try:
    assert cpu_threefry.install(unrolled=unrolled)
    assert cpu_threefry.install(unrolled=unrolled)
  finally:
    cpu_threefry.install(unrolled=True)


def test_importing_agents_installs_nothing():
  code = (
      "import agents, agents.dqn, agents.runtime.train; "
      "from agents.lib import cpu_threefry; "
      "print(cpu_threefry._installed)"
  )
  out = subprocess.run(
      [sys.executable, "-c", code],
      capture_output=True,
      text=True,
      check=True,
      timeout=300,
  ).stdout
  assert out.strip() == "None"


def test_the_runtime_installs_the_environment_variables_form(
    fresh_state, monkeypatch
):
  del fresh_state
  assert cpu_threefry.install_for_runtime()  # default: unrolled
  assert cpu_threefry._installed is True  # pylint: disable=protected-access

  monkeypatch.setattr(cpu_threefry, "_installed", None)
  monkeypatch.setenv(cpu_threefry.ENV_VAR, "rolled")
  calls = []
  monkeypatch.setattr(
      mlir, "register_lowering", lambda *a, **k: calls.append(a)
  )
  assert not cpu_threefry.install_for_runtime()  # the off switch ...
  assert not calls  # ... leaves JAX untouched

  monkeypatch.setenv(cpu_threefry.ENV_VAR, "fast")
  with pytest.raises(UserError, match="BRAINRL_CPU_THREEFRY='fast'"):
    cpu_threefry.install_for_runtime()


def test_an_explicit_choice_wins_over_the_runtime(fresh_state, monkeypatch):
  del fresh_state
  assert cpu_threefry.install(unrolled=False)  # e.g. --cpu_threefry=rolled
  monkeypatch.setenv(cpu_threefry.ENV_VAR, "unrolled")
  assert not cpu_threefry.install_for_runtime()
  assert cpu_threefry._installed is False  # pylint: disable=protected-access


def test_the_loop_installs_it(fresh_state):
  del fresh_state
  from agents.runtime import train  # pylint: disable=g-import-not-at-top
  from configs import dqn  # pylint: disable=g-import-not-at-top

  assert cpu_threefry._installed is None  # pylint: disable=protected-access
  train.build_loop(dqn.get_config("catch"))
  assert cpu_threefry._installed is True  # pylint: disable=protected-access


@pytest.mark.parametrize("change", ["missing", "not_callable", "rejected"])
def test_an_unknown_jax_falls_back_to_its_default(
    fresh_state, monkeypatch, caplog, change
):
  """JAX's private rules moved, changed, or refused: JAX's own lowering
  stays, one log line says so, and random numbers are still right."""
  del fresh_state
  from jax._src.random import threefry2x32  # pylint: disable=g-import-not-at-top

  expected, _ = _compiled(unrolled=False)  # JAX's default, the reference
  monkeypatch.setattr(cpu_threefry, "_installed", None)
  if change == "missing":
    monkeypatch.delattr(threefry2x32, "_threefry2x32_cpu_lowering_rule")
  elif change == "not_callable":
    monkeypatch.setattr(threefry2x32, "_threefry2x32_lowering_rule", 42)
  else:

    def rejected(*args, **kwargs):
      raise TypeError("register_lowering() got an unexpected argument")

    monkeypatch.setattr(mlir, "register_lowering", rejected)
  with caplog.at_level(logging.WARNING):
    assert not cpu_threefry.install_for_runtime()
    assert not cpu_threefry.install_for_runtime()  # logged once only
  lines = [r for r in caplog.records if "cpu_threefry" in r.getMessage()]
  assert len(lines) == 1, [r.getMessage() for r in lines]
  assert "keeping JAX's CPU default" in lines[0].getMessage()
  assert cpu_threefry._installed is None  # pylint: disable=protected-access
  compiled, text = _compile()
  if jax.default_backend() == "cpu":
    assert " while(" in text  # JAX's rolled default is what runs
  a, b = expected(jnp.int32(3)), compiled(jnp.int32(3))
  for name in a:
    np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]))
