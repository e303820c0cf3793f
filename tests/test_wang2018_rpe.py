"""Tests of agents/analysis/wang2018_rpe.py (Wang et al. 2018 Figs. 4, 5):
TD errors against hand computations (also through a recorded rollout), the
reversal contrasts of an ideal inferrer and of TD(0), and Daw et al.'s
model-based / model-free RPEs by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import types
from agents.analysis import meta_rl
from agents.analysis import wang2018_rpe as rpe
from agents.lib import recurrent
from environments import registry


def test_td_errors_by_hand():
  values = np.array([[1.0, 2.0, 0.5]])
  rewards = np.array([[0.0, 1.0, 2.0]])
  # 0 + .5*2 - 1 = 0; 1 + .5*.5 - 2 = -0.75; terminal: 2 - .5 = 1.5.
  np.testing.assert_allclose(
      rpe.td_errors(values, rewards, 0.5), [[0.0, -0.75, 1.5]]
  )


def _value_agent():
  """Acts 0; its 'value' is 10 x the observation's argmax + the reward it
  sees, so each recorded V_t is known from what the agent saw."""

  def act(params, actor_state, timestep, key, evaluation=False):
    del params, key, evaluation
    value = 10.0 * jnp.argmax(timestep.observation) + timestep.reward
    return (
        jnp.zeros((), jnp.int32),
        actor_state,
        dict(value=value.astype(jnp.float32)),
    )

  return types.Agent(
      name="value",
      init=lambda k, s: (),
      actor_params=lambda s: (),
      initial_actor_state=lambda key: recurrent.initial_actor_state(2, 2),
      act=act,
      learn=lambda s, t, k: (s, {}),
  )


def test_recorded_values_give_the_hand_computed_td_errors():
  env = registry.make("reversal", num_trials=5)
  record = meta_rl.rollout(
      _value_agent(), env, (), jax.random.PRNGKey(0), 3, record_activity=True
  )
  obs = np.asarray(record.observation)
  # V_t from what the agent saw: the reward it sees at t is r_{t-1}.
  seen_reward = np.concatenate(
      [np.zeros((3, 1)), np.asarray(record.reward)[:, :-1]], 1
  )
  v = 10.0 * obs.argmax(-1) + seen_reward
  np.testing.assert_allclose(record.activity["value"], v)
  gamma = 0.9
  delta = rpe.td_errors(record.activity["value"], record.reward, gamma)
  for n in range(3):
    for t in range(10):
      following = gamma * v[n, t + 1] if t < 9 else 0.0
      expected = record.reward[n, t] + following - v[n, t]
      assert delta[n, t] == pytest.approx(expected, abs=1e-5)
  trials = rpe.reversal_trials(record, gamma)
  np.testing.assert_allclose(trials["onset_rpe"], delta[:, 0::2])
  np.testing.assert_array_equal(
      trials["shown"], obs[:, 1::2].argmax(-1) - 1  # target one-hot
  )


def _ideal_and_td0_trials(seed=0, n=300, trials=40):
  """Reversal trials with an ideal inferrer's values (it knows the rule:
  the last outcome tells which target is rewarded)."""
  rng = np.random.default_rng(seed)
  rewarded = np.zeros((n, trials), int)
  rewarded[:, 0] = rng.integers(0, 2, n)
  for j in range(1, trials):
    flip = rng.random(n) < 0.15
    rewarded[:, j] = np.where(flip, 1 - rewarded[:, j - 1], rewarded[:, j - 1])
  shown = rng.integers(0, 2, (n, trials))
  outcome = (shown == rewarded).astype(float)
  belief = np.zeros((n, trials), int)  # the target believed rewarded
  belief[:, 0] = 0
  for j in range(1, trials):
    belief[:, j] = np.where(
        outcome[:, j - 1] > 0, shown[:, j - 1], 1 - shown[:, j - 1]
    )
  value = (shown == belief).astype(float)
  return dict(
      shown=shown, rewarded=rewarded, outcome=outcome, onset_value=value
  )


def test_an_ideal_inferrer_has_index_one_and_td0_minus_one():
  trials = _ideal_and_td0_trials()
  ideal = rpe.reversal_effects(trials, "onset_value")
  # Trial 1 (before any evidence) follows the old values; trial 2, seen
  # or not, the new ones.
  assert ideal["trial_1"]["effect"] == pytest.approx(-1.0)
  assert ideal["trial_2_experienced"]["effect"] == pytest.approx(1.0)
  assert ideal["trial_2_inferred"]["effect"] == pytest.approx(1.0)
  assert ideal["inference_index"] == pytest.approx(1.0)
  # gamma 0: a value is the predicted outcome alone (no later trials).
  model = rpe.td0_reversal(trials["shown"], trials["outcome"], 1.0, 0.0)
  model.update(shown=trials["shown"], rewarded=trials["rewarded"])
  td0 = rpe.reversal_effects(model, "onset_value")
  # alpha = 1: a seen target's value is its last outcome; an unseen one
  # keeps the old value (the opposite of its new one, unless it was last
  # seen before an earlier reversal or never).
  assert td0["trial_2_experienced"]["effect"] == pytest.approx(1.0)
  assert td0["trial_2_inferred"]["effect"] < -0.85
  assert td0["inference_index"] < -0.85


def test_td0_reversal_by_hand():
  shown = np.array([[0, 0, 1]])
  outcome = np.array([[1.0, 0.0, 1.0]])
  out = rpe.td0_reversal(shown, outcome, alpha=0.5, gamma=1.0)
  # Trial 0: onset 1*0 - 0 = 0; outcome delta 1 + V(fix)=0 - 0 = 1 -> V0 .5
  # Trial 1: onset .5 - 0 = .5 -> V(fix) .25; outcome 0 + .25 - .5 = -.25
  #          -> V0 .375
  # Trial 2: onset V1 = 0: 0 - .25 = -.25 -> V(fix) .125; outcome (last)
  #          1 - 0 = 1.
  np.testing.assert_allclose(out["onset_value"], [[0.0, 0.5, 0.0]])
  np.testing.assert_allclose(out["onset_rpe"], [[0.0, 0.5, -0.25]])
  np.testing.assert_allclose(out["outcome_rpe"], [[1.0, -0.25, 1.0]])


def test_reversal_events_need_a_settled_block_and_two_new_trials():
  rewarded = np.array([[0, 0, 0, 1, 1, 0, 0, 0, 0, 1]])
  episode, start = rpe.reversal_events(rewarded, min_block=3)
  # Trial 3 (after 3 of 0, then 1, 1) counts; trial 5 follows a block of 2;
  # trial 9 has no second trial.
  np.testing.assert_array_equal(start, [3])
  np.testing.assert_array_equal(episode, [0])


def test_two_step_model_rpes_by_hand():
  action1 = np.array([[0, 0]])
  state2 = np.array([[1, 0]])  # rare, then common
  rewarded = np.array([[1, 0]])
  out = rpe.two_step_model_rpes(action1, state2, rewarded, alpha=0.5)
  # Trial 0: Q2 = (.5, .5), Q_MF = (.5, .5): both onset RPEs 0.
  #   Q_MF(0) += .5 * 0; delta2 = 1 - .5 = .5; Q2(B) = .75;
  #   Q_MF(0) += .5 * .5 -> .75.
  # Trial 1 (to A): MF onset .5 - .75 = -.25;
  #   MB: Q_MB(0) = .8 * .5 + .2 * .75 = .55, onset .5 - .55 = -.05.
  np.testing.assert_allclose(out["onset_mf"], [[0.0, -0.25]])
  np.testing.assert_allclose(out["onset_mb"], [[0.0, -0.05]])
  np.testing.assert_allclose(out["outcome"], [[0.5, -0.5]])


def test_rpe_regression_recovers_the_generating_weights():
  rng = np.random.default_rng(0)
  mb = rng.normal(size=5000)
  mf = 0.6 * mb + 0.8 * rng.normal(size=5000)  # correlated, as in the task
  y = 2.0 * mb + 0.1 * rng.normal(size=5000)
  out = rpe.rpe_regression(y, dict(model_based=mb, model_free=mf))
  assert out["weights"]["model_based"] == pytest.approx(2.0 * mb.std(), 0.02)
  assert abs(out["weights"]["model_free"]) < 0.01
  assert out["r2_alone"]["model_based"] > out["r2_alone"]["model_free"]
