"""The shared distributional losses (agents/lib/distributional.py) and
expectile imputation (agents/lib/expectiles.py) against hand-computed numbers,
rlax-style (with and without jit), and the shapes of
the distributional agents' networks."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized

from agents import er_dqn
from agents import iqn
from agents import qr_dqn
from agents import types
from agents.analysis import dopamine
from agents.analysis import return_distributions
from agents.lib import distributional
from agents.lib import expectiles
from configs import dqn as dqn_config
from configs import er_dqn as er_dqn_config
from configs import iqn as iqn_config
from configs import qr_dqn as qr_dqn_config
from environments import registry as env_registry

GAP_VALUES = np.array([-0.729, 0.59049])  # JumpTheGap at gamma 0.9
GAP_PROBS = np.array([0.4, 0.6])


class ExpectileRegressionLossTest(chex.TestCase):

  def setUp(self):
    super().setUp()
    self.expectiles = jnp.array([0.0, 1.0])
    self.taus = jnp.array([0.25, 0.75])
    self.samples = jnp.array([-1.0, 2.0])
    # i=0 (e 0, tau .25): z=-1 -> .75 * 1, z=2 -> .25 * 4; mean .875
    # i=1 (e 1, tau .75): z=-1 -> .25 * 4, z=2 -> .75 * 1; mean .875
    self.expected_loss = 1.75
    # d/de_i = -2 mean_j w_ij (z_j - e_i): i=0: -2(-.75 + .5)/2 = .25;
    # i=1: -2(-.5 + .75)/2 = -.25.
    self.expected_grad = np.array([0.25, -0.25])

  @chex.variants(with_jit=True, without_jit=True)
  def test_value(self):
    loss = self.variant(distributional.expectile_regression_loss)(
        self.expectiles, self.taus, self.samples
    )
    np.testing.assert_allclose(loss, self.expected_loss, rtol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_gradient(self):
    grad = self.variant(jax.grad(distributional.expectile_regression_loss))(
        self.expectiles, self.taus, self.samples
    )
    np.testing.assert_allclose(grad, self.expected_grad, rtol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_minimised_at_the_sample_expectiles(self):
    samples = jnp.array([-2.0, 0.0, 0.5, 3.0, 7.0])
    taus = jnp.array([0.1, 0.5, 0.9])
    exact = dopamine.expectiles_of_distribution(
        np.asarray(samples), None, np.asarray(taus)
    )
    grad = self.variant(jax.grad(distributional.expectile_regression_loss))(
        jnp.asarray(exact, jnp.float32), taus, samples
    )
    np.testing.assert_allclose(grad, 0.0, atol=1e-5)
    np.testing.assert_allclose(exact[1], np.mean(samples), rtol=1e-6)

  def test_no_gradient_into_the_targets(self):
    grad = jax.grad(distributional.expectile_regression_loss, argnums=2)(
        self.expectiles, self.taus, self.samples
    )
    np.testing.assert_array_equal(grad, 0.0)

  def test_rank_and_type_checks(self):
    with pytest.raises(AssertionError):
      distributional.expectile_regression_loss(
          self.expectiles[None], self.taus, self.samples
      )
    with pytest.raises(AssertionError):
      distributional.expectile_regression_loss(
          self.expectiles, self.taus, jnp.array([1, 2], jnp.int32)
      )


class ImputationTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_imputation_loss_by_hand(self):
    loss = self.variant(distributional.expectile_imputation_loss)
    # Median-free case: samples {0, 1}, tau .5, e .5 -> condition 0.
    np.testing.assert_allclose(
        loss(jnp.array([0.0, 1.0]), jnp.array([0.5]), jnp.array([0.5])), 0.0
    )
    # e = 0: (.5 * 0 + .5 * 1) / 2 = .25 -> squared .0625.
    np.testing.assert_allclose(
        loss(jnp.array([0.0, 1.0]), jnp.array([0.5]), jnp.array([0.0])),
        0.0625,
        rtol=1e-6,
    )

  @chex.variants(with_jit=True, without_jit=True)
  def test_recovers_a_two_atom_distribution(self):
    num = 31
    taus = (np.arange(num) + 0.5) / num
    target = dopamine.expectiles_of_distribution(GAP_VALUES, GAP_PROBS, taus)
    impute = self.variant(
        functools.partial(expectiles.impute_samples, num_steps=20)
    )
    samples = np.asarray(
        impute(jnp.asarray(taus, jnp.float32), jnp.asarray(target, jnp.float32))
    )
    assert samples.shape == (num,)
    assert np.all(np.diff(samples) >= 0)  # sorted
    # The samples' own expectiles are the ones asked for ...
    recovered = dopamine.expectiles_of_distribution(samples, None, taus)
    np.testing.assert_allclose(recovered, target, atol=2e-2)
    # ... and the samples sit on the two atoms, not on the expectiles.
    assert (
        distributional.wasserstein1(samples, None, GAP_VALUES, GAP_PROBS) < 0.06
    )
    naive = distributional.wasserstein1(target, None, GAP_VALUES, GAP_PROBS)
    assert naive > 0.2  # reading expectiles as samples would be far off
    np.testing.assert_allclose(
        np.mean(samples), GAP_VALUES @ GAP_PROBS, atol=1e-2
    )

  @chex.variants(with_jit=True, without_jit=True)
  def test_imputation_loss_three_expectiles_by_hand(self):
    """z = (0.3, -1, 2), tau = (.2, .5, .7), e = (.1, .4, .9). Conditions
    (1/3) sum_j w_ij (z_j - e_i), w_ij = 1 - tau_i if z_j <= e_i else tau_i:
      i=0: (.2 * .2 + .8 * -1.1 + .2 * 1.9) / 3 = -.46 / 3
      i=1: (.5 * -.1 + .5 * -1.4 + .5 * 1.6) / 3 = .05 / 3
      i=2: (.3 * -.6 + .3 * -1.9 + .7 * 1.1) / 3 = .02 / 3
    loss = (.2116 + .0025 + .0004) / 9 = .2145 / 9."""
    samples, taus = jnp.array([0.3, -1.0, 2.0]), jnp.array([0.2, 0.5, 0.7])
    e = jnp.array([0.1, 0.4, 0.9])
    loss = self.variant(distributional.expectile_imputation_loss)
    np.testing.assert_allclose(loss(samples, taus, e), 0.2145 / 9, rtol=1e-5)
    # The dopamine decoder minimises this same function.
    assert dopamine.expectile_imputation_loss is (
        distributional.expectile_imputation_loss
    )


def test_wasserstein1_by_hand_and_against_scipy():
  import scipy.stats  # pylint: disable=g-import-not-at-top
  # Atoms {0: .5, 1: .5} vs {0.5: 1}: |F_a - F_b| = .5 on [0, 1] -> 0.5.
  assert distributional.wasserstein1([0.0, 1.0], None, [0.5], None) == 0.5
  # {0: .25, 2: .75} vs {1: 1}: .25 on [0, 1], .75 on [1, 2] -> 1.0.
  assert distributional.wasserstein1([2.0, 0.0], [3.0, 1.0], [1.0], None) == 1.0
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=17), rng.normal(1.0, 2.0, size=5)
  wa, wb = rng.uniform(size=17), rng.uniform(size=5)
  assert distributional.wasserstein1(a, wa, b, wb) == pytest.approx(
      scipy.stats.wasserstein_distance(a, b, wa, wb), rel=1e-12
  )


def _specs(task):
  env = env_registry.make(task)
  return env, types.EnvSpecs(env.observation_spec(), env.action_spec())


@pytest.mark.parametrize("task", ["catch", "cartpole"])
def test_quantile_and_expectile_network_shapes(task):
  env, specs = _specs(task)
  obs = jnp.zeros((5, *specs.observation.shape))
  num_actions = specs.action.num_values
  c = qr_dqn_config.get_config(task)
  net = qr_dqn.make_network(c, specs)
  params = net.init(jax.random.PRNGKey(0), obs[0])
  assert net.apply(params, obs).shape == (5, c.num_quantiles, num_actions)
  assert net.apply(params, obs[0]).shape == (c.num_quantiles, num_actions)
  c = er_dqn_config.get_config(task)
  net = er_dqn.make_network(c, specs)
  params = net.init(jax.random.PRNGKey(0), obs[0])
  assert net.apply(params, obs).shape == (5, c.num_expectiles, num_actions)
  assert er_dqn.mean_of_expectiles(net.apply(params, obs)).shape == (
      5,
      num_actions,
  )


@pytest.mark.parametrize("task", ["catch", "cartpole"])
def test_implicit_quantile_network_shapes(task):
  env, specs = _specs(task)
  obs = jnp.zeros((5, *specs.observation.shape))
  num_actions = specs.action.num_values
  c = iqn_config.get_config(task)
  net = iqn.make_network(c, specs)
  params = net.init(jax.random.PRNGKey(0), obs[0], jax.random.PRNGKey(1))
  quantiles, taus = net.apply(params, obs, jax.random.PRNGKey(2), 7)
  assert quantiles.shape == (5, 7, num_actions) and taus.shape == (5, 7)
  assert np.all((taus >= 0) & (taus <= 1))
  assert len(np.unique(np.asarray(taus))) == 35  # sampled per item
  quantiles, taus = net.apply(params, obs[0], jax.random.PRNGKey(2))
  assert quantiles.shape == (c.num_tau_act_samples, num_actions)
  fixed = jnp.linspace(0.05, 0.95, 4)
  q = net.apply(
      params, obs[0], fixed, method=iqn.ImplicitQuantileNetwork.quantiles
  )
  assert q.shape == (4, num_actions)
  # The network is a function of tau: the same tau gives the same quantile.
  q2 = net.apply(
      params, obs[0], fixed[::-1], method=iqn.ImplicitQuantileNetwork.quantiles
  )
  np.testing.assert_allclose(q, q2[::-1], rtol=1e-6)


def test_even_number_of_expectiles_is_refused():
  _, specs = _specs("catch")
  c = er_dqn_config.get_config("catch")
  c.num_expectiles = 30
  with pytest.raises(ValueError, match="odd"):
    er_dqn.make_network(c, specs)


def test_quantile_midpoints():
  np.testing.assert_allclose(
      distributional.midpoint_taus(4), [0.125, 0.375, 0.625, 0.875]
  )
  assert float(distributional.midpoint_taus(5)[2]) == 0.5


@pytest.mark.parametrize("agent", ["qr_dqn", "iqn", "er_dqn", "dqn"])
def test_learned_return_distribution_reads_every_agent(agent):
  import importlib  # pylint: disable=g-import-not-at-top
  from agents import registry  # pylint: disable=g-import-not-at-top

  c = importlib.import_module(f"configs.{agent}").get_config("gap")
  env, specs = _specs(c.env)
  agent_fns = registry.get_builder(agent)(c, specs, types.RunInfo(1, 1))
  state = agent_fns.init(jax.random.PRNGKey(0), specs)
  values, weights = return_distributions.learned_return_distribution(
      c, specs, state.params, return_distributions.start_observation(env)
  )
  expected = dict(
      qr_dqn=c.get("num_quantiles"),
      iqn=iqn.RETURN_DISTRIBUTION_TAUS,
      er_dqn=c.get("num_expectiles"),
      dqn=1,
  )[agent]
  assert values.shape == weights.shape == (expected,)
  assert np.all(np.diff(values) >= 0)
  np.testing.assert_allclose(weights.sum(), 1.0)


# DQN keys a distributional preset sets differently, each for a measured
# reason given in its config: IQN (N = 8) needs 600k steps on CartPole to
# hold on seeds 12 and 13.
_OWN_DQN_KEYS = {(iqn_config, "cartpole"): {"total_env_steps"}}


def test_distributional_configs_extend_dqn():
  for module in (qr_dqn_config, iqn_config, er_dqn_config):
    for preset in ("catch", "cartpole", "gap"):
      base, c = dqn_config.get_config(preset), module.get_config(preset)
      own = _OWN_DQN_KEYS.get((module, preset), set())
      for key in base:
        if key != "agent" and key not in own:
          assert c[key] == base[key], (module.__name__, preset, key)
      for key in own:  # the exceptions are real, not stale
        assert c[key] != base[key], (module.__name__, preset, key)


class QuantileQLearningTest(chex.TestCase):
  """QR-DQN's fast loss equals rlax.quantile_q_learning, value and gradient."""

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(0.0, 0.3, 1.0)
  def test_equals_rlax(self, huber_param):
    import rlax  # pylint: disable=g-import-not-at-top

    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    dist_q_tm1 = jax.random.normal(keys[0], (7, 3))
    taus = jax.random.uniform(keys[1], (7,))
    selector = jax.random.normal(keys[2], (5, 3))
    dist_q_t = jax.random.normal(keys[3], (9, 3))
    args = (
        taus,
        jnp.int32(2),
        jnp.float32(0.5),
        jnp.float32(0.9),
        selector,
        dist_q_t,
    )

    def ours(q):
      return distributional.quantile_q_learning(q, *args, huber_param)

    def reference(q):
      return rlax.quantile_q_learning(q, *args, huber_param)

    value, grad = self.variant(jax.value_and_grad(ours))(dist_q_tm1)
    ref_value, ref_grad = jax.value_and_grad(reference)(dist_q_tm1)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(grad)[:, :2] == 0)  # only the taken action

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(0.0, 1.0)
  def test_equals_rlax_with_ties(self, huber_param):
    """Exact ties u = T theta_j - theta_i = 0 and |u| = kappa (values on a
    1/2 grid, r = 0, discount = 1 so the targets are exact), repeated
    targets, and two actions with the same mean in the selector."""
    import rlax  # pylint: disable=g-import-not-at-top

    grid = lambda key, shape: jax.random.randint(key, shape, -4, 5) * 0.5
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    dist_q_t = grid(keys[0], (8, 3)).astype(jnp.float32)
    selector = jnp.stack(
        [dist_q_t[:, 1], dist_q_t[::-1, 1], dist_q_t[:, 2]], axis=1
    )  # actions 0 and 1 tie on the mean
    dist_q_tm1 = grid(keys[1], (6, 2)).astype(jnp.float32)
    # theta_i equal to a target (u = 0) and one kappa away from it (|u| = 1).
    dist_q_tm1 = dist_q_tm1.at[0, 1].set(dist_q_t[3, 0])
    dist_q_tm1 = dist_q_tm1.at[1, 1].set(dist_q_t[5, 0] + 1.0)
    dist_q_tm1 = dist_q_tm1.at[2, 1].set(dist_q_t[5, 0] - 1.0)
    taus = distributional.midpoint_taus(6)
    args = (
        taus,
        jnp.int32(1),
        jnp.float32(0.0),
        jnp.float32(1.0),
        selector,
        dist_q_t,
    )
    targets = np.asarray(dist_q_t[:, 0])
    u = targets[None, :] - np.asarray(dist_q_tm1[:, 1])[:, None]
    assert np.sum(u == 0) >= 2 and np.sum(np.abs(u) == 1) >= 2
    assert len(np.unique(targets)) < len(targets)

    def ours(q):
      return distributional.quantile_q_learning(q, *args, huber_param)

    def reference(q):
      return rlax.quantile_q_learning(q, *args, huber_param)

    value, grad = self.variant(jax.value_and_grad(ours))(dist_q_tm1)
    ref_value, ref_grad = jax.value_and_grad(reference)(dist_q_tm1)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-7)

  @parameterized.parameters(0.0, 1.0)
  def test_batch_equals_rlax_under_jit(self, huber_param):
    """The agent's shape (batch 64, N = 51 midpoints, vmapped), returns of
    a few units to ~50 (float32 sums over 51 targets), under jit."""
    import rlax  # pylint: disable=g-import-not-at-top

    batch, num, actions = 64, 51, 3
    keys = jax.random.split(jax.random.PRNGKey(2), 6)
    scale = jnp.geomspace(0.1, 50.0, batch)[:, None, None]
    dist_q_tm1 = jax.random.normal(keys[0], (batch, num, actions)) * scale
    dist_q_t = jax.random.normal(keys[1], (batch, num, actions)) * scale
    selector = jax.random.normal(keys[2], (batch, num, actions))
    a_tm1 = jax.random.randint(keys[3], (batch,), 0, actions)
    r_t = jax.random.normal(keys[4], (batch,))
    discount_t = jnp.where(
        jax.random.uniform(keys[5], (batch,)) < 0.2, 0.0, 0.99
    )
    taus = distributional.midpoint_taus(num)

    def total(per_transition):
      def fn(q):
        return jnp.sum(
            jax.vmap(per_transition, in_axes=(0, None, 0, 0, 0, 0, 0, None))(
                q, taus, a_tm1, r_t, discount_t, selector, dist_q_t, huber_param
            )
        )

      return jax.jit(jax.value_and_grad(fn))

    value, grad = total(distributional.quantile_q_learning)(dist_q_tm1)
    ref_value, ref_grad = total(rlax.quantile_q_learning)(dist_q_tm1)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters((1.0, 0.59375, 0.125), (0.0, 2.375 / 3, 0.25 / 3))
  def test_by_hand(self, huber_param, expected_loss, expected_grad):
    """theta = 0, tau = 1/4, targets (-2, 1/2, 3): u = (-2, 1/2, 3),
    weights |tau - 1{u<0}| = (3/4, 1/4, 1/4). kappa = 1: Huber (3/2, 1/8,
    5/2) -> loss (9/8 + 1/32 + 5/8) / 3 = 0.59375; slope -(1/3) (3/4 * -1 +
    1/4 * 1/2 + 1/4 * 1) = 1/8. kappa = 0: |u| -> (3/2 + 1/8 + 3/4) / 3;
    slope -(1/3) (-3/4 + 1/4 + 1/4) = 1/12 (the paper's eqs. 9-10)."""
    loss = functools.partial(
        distributional.quantile_regression_loss,
        tau_src=jnp.array([0.25]),
        dist_target=jnp.array([-2.0, 0.5, 3.0]),
        huber_param=huber_param,
    )
    value, grad = self.variant(jax.value_and_grad(lambda theta: loss(theta)))(
        jnp.array([0.0])
    )
    np.testing.assert_allclose(value, expected_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, [expected_grad], rtol=1e-6)

  def test_no_gradient_into_targets_or_taus(self):
    args = (
        jnp.array([0.1, 0.7]),
        jnp.array([0.25, 0.75]),
        jnp.array([-1.0, 0.3, 2.0]),
    )
    grads = jax.grad(distributional.quantile_regression_loss, argnums=(1, 2))(
        *args, 1.0
    )
    for g in grads:
      np.testing.assert_array_equal(g, 0.0)
