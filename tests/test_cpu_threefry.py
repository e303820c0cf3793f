"""The unrolled CPU threefry lowering gives JAX's own random bits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import agents  # noqa: F401  (installs the unrolled lowering)
from agents.lib import cpu_threefry


def _draws(seed):
  key = jax.random.PRNGKey(seed)
  keys = jax.random.split(key, 7)
  return dict(
      split=keys,
      uniform=jax.vmap(lambda k: jax.random.uniform(k, (5,)))(keys),
      randint=jax.random.randint(keys[0], (33,), 0, 1000),
      normal=jax.random.normal(keys[1], (4, 3)),
      fold=jax.random.fold_in(keys[2], 12345))


def _compiled(unrolled):
  assert cpu_threefry.install(unrolled=unrolled)
  # A fresh function object each time, so nothing is reused from jit's cache.
  fn = jax.jit(lambda s: _draws(s))
  compiled = fn.lower(jnp.int32(0)).compile()
  return compiled, compiled.as_text()


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
      np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]),
                                    err_msg=name)


def test_install_is_in_place_after_importing_agents():
  assert cpu_threefry._installed is True  # pylint: disable=protected-access


@pytest.mark.parametrize("unrolled", [True, False])
def test_install_is_idempotent(unrolled):
  try:
    assert cpu_threefry.install(unrolled=unrolled)
    assert cpu_threefry.install(unrolled=unrolled)
  finally:
    cpu_threefry.install(unrolled=True)
