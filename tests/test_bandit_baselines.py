"""Tests for agents/bandit_baselines.py: DP vs brute force, policy sanity."""

import functools
import itertools
import math
from fractions import Fraction

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import bandit_baselines as bb

# ---------------------------------------------------------------------------
# Brute-force references for the Bayes-optimal DP (exact rational arithmetic).
# ---------------------------------------------------------------------------


def _brute_force_action_values(s0, f0, s1, f1, remaining):
  """Exact Q of both arms by recursion over every future history (no table)."""
  counts = [[s0, f0], [s1, f1]]
  action_values = []
  for arm in range(2):
    successes, failures = counts[arm]
    mean = Fraction(successes + 1, successes + failures + 2)
    after_success = [list(c) for c in counts]
    after_success[arm][0] += 1
    after_failure = [list(c) for c in counts]
    after_failure[arm][1] += 1
    action_values.append(
        mean
        * (
            1
            + _brute_force_value(
                *after_success[0], *after_success[1], remaining - 1
            )
        )
        + (1 - mean)
        * _brute_force_value(
            *after_failure[0], *after_failure[1], remaining - 1
        )
    )
  return action_values


@functools.lru_cache(maxsize=None)
def _brute_force_value(s0, f0, s1, f1, remaining):
  if remaining == 0:
    return Fraction(0)
  return max(_brute_force_action_values(s0, f0, s1, f1, remaining))


def _beta_function(a, b):
  """B(a, b) for positive integers, exactly."""
  return Fraction(
      math.factorial(a - 1) * math.factorial(b - 1), math.factorial(a + b - 1)
  )


def _table_policy_value_by_enumeration(table, tie_arm):
  """Expected total reward of the table's policy, summed over all histories.

  The prior probability of an outcome history with counts (s0, f0, s1, f1) is
  B(s0+1, f0+1) B(s1+1, f1+1) under independent uniform arms.
  """
  horizon = table.horizon
  total_probability = Fraction(0)
  expected_reward = Fraction(0)

  def recurse(counts, trial):
    nonlocal total_probability, expected_reward
    if trial == horizon:
      probability = _beta_function(
          counts[0] + 1, counts[1] + 1
      ) * _beta_function(counts[2] + 1, counts[3] + 1)
      total_probability += probability
      expected_reward += probability * (counts[0] + counts[2])
      return
    arm = table.action(*counts)
    arm = tie_arm if arm == bb.TIE else arm
    for success in (1, 0):
      new_counts = list(counts)
      new_counts[2 * arm + (1 - success)] += 1
      recurse(tuple(new_counts), trial + 1)

  recurse((0, 0, 0, 0), 0)
  return expected_reward, total_probability


# Most tests share these shapes so that each policy compiles few times.
_NUM_EPISODES, _HORIZON = 200, 100


def _prior_probs(key, num_episodes=_NUM_EPISODES):
  return jax.random.uniform(key, (num_episodes, 2))


# ---------------------------------------------------------------------------
# Bayes-optimal DP.
# ---------------------------------------------------------------------------


def test_bayes_optimal_hand_computed_values():
  # H=1: pull either arm, 1/2. H=2: 1/2 + 1/2 * 2/3 (stay after a success)
  # + 1/2 * 1/2 (switch after a failure) = 13/12.
  assert bb.bayes_optimal_expected_reward(1) == pytest.approx(0.5, abs=1e-15)
  assert bb.bayes_optimal_expected_reward(2) == pytest.approx(
      13 / 12, abs=1e-15
  )


@pytest.mark.parametrize("horizon", range(1, 7))
def test_dp_root_equals_brute_force(horizon):
  exact = _brute_force_value(0, 0, 0, 0, horizon)
  assert abs(bb.bayes_optimal_expected_reward(horizon) - float(exact)) < 1e-12


def _discounted_brute_force_value(counts, remaining, discount):
  """max_a [p_a + discount * E V'] by recursion over every future history."""
  if remaining == 0:
    return Fraction(0)
  values = []
  for arm in range(2):
    successes, failures = counts[2 * arm], counts[2 * arm + 1]
    mean = Fraction(successes + 1, successes + failures + 2)
    after_success, after_failure = list(counts), list(counts)
    after_success[2 * arm] += 1
    after_failure[2 * arm + 1] += 1
    values.append(
        mean
        + discount
        * (
            mean
            * _discounted_brute_force_value(
                after_success, remaining - 1, discount
            )
            + (1 - mean)
            * _discounted_brute_force_value(
                after_failure, remaining - 1, discount
            )
        )
    )
  return max(values)


@pytest.mark.parametrize("discount", [Fraction(1, 2), Fraction(9, 10)])
def test_discounted_dp_root_equals_brute_force(discount):
  horizon = 6
  exact = _discounted_brute_force_value([0, 0, 0, 0], horizon, discount)
  table = bb.build_bayes_optimal_table(horizon, float(discount))
  assert abs(table.root_value - float(exact)) < 1e-12
  # Discounting lowers the value below the undiscounted optimum.
  assert table.root_value < bb.bayes_optimal_expected_reward(horizon) - 0.1


def test_discounted_optimum_explores_less_and_regrets_more():
  # The optimum of a discounted objective, scored by undiscounted regret at
  # H = 100 (values from an independent dynamic program): what a perfect
  # gamma-discounted learner would reach (configs/meta_a2c.py's gamma).
  regrets = {
      discount: bb.bayes_optimal_regret_curve(100, discount)[-1]
      for discount in (1.0, 0.95, 0.9)
  }
  assert regrets[1.0] == pytest.approx(1.7482, abs=5e-5)
  assert regrets[0.95] == pytest.approx(1.8497, abs=5e-5)
  assert regrets[0.9] == pytest.approx(1.9802, abs=5e-5)
  with pytest.raises(ValueError, match="discount"):
    bb.build_bayes_optimal_table(5, 0.0)


@pytest.mark.parametrize("horizon", range(1, 7))
def test_table_policy_achieves_the_optimum_over_all_histories(horizon):
  table = bb.build_bayes_optimal_table(horizon)
  exact = _brute_force_value(0, 0, 0, 0, horizon)
  for tie_arm in (0, 1):
    value, total_probability = _table_policy_value_by_enumeration(
        table, tie_arm
    )
    assert total_probability == 1
    assert value == exact


def test_table_actions_are_the_bellman_argmax_at_every_state():
  horizon = 6
  table = bb.build_bayes_optimal_table(horizon)
  assert table.actions.size == math.comb(horizon + 3, 4)
  seen_indices = set()
  for trial in range(horizon):
    for counts in itertools.product(range(trial + 1), repeat=4):
      if sum(counts) != trial:
        continue
      seen_indices.add(table.state_index(*counts))
      q_0, q_1 = _brute_force_action_values(*counts, horizon - trial)
      expected = bb.TIE if q_0 == q_1 else int(q_1 > q_0)
      assert table.action(*counts) == expected, counts
  # The flat layout is a bijection between states and table entries.
  assert seen_indices == set(range(table.actions.size))


@pytest.fixture(scope="module")
def bayes_optimal_h6():
  horizon, num_episodes = 6, 20_000
  probs = _prior_probs(jax.random.PRNGKey(0), num_episodes)
  rollout = bb.bayes_optimal(probs, horizon, jax.random.PRNGKey(1))
  return probs, rollout


def test_played_policy_follows_the_table(bayes_optimal_h6):
  _, rollout = bayes_optimal_h6
  table = bb.build_bayes_optimal_table(6)
  choices = np.asarray(rollout.choices[:300])
  rewards = np.asarray(rollout.rewards[:300])
  for episode_choices, episode_rewards in zip(choices, rewards):
    counts = [0, 0, 0, 0]
    for arm, reward in zip(episode_choices, episode_rewards):
      action = table.action(*counts)
      assert action == bb.TIE or action == arm
      counts[2 * arm + (1 - int(reward))] += 1
  # The root is a tie, broken at random.
  assert 0.45 < np.mean(rollout.choices[:, 0]) < 0.55


def test_played_regret_matches_dp_expected_regret(bayes_optimal_h6):
  horizon = 6
  _, rollout = bayes_optimal_h6
  mean, stderr = bb.cumulative_regret(rollout.expected_regret)
  expected = 2 * horizon / 3 - bb.bayes_optimal_expected_reward(horizon)
  assert abs(float(mean[-1]) - expected) < 4 * float(stderr[-1])


@pytest.mark.slow
def test_dp_expected_reward_beats_thompson_and_ucb():
  horizon, num_episodes = 20, 20_000
  probs = _prior_probs(jax.random.PRNGKey(2), num_episodes)
  optimum = bb.bayes_optimal_expected_reward(horizon)
  for policy in (bb.thompson_sampling, bb.ucb1):
    rollout = policy(probs, horizon, jax.random.PRNGKey(3))
    chosen_probs = np.asarray(
        jnp.max(probs, axis=-1)[:, None] - rollout.expected_regret
    )
    total = chosen_probs.sum(axis=1)
    estimate = total.mean()
    stderr = total.std(ddof=1) / np.sqrt(num_episodes)
    assert optimum >= estimate - 3 * stderr, (policy.__name__, estimate)


# ---------------------------------------------------------------------------
# Thompson sampling and UCB1.
# ---------------------------------------------------------------------------

_EASY = jnp.tile(jnp.array([[0.1, 0.9]]), (_NUM_EPISODES, 1))


@pytest.mark.parametrize("policy", [bb.thompson_sampling, bb.ucb1])
def test_easy_bandit_regret_is_sublinear_and_best_arm_wins(policy):
  rollout = policy(_EASY, _HORIZON, jax.random.PRNGKey(0))
  mean, _ = bb.cumulative_regret(rollout.expected_regret)
  first_half, second_half = float(mean[49]), float(mean[99] - mean[49])
  assert second_half < 0.5 * first_half
  best_arm_late = float(jnp.mean(rollout.choices[:, -20:] == 1))
  best_arm_early = float(jnp.mean(rollout.choices[:, :10] == 1))
  assert best_arm_late > 0.9
  assert best_arm_late > best_arm_early


def test_ucb_plays_each_arm_once_first():
  num_arms, num_episodes = 3, 100
  probs = jax.random.uniform(jax.random.PRNGKey(0), (num_episodes, num_arms))
  rollout = bb.ucb1(probs, 10, jax.random.PRNGKey(1))
  first = np.asarray(rollout.choices[:, :num_arms])
  np.testing.assert_array_equal(
      np.sort(first, axis=1), np.tile(np.arange(num_arms), (num_episodes, 1))
  )
  # Which untried arm goes first is random.
  assert len(np.unique(first[:, 0])) == num_arms


def test_discounted_thompson_tracks_a_switch_better():
  horizon, num_episodes = _HORIZON, _NUM_EPISODES
  probs = np.zeros((num_episodes, horizon, 2), np.float32)
  probs[:, :50] = [0.9, 0.1]
  probs[:, 50:] = [0.1, 0.9]
  key = jax.random.PRNGKey(0)
  stationary = bb.thompson_sampling(probs, horizon, key)
  forgetful = bb.thompson_sampling(probs, horizon, key, decay=0.9)
  after_switch = lambda r: float(jnp.mean(r.expected_regret[:, 50:].sum(1)))
  assert after_switch(forgetful) < 0.5 * after_switch(stationary)


# ---------------------------------------------------------------------------
# Rescorla-Wagner.
# ---------------------------------------------------------------------------


class RescorlaWagnerValuesTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_delta_rule_hand_computed(self):
    values_fn = self.variant(bb.rescorla_wagner_values, static_argnums=(3,))
    values = values_fn(
        jnp.array([0, 0, 1, 0]), jnp.array([1.0, 1.0, 0.0, 0.0]), 0.5, 2
    )
    expected = [[0.5, 0.5], [0.75, 0.5], [0.875, 0.5], [0.875, 0.25]]
    np.testing.assert_allclose(values, expected, atol=1e-7)

  @chex.variants(with_jit=True, without_jit=True)
  def test_alpha_zero_never_changes_values(self):
    values_fn = self.variant(bb.rescorla_wagner_values, static_argnums=(3,))
    key_choices, key_rewards = jax.random.split(jax.random.PRNGKey(0))
    choices = jax.random.randint(key_choices, (4, 30), 0, 3)
    rewards = jax.random.bernoulli(key_rewards, 0.5, (4, 30))
    rewards = rewards.astype(jnp.float32)
    values = values_fn(choices, rewards, 0.0, 3)
    chex.assert_shape(values, (4, 30, 3))
    np.testing.assert_array_equal(values, 0.5)


def test_alpha_zero_softmax_plays_at_chance():
  rollout = bb.rescorla_wagner(
      _EASY, _HORIZON, jax.random.PRNGKey(0), 0.0, beta=10.0
  )
  assert abs(float(jnp.mean(rollout.choices)) - 0.5) < 0.02
  assert abs(float(jnp.mean(rollout.expected_regret)) - 0.4) < 0.02


def test_epsilon_greedy_extremes():
  key = jax.random.PRNGKey(0)
  explorer = bb.rescorla_wagner(_EASY, _HORIZON, key, 0.3, epsilon=1.0)
  assert abs(float(jnp.mean(explorer.choices)) - 0.5) < 0.02
  greedy = bb.rescorla_wagner(_EASY, _HORIZON, key, 0.3, epsilon=0.0)
  assert float(jnp.mean(greedy.choices[:, -20:] == 1)) > 0.9


def test_fit_rescorla_wagner_recovers_planted_parameters():
  num_episodes, beta = 50, 5.0  # 50 episodes of 100 trials are fitted.
  fitted = {}
  for seed, alpha in enumerate((0.1, 0.5)):
    probs = _prior_probs(jax.random.PRNGKey(10 + seed))
    rollout = bb.rescorla_wagner(
        probs, _HORIZON, jax.random.PRNGKey(20 + seed), alpha, beta=beta
    )
    choices = rollout.choices[:num_episodes]
    rewards = rollout.rewards[:num_episodes]
    fit = bb.fit_rescorla_wagner(choices, rewards, 2)
    assert abs(fit.alpha - alpha) < 0.06, (alpha, fit)
    assert abs(fit.beta - beta) < 0.25 * beta, (beta, fit)
    truth_nll = float(
        bb._rescorla_wagner_nll(alpha, beta, choices, rewards, 2, 0.5)
    )
    assert fit.negative_log_likelihood <= truth_nll + 1e-3
    fitted[alpha] = fit.alpha
  assert fitted[0.1] + 0.2 < fitted[0.5]


def test_fit_rescorla_wagner_single_episode_and_bad_input():
  choices = np.array([0, 1, 1, 0, 1, 1, 1, 0])
  rewards = np.array([0, 1, 1, 0, 1, 0, 1, 1])
  fit = bb.fit_rescorla_wagner(choices, rewards, 2)
  assert 0.0 <= fit.alpha <= 1.0 and fit.beta >= 0.0
  assert np.isfinite(fit.negative_log_likelihood)
  with pytest.raises(ValueError):
    bb.fit_rescorla_wagner(choices, rewards, 1)


def test_best_fixed_rescorla_wagner_is_the_grid_minimum():
  probs = _prior_probs(jax.random.PRNGKey(0))
  alphas, betas = jnp.array([0.0, 0.1, 0.5]), jnp.array([1.0, 10.0])
  best = bb.best_fixed_rescorla_wagner(
      probs, _HORIZON, alphas, betas, jax.random.PRNGKey(1)
  )
  chex.assert_shape(best.mean_total_regret, (3, 2))
  chex.assert_shape(
      [best.cumulative_regret, best.cumulative_regret_stderr], (_HORIZON,)
  )
  i, j = np.unravel_index(np.argmin(best.mean_total_regret), (3, 2))
  assert float(best.alpha) == float(alphas[i])
  assert float(best.beta) == float(betas[j])
  np.testing.assert_allclose(
      best.cumulative_regret[-1], best.mean_total_regret[i, j], rtol=1e-5
  )
  # A learner beats one that never learns.
  assert float(best.alpha) > 0.0


# ---------------------------------------------------------------------------
# Shared interface: shapes, determinism, common random numbers, restless probs.
# ---------------------------------------------------------------------------

_POLICIES = {
    "thompson": bb.thompson_sampling,
    "thompson_decay": functools.partial(bb.thompson_sampling, decay=0.9),
    "ucb1": bb.ucb1,
    "rw_softmax": functools.partial(bb.rescorla_wagner, alpha=0.2, beta=5.0),
    "rw_epsilon": functools.partial(bb.rescorla_wagner, alpha=0.2, epsilon=0.1),
    "bayes_optimal": bb.bayes_optimal,
}


@pytest.mark.parametrize("name", sorted(_POLICIES))
def test_shapes_and_determinism(name):
  policy = _POLICIES[name]
  num_episodes, horizon = _NUM_EPISODES, _HORIZON
  probs = _prior_probs(jax.random.PRNGKey(0))
  rollout = policy(probs, horizon, jax.random.PRNGKey(1))
  again = policy(probs, horizon, jax.random.PRNGKey(1))
  other = policy(probs, horizon, jax.random.PRNGKey(2))
  chex.assert_shape(list(rollout), (num_episodes, horizon))
  chex.assert_type(
      [rollout.choices, rollout.rewards, rollout.expected_regret],
      [jnp.int32, jnp.float32, jnp.float32],
  )
  chex.assert_trees_all_equal(rollout, again)
  assert not np.array_equal(rollout.choices, other.choices)
  assert set(np.unique(rollout.rewards)) <= {0.0, 1.0}
  assert float(jnp.min(rollout.expected_regret)) >= 0.0


def test_same_key_gives_same_outcomes_to_every_policy():
  probs = _prior_probs(jax.random.PRNGKey(0))
  key = jax.random.PRNGKey(1)
  a = bb.thompson_sampling(probs, _HORIZON, key)
  b = bb.ucb1(probs, _HORIZON, key)
  same_arm = np.asarray(a.choices == b.choices)
  assert same_arm.mean() > 0.3
  np.testing.assert_array_equal(
      np.asarray(a.rewards)[same_arm], np.asarray(b.rewards)[same_arm]
  )


@pytest.mark.parametrize(
    "name", ["thompson", "ucb1", "rw_softmax", "bayes_optimal"]
)
def test_time_varying_probs_regret_is_per_trial(name):
  num_episodes, horizon = _NUM_EPISODES, _HORIZON
  probs = np.asarray(
      jax.random.uniform(jax.random.PRNGKey(0), (num_episodes, horizon, 2))
  )
  rollout = _POLICIES[name](probs, horizon, jax.random.PRNGKey(1))
  chex.assert_shape(list(rollout), (num_episodes, horizon))
  choices = np.asarray(rollout.choices)
  chosen = np.take_along_axis(probs, choices[..., None], axis=-1)[..., 0]
  np.testing.assert_allclose(
      rollout.expected_regret, probs.max(-1) - chosen, atol=1e-7
  )


def test_cumulative_regret_hand_computed():
  mean, stderr = bb.cumulative_regret(
      jnp.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
  )
  np.testing.assert_allclose(mean, [0.5, 0.5, 1.5])
  np.testing.assert_allclose(stderr, [0.5, 0.5, 0.5], rtol=1e-6)


def test_bad_input_is_rejected():
  probs = _prior_probs(jax.random.PRNGKey(0), 4)
  key = jax.random.PRNGKey(1)
  with pytest.raises(ValueError):
    bb.thompson_sampling(jnp.zeros((4, 7, 2)), 20, key)  # 7 trials != 20.
  with pytest.raises(ValueError):
    bb.bayes_optimal(jnp.zeros((4, 3)), 5, key)  # Three arms.
  with pytest.raises(ValueError):
    bb.bayes_optimal(probs, 5, key, bb.build_bayes_optimal_table(4))
  with pytest.raises(ValueError):
    bb.rescorla_wagner(probs, 5, key, 0.1, beta=1.0, epsilon=0.1)
  with pytest.raises(ValueError):
    bb.rescorla_wagner(probs, 5, key, 0.1)
