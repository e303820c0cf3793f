"""Meta-RL A2C: core-state resets in the loop, learn's unroll == act, frozen
evaluation, and short training runs that beat chance."""

import dataclasses
import os

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


def _run(c):
  """The RunInfo of the compiled loop on `c` with one iteration per
  segment (what `_loop_chunks` runs)."""
  per_call = c.num_envs * c.rollout_length
  return types.RunInfo(
      learn_calls=-(-c.total_env_steps // per_call),
      env_steps_per_learn_call=per_call,
  )


def _capturing(agent):
  """The agent with `learn` also returning the trajectory and params it saw."""

  def learn(state, trajectory, key):
    new_state, metrics = agent.learn(state, trajectory, key)
    return new_state, dict(metrics, trajectory=trajectory, params=state.params)

  return dataclasses.replace(agent, learn=learn)


def _loop_chunks(config, env, num_iterations):
  """Runs the loop's iteration (one device, one seed) and returns, per
  iteration, (params used to act, trajectory)."""
  agent, unroll = meta_a2c.make_agent_and_unroll(
      config, _specs(env), _run(config)
  )
  loop = anakin.AnakinLoop(
      agent=_capturing(agent),
      env=env,
      num_envs=config.num_envs,
      rollout_length=config.rollout_length,
      iterations_per_segment=1,
      mesh=anakin.make_mesh(1),
  )
  state = jax.tree.map(lambda x: x[0], loop.init([0]))  # [seed=1, ...]
  iterate = jax.jit(
      jax.vmap(
          loop._iteration,
          in_axes=(0, None),  # pylint: disable=protected-access
          axis_name=types.DEVICE_AXIS,
      )
  )
  chunks = []
  for _ in range(num_iterations):
    state, (metrics, _) = iterate(state, None)
    squeeze = lambda x: x[0]
    chunks.append(
        (
            jax.tree.map(squeeze, metrics["params"]),
            jax.tree.map(squeeze, metrics["trajectory"]),
        )
    )
  return agent, unroll, chunks


def test_entropy_coefficient_anneals_linearly():
  c = _small_config(
      entropy_start=0.1,
      entropy_end=0.02,
      total_env_steps=1000,
      entropy_anneal_env_steps=0,
  )
  coef = lambda n: float(meta_a2c.entropy_coefficient(c, jnp.asarray(n)))
  assert coef(0) == pytest.approx(0.1)
  assert coef(500) == pytest.approx(0.06)
  assert coef(1000) == pytest.approx(0.02)
  assert coef(5000) == pytest.approx(0.02)


@pytest.mark.parametrize("anneal", [True, False])
def test_learning_rate_anneals_to_zero_over_the_runs_learn_calls(anneal):
  # `anneal_learning_rate` counts learn calls: total_env_steps / (num_envs *
  # rollout_length) of them (here 2), after which updates are exactly zero.
  c = _small_config(
      rollout_length=4, anneal_learning_rate=anneal, total_env_steps=2 * 4 * 4
  )
  env = registry.make(c.env, num_trials=3)
  agent, _, chunks = _loop_chunks(c, env, 1)
  batch = lambda tree: jax.tree.map(lambda x: x[None], tree)
  learn = jax.jit(
      jax.vmap(agent.learn, in_axes=(0, 0, None), axis_name=types.DEVICE_AXIS)
  )
  trajectory = batch(chunks[0][1])
  state = batch(agent.init(jax.random.PRNGKey(0), _specs(env)))
  changed = []
  for _ in range(3):
    new_state, _ = learn(state, trajectory, jax.random.PRNGKey(1))
    changed.append(
        any(
            jax.tree.leaves(
                jax.tree.map(
                    lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                    state.params,
                    new_state.params,
                )
            )
        )
    )
    state = new_state
  assert changed == [True, True, not anneal]


# 3-trial bandit episodes take 4 env steps in the loop: chunks of 4 steps are
# aligned with episodes, chunks of 5 are not (episodes start anywhere in a
# chunk and the chunk's initial actor state is mid-episode).
@pytest.fixture(scope="module", params=[4, 5], ids=["aligned", "misaligned"])
def loop_chunks(request):
  c = _small_config(rollout_length=request.param)
  env = registry.make(c.env, num_trials=3)
  return _loop_chunks(c, env, 4)


def test_core_state_resets_at_first_inside_the_loop(loop_chunks):
  agent, _, chunks = loop_chunks
  initial = agent.initial_actor_state(None)
  act = jax.vmap(
      jax.vmap(
          lambda p, s, ts: agent.act(p, s, ts, jax.random.PRNGKey(0))[2],
          in_axes=(None, None, 0),
      ),
      in_axes=(None, None, 0),
  )
  num_firsts = num_not_first = 0
  for params, trajectory in chunks:
    steps = jax.tree.map(lambda x: x[:-1], trajectory.timestep)  # acted on
    from_initial = act(params, initial, steps)
    first = np.asarray(steps.first())
    # Acting on FIRST, the agent's output is that of the initial state ...
    np.testing.assert_allclose(
        np.asarray(trajectory.extras["logits"])[first],
        np.asarray(from_initial["logits"])[first],
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        np.asarray(trajectory.extras["value"])[first],
        np.asarray(from_initial["value"])[first],
        rtol=1e-5,
        atol=1e-6,
    )
    # ... and elsewhere it depends on the carried core state.
    differs = (
        np.abs(
            np.asarray(trajectory.extras["value"])
            - np.asarray(from_initial["value"])
        )
        > 1e-7
    )
    assert np.all(differs[~first & ~np.asarray(steps.last())])
    num_firsts += first.sum()
    num_not_first += (~first).sum()
  assert num_firsts >= 8 and num_not_first >= 8


@pytest.mark.parametrize("forget_bias", [0.0, 1.0])
def test_forget_gate_bias_starts_at_the_configured_value(forget_bias):
  c = _small_config(forget_bias=forget_bias)
  env = registry.make(c.env)
  agent = meta_a2c.make_agent(c, _specs(env), _run(c))
  lstm = agent.init(jax.random.PRNGKey(0), _specs(env)).params["params"]["lstm"]
  np.testing.assert_array_equal(lstm["hf"]["bias"], forget_bias)
  for gate in ("hi", "hg", "ho"):  # the other gates keep flax's zeros
    np.testing.assert_array_equal(lstm[gate]["bias"], 0.0)
  assert lstm["hf"]["bias"].shape == (c.lstm_size,)


def test_reset_at_first_zeroes_core_and_previous_action():
  c = _small_config()
  env = registry.make(c.env)
  agent = meta_a2c.make_agent(c, _specs(env), _run(c))
  params = agent.init(jax.random.PRNGKey(0), _specs(env)).params
  _, timestep = env.reset(jax.random.PRNGKey(1))
  dirty = jax.tree.map(
      lambda x: jnp.ones_like(x) * 3.0, agent.initial_actor_state(None)
  )
  key = jax.random.PRNGKey(2)
  act = jax.jit(agent.act)
  out_dirty = act(params, dirty, timestep, key)
  out_clean = act(params, agent.initial_actor_state(None), timestep, key)
  jax.tree.map(np.testing.assert_array_equal, out_dirty, out_clean)
  mid = timestep.replace(step_type=jnp.asarray(1, jnp.int32))
  assert not np.allclose(
      act(params, dirty, mid, key)[2]["logits"], out_clean[2]["logits"]
  )


def test_learn_unroll_matches_act_step_by_step(loop_chunks):
  # The unroll starts from trajectory.actor_state and resets at FIRST
  # exactly as act does, aligned with episodes or not.
  _, unroll, chunks = loop_chunks
  for params, trajectory in chunks:
    logits, values = unroll(params, trajectory)
    assert logits.shape == (trajectory.action.shape[0] + 1, 4, 2)
    np.testing.assert_allclose(
        logits[:-1], trajectory.extras["logits"], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        values[:-1], trajectory.extras["value"], rtol=1e-5, atol=1e-6
    )


def test_learn_gradient_flows_back_to_the_episode_start(loop_chunks):
  _, unroll, chunks = loop_chunks
  params, trajectory = chunks[0]  # starts at a FIRST: steps 0..3 one episode
  assert bool(trajectory.timestep.first()[0].all())

  # The value at the episode's LAST decision depends on the reward input of
  # its first step after FIRST.
  def last_value(reward_1):
    ts = trajectory.timestep
    t = trajectory.replace(
        timestep=ts.replace(reward=ts.reward.at[1].set(reward_1))
    )
    return jnp.sum(unroll(params, t)[1][2])

  grad = jax.grad(last_value)(trajectory.timestep.reward[1])
  assert np.all(np.abs(np.asarray(grad)) > 0)


def test_frozen_evaluation_leaves_parameters_bitwise_untouched():
  c = _small_config()
  env = registry.make(c.env)
  agent = meta_a2c.make_agent(c, _specs(env), _run(c))
  params = agent.init(jax.random.PRNGKey(0), _specs(env)).params
  before = jax.tree.map(lambda x: np.array(x, copy=True), params)
  record = meta_rl.rollout(agent, env, params, jax.random.PRNGKey(3), 8)
  returns, done = evaluation.make_evaluate(agent, env, 8, 200)(
      params, jax.random.PRNGKey(4)
  )
  assert record.action.shape == (8, 100) and np.all(np.asarray(done))
  jax.tree.map(
      np.testing.assert_array_equal, before, jax.tree.map(np.asarray, params)
  )


def test_eval_greedy_is_deterministic_and_sampling_is_not():
  env = registry.make("bandit_independent")
  _, timestep = env.reset(jax.random.PRNGKey(0))
  for greedy in (True, False):
    c = _small_config(eval_greedy=greedy)
    agent = meta_a2c.make_agent(c, _specs(env), _run(c))
    params = agent.init(jax.random.PRNGKey(0), _specs(env)).params
    # A near-uniform policy at init: sampling gives both actions.
    act = jax.jit(
        jax.vmap(
            lambda key: agent.act(  # pylint: disable=cell-var-from-loop
                params,
                agent.initial_actor_state(None),
                timestep,
                key,
                evaluation=True,
            )[0]
        )
    )
    actions = set(np.asarray(act(jax.random.split(jax.random.PRNGKey(0), 20))))
    assert (len(actions) == 1) == greedy


def _train(config, tmp_path, name):
  result = train.train(config, str(tmp_path / name), log=lambda _: None)
  agent, loop = train.build_loop(config)
  params = jax.tree.map(
      lambda x: x[0], anakin.fetch_replicated(result.state.agent_state.params)
  )
  return result.summary, agent, params


@pytest.mark.slow
def test_short_training_beats_chance_on_bandits(tmp_path):
  c = meta_config.get_config("bandit_independent")
  c.num_envs = 64
  c.total_env_steps = 3_000_000
  c.eval_episodes = 10
  _, agent, params = _train(c, tmp_path, "bandit")
  record = meta_rl.rollout(
      agent, registry.make(c.env), params, jax.random.PRNGKey(99), 300
  )
  regret, _ = meta_rl.agent_regret(record)
  chance = meta_rl.chance_regret(record.info["arm_probabilities"])
  assert regret[-1] < 0.5 * chance[-1], (regret[-1], chance[-1])


# Harlow is a parity problem for a network learning from scratch (the good
# side = previous side x previous action x previous reward x current side):
# the agent sits at chance, then learns in abrupt stages: ~70% correct from
# trial 2, then ~95% after ~6M env steps with the preset (3 minutes on 2 CPU
# cores), too long for CI's budget. With lr 1e-2 the first stage comes after
# ~1.4M steps (seed 0: 2M steps -> 71% from trial 2 on held-out objects,
# 28 s of training on a quiet machine; 1.5M steps -> 60%). Measured with
# flax's forget-gate bias 0 and 128 units: the preset's bias 1 (which makes
# every seed reach the second stage over its 16M steps) reaches the first
# one later (seed 0: 55% at 2M), so this short check keeps 0. It passes
# with the preset's 96 units too.
@pytest.mark.slow
def test_short_training_beats_chance_on_harlow(tmp_path):
  c = meta_config.get_config("harlow")
  c.learning_rate = 1e-2
  c.forget_bias = 0.0
  c.total_env_steps = 2_000_000
  c.eval_episodes = 10
  c.checkpoint_every_segments = 1000
  _, agent, params = _train(c, tmp_path, "harlow")
  env = registry.make("harlow_test")  # held-out objects
  record = meta_rl.rollout(agent, env, params, jax.random.PRNGKey(99), 300)
  accuracy = meta_rl.harlow_accuracy_by_trial(record, env.num_trials)
  # Trial 1 is a guess (two new objects): chance. Later trials use what the
  # first one revealed: above chance (300 episodes: std error ~0.013).
  assert 0.4 < accuracy[0] < 0.6, accuracy
  assert np.mean(accuracy[1:]) > 0.6, accuracy


# The preset's whole run (16M env steps; 430 s of training for 4 vmapped
# seeds in python -m scripts.reproduce_wang2018, 123 s for this one seed on
# a quiet 2-core machine): the second stage (0.970 from trial 2 for seed 0
# on 1,000 held-out episodes; see configs/meta_a2c.py). Opt-in: on another
# machine's rounding a seed can stay at the first stage (the GPU screen at
# 18M steps: 2 of 8).
@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("META_RL_LONG_TESTS"),
    reason="about 2 minutes; set META_RL_LONG_TESTS=1",
)
def test_preset_training_solves_harlow(tmp_path):
  c = meta_config.get_config("harlow")
  c.eval_episodes = 10
  _, agent, params = _train(c, tmp_path, "harlow")
  env = registry.make("harlow_test")
  record = meta_rl.rollout(agent, env, params, jax.random.PRNGKey(99), 300)
  accuracy = meta_rl.harlow_accuracy_by_trial(record, env.num_trials)
  assert 0.4 < accuracy[0] < 0.6, accuracy
  assert np.mean(accuracy[1:]) > 0.9, accuracy
