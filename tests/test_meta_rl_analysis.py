"""Meta-RL analyses against hand-made data, the compiled recording, and a
smoke run of scripts/reproduce_wang2018.py --quick."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import bandit_baselines
from agents import types
from agents.analysis import meta_rl
from environments import meta_rl_tasks
from environments import registry
from tests.conftest import run_script


def _scripted_agent(choose):
  """A stateless agent acting `choose(timestep, key)`; counts its steps."""

  def act(params, actor_state, timestep, key, evaluation=False):
    del params
    action = choose(timestep, key).astype(jnp.int32)
    return action, actor_state + 1, {}

  return types.Agent(
      name="scripted",
      init=lambda k, s: (),
      actor_params=lambda s: (),
      initial_actor_state=lambda key: jnp.zeros((), jnp.int32),
      act=act,
      learn=lambda s, t, k: (s, {}),
  )


# ---- recording --------------------------------------------------------------


def test_rollout_records_bandit_trials_and_regret():
  env = registry.make("bandit_independent", num_trials=7)
  agent = _scripted_agent(lambda ts, key: jnp.zeros((), jnp.int32))
  record = meta_rl.rollout(agent, env, (), jax.random.PRNGKey(0), 5)
  assert record.action.shape == (5, 7)
  np.testing.assert_array_equal(
      record.info["trial_index"], np.tile(np.arange(7), (5, 1))
  )
  p = record.info["arm_probabilities"]
  assert p.shape == (5, 7, 2)
  np.testing.assert_allclose(p, np.repeat(p[:, :1], 7, axis=1))  # stationary
  np.testing.assert_allclose(
      record.info["expected_regret"], p.max(-1) - p[..., 0], rtol=1e-6
  )
  # The observation is the trial index / num_trials, as the agent saw it.
  np.testing.assert_allclose(
      record.observation[..., 0], np.tile(np.arange(7) / 7, (5, 1)), rtol=1e-6
  )
  assert set(np.unique(record.reward)) <= {0.0, 1.0}
  mean, stderr = meta_rl.agent_regret(record)
  np.testing.assert_allclose(
      mean, np.cumsum(p.max(-1) - p[..., 0], axis=1).mean(0), rtol=1e-5
  )
  assert stderr.shape == (7,)
  # Same key, same episodes.
  again = meta_rl.rollout(agent, env, (), jax.random.PRNGKey(0), 5)
  np.testing.assert_array_equal(again.info["arm_probabilities"], p)


def test_rollout_on_harlow_marks_choices_and_correct_actions():
  env = registry.make("harlow_test", num_trials=4)
  agent = _scripted_agent(lambda ts, key: jax.random.bernoulli(key))
  record = meta_rl.rollout(agent, env, (), jax.random.PRNGKey(1), 50)
  assert record.action.shape == (50, 8)
  choice = record.info["is_choice_step"]
  np.testing.assert_array_equal(choice, np.tile([0, 1] * 4, (50, 1)))
  # Reward +1 exactly when the choice was correct.
  correct = record.action == record.info["correct_action"]
  np.testing.assert_array_equal(
      record.reward[choice.astype(bool)],
      np.where(correct, 1.0, -1.0)[choice.astype(bool)],
  )
  accuracy = meta_rl.harlow_accuracy_by_trial(record, 4)
  assert accuracy.shape == (4,) and np.all(np.abs(accuracy - 0.5) < 0.25)


def test_task_probabilities_of_a_restless_bandit_change_within_episodes():
  env = registry.make("restless_bandit", volatilities=(0.5,), num_trials=20)
  probs = meta_rl.task_probabilities(env, jax.random.PRNGKey(0), 10)
  assert probs.shape == (10, 20, 2)
  assert np.any(probs[:, 1:] != probs[:, :-1])


# ---- bandit numbers -------------------------------------------------------------


def test_chance_regret_by_hand():
  probs = np.array([[[0.2, 0.8]] * 3, [[0.5, 0.5]] * 3])  # [2, 3, 2]
  # Per trial: 0.8 - 0.5 = 0.3 and 0; mean over episodes 0.15 per trial.
  np.testing.assert_allclose(meta_rl.chance_regret(probs), [0.15, 0.3, 0.45])


def test_baselines_play_the_same_episodes_and_order_as_expected():
  probs = np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (400, 2)))
  per_trial = np.repeat(probs[:, None], 100, axis=1)
  curves = meta_rl.baseline_regrets(
      per_trial,
      jax.random.PRNGKey(1),
      rw_alphas=[0.1, 0.3],
      rw_betas=[5.0, 20.0],
  )
  assert set(curves) == {"thompson", "ucb1", "best_fixed_rw", "bayes_optimal"}
  final = {k: v["mean"][-1] for k, v in curves.items()}
  chance = meta_rl.chance_regret(per_trial)[-1]
  assert final["bayes_optimal"] < final["thompson"] < final["ucb1"] < chance
  assert curves["best_fixed_rw"]["alpha"] in (
      pytest.approx(0.1),
      pytest.approx(0.3),
  )


# ---- Harlow ---------------------------------------------------------------------


def test_accuracy_by_trial_by_hand():
  actions = np.array([[0, 1, 0, 1], [0, 0, 0, 0]])
  correct = np.array([[1, 1, 0, 1], [0, 0, 0, 1]])
  trial = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
  choice = np.array([[0, 1, 0, 1], [0, 1, 0, 1]])
  np.testing.assert_allclose(
      meta_rl.accuracy_by_trial(actions, correct, trial, choice, 2), [1.0, 0.5]
  )


# ---- two-step ---------------------------------------------------------------------


def _synthetic_two_step(model_based: bool, num_trials=4000, seed=0):
  """Stage-1 choices of a model-based or model-free chooser.

  Model-free: repeat a rewarded action (whatever the transition). Model-based:
  after a reward, go to the state that was reached: repeat after common, switch
  after rare; after no reward, the reverse. Both stay with probability 0.8 in
  the favoured direction.
  """
  rng = np.random.default_rng(seed)
  rewarded = rng.random(num_trials) < 0.5
  common = rng.random(num_trials) < 0.7
  if model_based:
    favour_stay = rewarded == common
  else:
    favour_stay = rewarded
  stay = np.where(
      favour_stay, rng.random(num_trials) < 0.8, rng.random(num_trials) < 0.2
  )
  return stay, rewarded, common


def test_stay_probabilities_by_hand():
  stay = np.array([1, 0, 1, 1, 0, 0, 1, 0], bool)
  rewarded = np.array([1, 1, 1, 0, 0, 0, 1, 0], bool)
  common = np.array([1, 1, 0, 1, 1, 0, 0, 0], bool)
  p = meta_rl.stay_probabilities(stay, rewarded, common)
  assert p == {
      "rewarded_common": 0.5,
      "rewarded_rare": 1.0,
      "unrewarded_common": 0.5,
      "unrewarded_rare": 0.0,
  }


def test_interaction_is_significant_for_model_based_only():
  mb = meta_rl.stay_regression(*_synthetic_two_step(True))
  mf = meta_rl.stay_regression(*_synthetic_two_step(False))
  assert mb["p_values"]["reward_x_transition"] < 1e-6
  assert mb["coefficients"]["reward_x_transition"] > 0.5
  assert mf["p_values"]["reward_x_transition"] > 0.01
  assert mf["p_values"]["reward"] < 1e-6
  assert mf["coefficients"]["reward"] > 0.5
  p_mb = meta_rl.stay_probabilities(*_synthetic_two_step(True))
  assert p_mb["rewarded_common"] > p_mb["rewarded_rare"]
  assert p_mb["unrewarded_rare"] > p_mb["unrewarded_common"]


def test_two_step_stays_from_a_recording():
  env = meta_rl_tasks.TwoStep(num_trials=30)
  agent = _scripted_agent(lambda ts, key: jnp.zeros((), jnp.int32))
  record = meta_rl.rollout(agent, env, (), jax.random.PRNGKey(0), 20)
  stays = meta_rl.two_step_stays(record)
  assert stays["stay"].shape == (20 * 29,)  # every trial after the first
  assert np.all(stays["stay"])  # always action 0: always a stay
  # The recorded previous trials agree with the episode log.
  trials = jax.vmap(meta_rl_tasks.trials_from_episode)(
      record.observation, record.action, record.reward
  )
  np.testing.assert_array_equal(
      stays["common"], np.asarray(trials.common)[:, :-1].reshape(-1)
  )
  np.testing.assert_array_equal(
      stays["rewarded"], np.asarray(trials.rewarded)[:, :-1].reshape(-1)
  )


# ---- restless -----------------------------------------------------------------------


def test_fitted_learning_rates_follow_the_generating_ones():
  env = registry.make("restless_bandit", volatilities=(0.02, 0.2))
  probs = meta_rl.task_probabilities(env, jax.random.PRNGKey(0), 200)
  slow = bandit_baselines.rescorla_wagner(
      probs[:100], 100, jax.random.PRNGKey(1), alpha=0.1, beta=8.0
  )
  fast = bandit_baselines.rescorla_wagner(
      probs[100:], 100, jax.random.PRNGKey(2), alpha=0.6, beta=8.0
  )
  choices = np.concatenate([slow.choices, fast.choices])
  rewards = np.concatenate([slow.rewards, fast.rewards])
  index = np.repeat([0, 1], 100)
  alphas = meta_rl.restless_learning_rates_from_data(
      choices, rewards, index, (0.02, 0.2)
  )
  assert alphas["0.02"] == pytest.approx(0.1, abs=0.06)
  assert alphas["0.2"] == pytest.approx(0.6, abs=0.2)


# ---- the reproduction script ---------------------------------------------------------


@pytest.mark.slow
def test_reproduce_wang2018_quick(tmp_path):
  # End to end on two tasks (the bandit regret and two-step stay paths); the
  # Harlow, restless and ablation analyses are unit-tested above, and each
  # extra task costs its own compiles (minutes on 2 CI cores).
  tasks = ["bandit_independent", "two_step"]
  proc = run_script(
      [
          "-m",
          "scripts.reproduce_wang2018",
          f"--workdir={tmp_path}",
          "--quick",
          f"--tasks={','.join(tasks)}",
      ],
      timeout=900,
  )
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  summary = json.loads((tmp_path / "summary.json").read_text())
  results = summary["tasks"]
  assert set(results) == set(tasks)
  independent = results["bandit_independent"]
  assert set(independent["regret"]) >= {
      "agent",
      "thompson",
      "ucb1",
      "best_fixed_rw",
      "bayes_optimal",
      "chance",
  }
  assert independent["training"]["env_steps_per_second"] > 0
  # Every seed's numbers, and mean +- sd over them.
  seeds = independent["seeds"]
  assert seeds == [0, 1] and len(independent["per_seed"]) == 2
  finals = [s["regret_at_trial_100"] for s in independent["per_seed"]]
  across = independent["across_seeds"]["regret_at_trial_100"]
  assert across["values"] == finals
  assert across["mean"] == pytest.approx(np.mean(finals))
  assert independent["regret"]["agent"]["per_seed"] == finals
  assert independent["regret"]["bayes_optimal"][
      "regret_at_trial_100"
  ] == pytest.approx(1.7482, abs=1e-4)
  for numbers in independent["per_seed"]:
    assert len(numbers["curve"]) == 100
    ttt = numbers["time_to_thompson"]
    assert ttt["history"] and set(ttt) >= {"stays_below", "first_dip"}
  rw = independent["regret"]["best_fixed_rw"]
  assert set(rw["grid"]) == {"alphas", "betas", "interior"}
  two_step = results["two_step"]
  for numbers in two_step["per_seed"]:
    assert set(numbers["stay_probabilities"]) == {
        "rewarded_common",
        "rewarded_rare",
        "unrewarded_common",
        "unrewarded_rare",
    }
    assert "interaction_log10_p" in numbers
    assert 0.0 <= numbers["hybrid_model"]["w"] <= 1.0
  assert len(two_step["across_seeds"]["hybrid_model"]["w"]["values"]) == 2
  assert (tmp_path / "regret_bandit_independent.png").stat().st_size > 0
  assert (tmp_path / "two_step_stay_probabilities.png").stat().st_size > 0
  for name in summary["figures"]:
    assert (tmp_path / name).stat().st_size > 1000
  # The printed benchmark table: one row per task and the time to Thompson.
  out = proc.stdout + proc.stderr
  assert "[wang2018] benchmark" in out
  table = out[out.index("[wang2018] benchmark") :]
  for task in tasks:
    assert f"\n{task} " in table
  assert "independent bandits, seed 0, to Thompson's regret" in table
  assert "budget for the default run: <= 45 min" in table
