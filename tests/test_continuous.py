"""agents/lib/continuous.py: action bounds and exploration noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_env import specs

from agents.lib import continuous
from agents.runtime.errors import UserError


def test_bounds_of_a_bounded_vector():
  spec = specs.BoundedArray((2,), np.float32, [-2.0, 0.0], [2.0, 1.0])
  low, high = continuous.action_bounds(spec)
  np.testing.assert_array_equal(low, [-2.0, 0.0])
  np.testing.assert_array_equal(high, [2.0, 1.0])
  assert low.dtype == np.float32


@pytest.mark.parametrize(
    "spec, message",
    [
        (specs.DiscreteArray(3), "discrete"),
        (specs.Array((1,), np.float32), "no bounds"),
        (specs.BoundedArray((1,), np.float32, -np.inf, 1.0), "not finite"),
        (specs.BoundedArray((1,), np.float32, -1.0, np.nan), "not finite"),
        (specs.BoundedArray((1,), np.float32, 1.0, 1.0), "minimum < maximum"),
        (specs.BoundedArray((), np.float32, -1.0, 1.0), "shape"),
    ],
)
def test_bad_specs_name_the_problem(spec, message):
  with pytest.raises(UserError, match=message):
    continuous.action_bounds(spec)


def test_scale_to_bounds_maps_the_unit_box():
  low, high = jnp.array([-2.0, 0.0]), jnp.array([2.0, 1.0])
  np.testing.assert_allclose(
      continuous.scale_to_bounds(jnp.array([-1.0, 1.0]), low, high),
      [-2.0, 1.0],
  )
  np.testing.assert_allclose(
      continuous.scale_to_bounds(jnp.zeros(2), low, high), [0.0, 0.5]
  )


def test_gaussian_noise_scale_and_clipping():
  low, high = jnp.array([-2.0]), jnp.array([2.0])
  keys = jax.random.split(jax.random.PRNGKey(0), 20000)
  draws = jax.vmap(
      lambda k: continuous.gaussian_noise(jnp.zeros(1), k, 0.1, low, high)
  )(keys)
  # sigma 0.1 in half-ranges of 2: standard deviation 0.2.
  np.testing.assert_allclose(np.std(draws), 0.2, rtol=0.03)
  wide = jax.vmap(
      lambda k: continuous.gaussian_noise(jnp.zeros(1), k, 10.0, low, high)
  )(keys)
  assert float(wide.min()) >= -2.0 and float(wide.max()) <= 2.0


def test_ou_noise_is_mean_reverting_with_the_stationary_variance():
  theta, sigma = 0.15, 0.2

  def step(n, k):
    n = continuous.ou_step(n, k, theta, sigma)
    return n, n

  _, path = jax.lax.scan(
      step, jnp.zeros(1), jax.random.split(jax.random.PRNGKey(1), 50000)
  )
  # AR(1) n' = (1 - theta) n + sigma eps: variance sigma^2 / (1 - (1-theta)^2).
  expected = sigma**2 / (1 - (1 - theta) ** 2)
  np.testing.assert_allclose(np.var(path[1000:]), expected, rtol=0.1)
  lag1 = np.corrcoef(path[1000:-1, 0], path[1001:, 0])[0, 1]
  np.testing.assert_allclose(lag1, 1 - theta, atol=0.02)
