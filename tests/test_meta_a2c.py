"""Meta-RL A2C: core-state resets in the loop, learn's unroll == act, frozen
evaluation, and short training runs that beat chance."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import meta_a2c
from agents import types
from agents.analysis import meta_rl
from agents.runtime import anakin
from agents.runtime import evaluation
from agents.runtime import train
from configs import meta_a2c as meta_config
from environments import registry


def _small_config(preset="bandit_independent", **overrides):
  c = meta_config.get_config(preset)
  c.lstm_size = 8
  c.num_envs = 4
  c.update(overrides)
  return c


def _specs(env):
  return types.EnvSpecs(env.observation_spec(), env.action_spec())


def _capturing(agent):
  """The agent with `learn` also returning the trajectory and params it saw."""
  def learn(state, trajectory, key):
    new_state, metrics = agent.learn(state, trajectory, key)
    return new_state, dict(metrics, trajectory=trajectory,
                           params=state.params)
  return dataclasses.replace(agent, learn=learn)


def _loop_chunks(config, env, num_iterations):
  """Runs the loop's iteration (one device, one seed) and returns, per
  iteration, (params used to act, trajectory)."""
  agent, unroll = meta_a2c.make_agent_and_unroll(config, _specs(env))
  loop = anakin.AnakinLoop(agent=_capturing(agent), env=env,
                           num_envs=config.num_envs,
                           rollout_length=config.rollout_length,
                           iterations_per_segment=1,
                           mesh=anakin.make_mesh(1))
  state = jax.tree.map(lambda x: x[0], loop.init([0]))  # [seed=1, ...]
  iterate = jax.jit(jax.vmap(loop._iteration, in_axes=(0, None),  # pylint: disable=protected-access
                             axis_name=types.DEVICE_AXIS))
  chunks = []
  for _ in range(num_iterations):
    state, (metrics, _) = iterate(state, None)
    squeeze = lambda x: x[0]
    chunks.append((jax.tree.map(squeeze, metrics["params"]),
                   jax.tree.map(squeeze, metrics["trajectory"])))
  return agent, unroll, chunks


def test_entropy_coefficient_anneals_linearly():
  c = _small_config(entropy_start=0.1, entropy_end=0.02,
                    total_env_steps=1000, entropy_anneal_env_steps=0)
  coef = lambda n: float(meta_a2c.entropy_coefficient(c, jnp.asarray(n)))
  assert coef(0) == pytest.approx(0.1)
  assert coef(500) == pytest.approx(0.06)
  assert coef(1000) == pytest.approx(0.02)
  assert coef(5000) == pytest.approx(0.02)


def test_core_state_resets_at_first_inside_the_loop():
  # 3-trial bandit episodes (4 env steps per episode in the loop) cut into
  # chunks of 5 steps, so episodes start anywhere in a chunk.
  c = _small_config(rollout_length=5)
  env = registry.make(c.env, num_trials=3)
  agent, _, chunks = _loop_chunks(c, env, 4)
  initial = agent.initial_actor_state()
  act = jax.vmap(jax.vmap(lambda p, s, ts: agent.act(p, s, ts,
                                                     jax.random.PRNGKey(0))[2],
                          in_axes=(None, None, 0)), in_axes=(None, None, 0))
  num_firsts = num_not_first = 0
  for params, trajectory in chunks:
    steps = jax.tree.map(lambda x: x[:-1], trajectory.timestep)  # acted on
    from_initial = act(params, initial, steps)
    first = np.asarray(steps.first())
    # Acting on FIRST, the agent's output is that of the initial state ...
    np.testing.assert_allclose(np.asarray(trajectory.extras["logits"])[first],
                               np.asarray(from_initial["logits"])[first],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(trajectory.extras["value"])[first],
                               np.asarray(from_initial["value"])[first],
                               rtol=1e-5, atol=1e-6)
    # ... and elsewhere it depends on the carried core state.
    differs = np.abs(np.asarray(trajectory.extras["value"])
                     - np.asarray(from_initial["value"])) > 1e-7
    assert np.all(differs[~first & ~np.asarray(steps.last())])
    num_firsts += first.sum()
    num_not_first += (~first).sum()
  assert num_firsts >= 8 and num_not_first >= 8


def test_reset_at_first_zeroes_core_and_previous_action():
  c = _small_config()
  env = registry.make(c.env)
  agent = meta_a2c.make_agent(c, _specs(env))
  params = agent.init(jax.random.PRNGKey(0), _specs(env)).params
  _, timestep = env.reset(jax.random.PRNGKey(1))
  dirty = jax.tree.map(lambda x: jnp.ones_like(x) * 3.0,
                       agent.initial_actor_state())
  key = jax.random.PRNGKey(2)
  out_dirty = agent.act(params, dirty, timestep, key)
  out_clean = agent.act(params, agent.initial_actor_state(), timestep, key)
  jax.tree.map(np.testing.assert_array_equal, out_dirty, out_clean)
  mid = timestep.replace(step_type=jnp.asarray(1, jnp.int32))
  assert not np.allclose(agent.act(params, dirty, mid, key)[2]["logits"],
                         out_clean[2]["logits"])


@pytest.mark.parametrize("rollout_length", [4, 5, 9])
def test_learn_unroll_matches_act_step_by_step(rollout_length):
  # Chunks aligned with episodes (5) and not (4, 9): the unroll starts from
  # trajectory.actor_state and resets at FIRST exactly as act does.
  c = _small_config(rollout_length=rollout_length)
  env = registry.make(c.env, num_trials=4)
  _, unroll, chunks = _loop_chunks(c, env, 3)
  for params, trajectory in chunks:
    logits, values = unroll(params, trajectory)
    assert logits.shape == (rollout_length + 1, c.num_envs, 2)
    np.testing.assert_allclose(logits[:-1], trajectory.extras["logits"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values[:-1], trajectory.extras["value"],
                               rtol=1e-5, atol=1e-6)


def test_learn_gradient_flows_through_the_whole_chunk():
  c = _small_config(rollout_length=5)
  env = registry.make(c.env, num_trials=4)
  _, unroll, chunks = _loop_chunks(c, env, 1)
  params, trajectory = chunks[0]
  # The value at the LAST decision depends on the reward input of step 1.
  def last_value(reward_1):
    ts = trajectory.timestep
    reward = ts.reward.at[1].set(reward_1)
    t = trajectory.replace(timestep=ts.replace(reward=reward))
    return jnp.sum(unroll(params, t)[1][3])
  grad = jax.grad(last_value)(trajectory.timestep.reward[1])
  assert np.all(np.abs(np.asarray(grad)) > 0)


def test_frozen_evaluation_leaves_parameters_bitwise_untouched():
  c = _small_config()
  env = registry.make(c.env)
  agent = meta_a2c.make_agent(c, _specs(env))
  params = agent.init(jax.random.PRNGKey(0), _specs(env)).params
  before = jax.tree.map(lambda x: np.array(x, copy=True), params)
  record = meta_rl.rollout(agent, env, params, jax.random.PRNGKey(3), 8)
  returns, done = evaluation.make_evaluate(agent, env, 8, 200)(
      params, jax.random.PRNGKey(4))
  assert record.action.shape == (8, 100) and np.all(np.asarray(done))
  jax.tree.map(np.testing.assert_array_equal, before,
               jax.tree.map(np.asarray, params))


def test_eval_greedy_is_deterministic_and_sampling_is_not():
  env = registry.make("bandit_independent")
  _, timestep = env.reset(jax.random.PRNGKey(0))
  for greedy in (True, False):
    c = _small_config(eval_greedy=greedy)
    agent = meta_a2c.make_agent(c, _specs(env))
    params = agent.init(jax.random.PRNGKey(0), _specs(env)).params
    # Large logits gap not needed: near-uniform policy at init.
    actions = {int(agent.act(params, agent.initial_actor_state(), timestep,
                             jax.random.PRNGKey(k), evaluation=True)[0])
               for k in range(20)}
    assert (len(actions) == 1) == greedy


def _train(config, tmp_path, name):
  holder = {}
  summary = train.train(config, str(tmp_path / name), log=lambda _: None,
                        _state_out=holder)
  agent, loop, _ = train.build_loop(config)
  params = jax.tree.map(lambda x: x[0], anakin.fetch_replicated(
      holder["state"].agent_state.params))
  return summary, agent, params


def test_short_training_beats_chance_on_bandits(tmp_path):
  c = meta_config.get_config("bandit_independent")
  c.total_env_steps = 3_000_000
  c.eval_episodes = 10
  _, agent, params = _train(c, tmp_path, "bandit")
  record = meta_rl.rollout(agent, registry.make(c.env), params,
                           jax.random.PRNGKey(99), 300)
  regret, _ = meta_rl.agent_regret(record)
  chance = meta_rl.chance_regret(record.info["arm_probabilities"])
  assert regret[-1] < 0.5 * chance[-1], (regret[-1], chance[-1])


def test_short_training_beats_chance_on_harlow(tmp_path):
  c = meta_config.get_config("harlow")
  c.total_env_steps = 1_000_000
  c.eval_episodes = 10
  _, agent, params = _train(c, tmp_path, "harlow")
  env = registry.make("harlow_test")
  record = meta_rl.rollout(agent, env, params, jax.random.PRNGKey(99), 300)
  accuracy = meta_rl.harlow_accuracy_by_trial(record, env.num_trials)
  assert np.mean(accuracy[1:]) > 0.75, accuracy
