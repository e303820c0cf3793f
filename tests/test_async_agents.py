"""The four algorithms of Mnih et al. 2016 and what they share (agents/
one_step_q.py, one_step_sarsa.py, n_step_q.py, a3c.py, agents/lib/
shared_rmsprop.py, async_updates.py, async_q.py)."""

import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import rlax

from agents import a3c
from agents import n_step_q
from agents import one_step_q
from agents import one_step_sarsa
from agents import types
from agents.lib import async_q
from agents.lib import shared_rmsprop
from agents.runtime import rollout as rollout_lib
from agents.runtime import train
from agents.runtime.errors import UserError
from environments import base
from environments import registry as env_registry

ALGORITHMS = ("one_step_q", "one_step_sarsa", "n_step_q", "a3c")
MID, LAST, FIRST = base.MID, base.LAST, base.FIRST


def _chunk(step_types, rewards, discounts, actions, actor_state=()):
  """A [T+1, 1] trajectory with scalar observations."""
  col = lambda x, dtype: jnp.asarray(x, dtype)[:, None]
  timestep = base.TimeStep(
      step_type=col(step_types, jnp.int32),
      reward=col(rewards, jnp.float32),
      discount=col(discounts, jnp.float32),
      observation=col(np.zeros(len(step_types)), jnp.float32)[..., None],
  )
  return types.Trajectory(
      timestep=timestep,
      action=col(actions, jnp.int32),
      extras=(),
      actor_state=actor_state,
  )


# Q [T+1, B=1, A=2] of a 3-step chunk; step 2 -> 3 terminates.
Q = jnp.asarray([[1.0, 2.0], [0.5, -1.0], [3.0, 4.0], [7.0, 9.0]])[:, None]
Q_TARGET = jnp.asarray([[0.0, 1.0], [2.0, 1.5], [-1.0, 0.5], [5.0, 6.0]])[
    :, None
]
CHUNK = _chunk(
    [MID, MID, MID, LAST], [0.0, 1.0, 0.5, 2.0], [1.0, 1.0, 1.0, 0.0], [1, 0, 1]
)


def test_one_step_q_td_errors_by_hand():
  gamma = 0.9
  delta = one_step_q.td_errors(Q, Q_TARGET, CHUNK, gamma)[:, 0]
  # y = r + gamma max_a' Q^-(s', a'); 0 bootstrap at the termination.
  expected = [1.0 + 0.9 * 2.0 - 2.0, 0.5 + 0.9 * 0.5 - 0.5, 2.0 - 4.0]
  np.testing.assert_allclose(delta, expected, rtol=1e-6)


def test_one_step_sarsa_td_errors_by_hand():
  gamma = 0.9
  delta = one_step_sarsa.td_errors(Q, Q_TARGET, CHUNK, gamma, jnp.asarray([1]))[
      :, 0
  ]
  # y = r + gamma Q^-(s', a'), a' the next action (0, then 1).
  expected = [1.0 + 0.9 * 2.0 - 2.0, 0.5 + 0.9 * 0.5 - 0.5, 2.0 - 4.0]
  np.testing.assert_allclose(delta, expected, rtol=1e-6)
  chunk = _chunk([MID] * 4, [0.0, 1.0, 0.5, 2.0], [1.0] * 4, [1, 1, 0])
  delta = one_step_sarsa.td_errors(Q, Q_TARGET, chunk, gamma, jnp.asarray([0]))[
      :, 0
  ]
  expected = [
      1.0 + 0.9 * 1.5 - 2.0,
      0.5 + 0.9 * -1.0 - -1.0,
      2.0 + 0.9 * 5.0 - 3.0,
  ]
  np.testing.assert_allclose(delta, expected, rtol=1e-6)


def test_n_step_q_targets_by_hand_across_a_termination():
  gamma = 0.9
  chunk = _chunk(
      [MID, LAST, FIRST, MID],
      [0.0, 1.0, 0.0, 2.0],
      [1.0, 0.0, 1.0, 1.0],
      [0, 1, 0],
  )
  targets = n_step_q.n_step_targets(Q_TARGET, chunk, gamma)[:, 0]
  # Step 0 ends the episode (R = 1); the action at LAST (step 1) is
  # ignored (its target is masked); step 2 bootstraps max Q^-(s_3) = 6.
  np.testing.assert_allclose(
      [targets[0], targets[2]], [1.0, 2.0 + 0.9 * 6.0], rtol=1e-6
  )


def test_n_step_q_targets_equal_rlax():
  rng = np.random.default_rng(0)
  T, B, A = 5, 3, 4
  q_target = jnp.asarray(rng.normal(size=(T + 1, B, A)), jnp.float32)
  rewards = rng.normal(size=(T + 1,))
  chunk = _chunk([MID] * (T + 1), rewards, [1.0] * (T + 1), [0] * T)
  chunk = jax.tree.map(lambda x: jnp.repeat(x, B, axis=1), chunk)
  targets = n_step_q.n_step_targets(q_target, chunk, 0.95)
  bootstrap = jnp.max(q_target, -1)
  for b in range(B):
    expected = rlax.n_step_bootstrapped_returns(
        chunk.timestep.reward[1:, b],
        jnp.full((T,), 0.95),
        bootstrap[1:, b],
        n=T,
    )
    np.testing.assert_allclose(targets[:, b], expected, rtol=1e-5)


def test_a3c_loss_by_hand():
  """A3C's loss is A2C's (lib.actor_critic, reused): a 2-step example."""
  config = a3c_config()
  chunk = _chunk([MID, MID, LAST], [0.0, 1.0, 2.0], [1.0, 1.0, 0.0], [0, 1])
  logits = jnp.asarray([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])[:, None]
  values = jnp.asarray([0.5, 1.0, 3.0])[:, None]
  from agents.lib import actor_critic  # pylint: disable=import-outside-toplevel

  loss, _ = jax.vmap(
      lambda lg, v: actor_critic.actor_critic_loss(
          lg,
          v,
          chunk,
          gamma=0.5,
          value_coef=config.value_coef,
          entropy_coef=config.entropy_coef,
      ),
      axis_name=types.DEVICE_AXIS,
  )(logits[None], values[None])
  # R_1 = 2 (terminal), R_0 = 1 + 0.5 * 2 = 2; A = R - V = 1.5, 1.
  log_pi = [np.log(0.5), -np.log(np.e + 1.0)]  # pi(0|s0), pi(1|s1)
  p1 = np.exp(1.0) / (np.e + 1.0)
  entropy = [np.log(2.0), -(p1 * np.log(p1) + (1 - p1) * np.log(1 - p1))]
  expected = (
      np.mean([-log_pi[0] * 1.5, -log_pi[1] * 1.0])
      + 0.5 * 0.5 * np.mean([1.5**2, 1.0**2])
      - 0.01 * np.mean(entropy)
  )
  np.testing.assert_allclose(loss[0], expected, rtol=1e-5)


def test_shared_rmsprop_equals_optax_on_one_thread():
  rng = np.random.default_rng(1)
  params = dict(w=jnp.asarray(rng.normal(size=(3, 2)), jnp.float32))
  ours = shared_rmsprop.shared_rmsprop(1e-2, decay=0.99, eps=0.1)
  theirs = optax.rmsprop(1e-2, decay=0.99, eps=0.1, eps_in_sqrt=True)
  s_ours, s_theirs = ours.init(params), theirs.init(params)
  p_ours = p_theirs = params
  for _ in range(5):
    grads = dict(w=jnp.asarray(rng.normal(size=(3, 2)), jnp.float32))
    u, s_ours = ours.update(grads, s_ours)
    p_ours = optax.apply_updates(p_ours, u)
    u, s_theirs = theirs.update(grads, s_theirs)
    p_theirs = optax.apply_updates(p_theirs, u)
  np.testing.assert_allclose(p_ours["w"], p_theirs["w"], rtol=1e-6)
  np.testing.assert_allclose(s_ours.g["w"], s_theirs[0].nu["w"], rtol=1e-6)


def test_shared_rmsprop_anneals_to_zero():
  opt = shared_rmsprop.shared_rmsprop(0.1, eps=1.0, anneal_steps=4)
  params = dict(w=jnp.zeros(()))
  state = opt.init(params)
  steps = []
  for _ in range(5):
    u, state = opt.update(dict(w=jnp.ones(())), state)
    steps.append(-float(u["w"]))
  # eta_t = 0.1 (1 - t/4); update = eta_t / sqrt(g_t + 1).
  g = [0.01 * sum(0.99**k for k in range(t + 1)) for t in range(5)]
  expected = [0.1 * max(0.0, 1 - t / 4) / np.sqrt(g[t] + 1.0) for t in range(5)]
  np.testing.assert_allclose(steps, expected, rtol=1e-5)
  assert steps[-1] == 0.0


def test_log_uniform_learning_rate_per_seed():
  config = a3c_config()
  config.learning_rate_sampling = "log_uniform"
  rates = jax.vmap(
      functools.partial(shared_rmsprop.initial_learning_rate, config)
  )(jax.random.split(jax.random.PRNGKey(0), 2000))
  logs = np.log10(np.asarray(rates))
  assert logs.min() >= -4 and logs.max() <= -2
  assert abs(logs.mean() + 3) < 0.05 and abs(np.median(logs) + 3) < 0.1
  key = jax.random.PRNGKey(3)
  assert shared_rmsprop.initial_learning_rate(
      config, key
  ) == shared_rmsprop.initial_learning_rate(config, key)
  config.learning_rate_min = 1e-1
  with pytest.raises(UserError, match="learning_rate_min"):
    shared_rmsprop.initial_learning_rate(config, key)


def test_final_epsilon_distribution_chi_square():
  n = 20_000
  draws = np.asarray(
      jax.vmap(async_q.draw_final_epsilon)(
          jax.random.split(jax.random.PRNGKey(7), n)
      )
  )
  counts = np.array(
      [np.sum(np.isclose(draws, e)) for e in async_q.FINAL_EPSILONS]
  )
  assert counts.sum() == n
  expected = n * np.asarray(async_q.FINAL_EPSILON_PROBABILITIES)
  chi2 = np.sum((counts - expected) ** 2 / expected)
  assert chi2 < 13.8, (counts, chi2)  # df = 2, p = 0.001
  # and the schedule: 1 at T = 0, the final epsilon from the decay on
  np.testing.assert_allclose(async_q.epsilon(0.1, 0, 100), 1.0)
  np.testing.assert_allclose(async_q.epsilon(0.1, 50, 100), 0.55)
  np.testing.assert_allclose(async_q.epsilon(0.1, 500, 100), 0.1, rtol=1e-6)


def a3c_config(preset="catch"):
  return importlib.import_module("configs.a3c").get_config(preset)


def _agent_and_trajectory(name, num_envs=3, run=None):
  config = importlib.import_module(f"configs.{name}").get_config("catch")
  config.num_envs = num_envs
  env = env_registry.make("catch")
  specs = types.EnvSpecs(env.observation_spec(), env.action_spec())
  run = run or types.RunInfo(
      learn_calls=100, env_steps_per_learn_call=num_envs * 5
  )
  agent = importlib.import_module(f"agents.{name}").make_agent(
      config, specs, run
  )
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  state = agent.init(keys[0], specs)
  fold = jax.vmap(jax.random.fold_in, (None, 0))
  ids = jnp.arange(num_envs)
  carry = rollout_lib.initial_carry(
      agent, env, fold(keys[1], ids), fold(keys[2], ids), fold(keys[3], ids)
  )
  _, trajectory, _, _ = jax.jit(
      functools.partial(rollout_lib.rollout, agent, env, config.rollout_length)
  )(agent.actor_params(state), carry)
  return agent, state, trajectory, config


def _actor(trajectory, k):
  """Actor k's [T+1, 1] slice of a trajectory."""
  cut = lambda x: x[:, k : k + 1]
  return types.Trajectory(
      timestep=jax.tree.map(cut, trajectory.timestep),
      action=cut(trajectory.action),
      extras=jax.tree.map(cut, trajectory.extras),
      actor_state=jax.tree.map(lambda x: x[k : k + 1], trajectory.actor_state),
  )


def _on_device_axis(fn):
  add = lambda t: jax.tree.map(lambda x: x[None], t)
  vmapped = jax.vmap(fn, axis_name=types.DEVICE_AXIS)
  return lambda *args: jax.tree.map(lambda x: x[0], vmapped(*map(add, args)))


@pytest.mark.parametrize(
    "name",
    [
        # one-step Q and Sarsa share n-step Q's learner (lib/async_q.py): slow
        pytest.param("one_step_q", marks=pytest.mark.slow),
        pytest.param("one_step_sarsa", marks=pytest.mark.slow),
        "n_step_q",
        "a3c",
    ],
)
def test_learn_is_apply_of_gradients_bitwise(name):
  agent, state, trajectory, _ = _agent_and_trajectory(name)
  key = jax.random.PRNGKey(5)
  learned, _ = jax.jit(_on_device_axis(agent.learn))(state, trajectory, key)
  grads, aux = jax.jit(_on_device_axis(agent.gradients))(state, trajectory, key)
  applied, _ = jax.jit(_on_device_axis(agent.apply))(state, grads, aux)
  for a, b in zip(jax.tree.leaves(learned), jax.tree.leaves(applied)):
    np.testing.assert_array_equal(a, b)
  assert int(learned.env_steps) == trajectory.action.size
  assert int(learned.opt_state.count) == 3  # one step per actor


def test_per_actor_updates_apply_each_actors_gradient_in_turn():
  """apply with 3 actors == 3 optimizer steps with each actor's gradient,
  all computed on the same parameters (the snapshot)."""
  agent, state, trajectory, config = _agent_and_trajectory("n_step_q")
  key = jax.random.PRNGKey(5)
  grads, aux = jax.jit(_on_device_axis(agent.gradients))(state, trajectory, key)
  optimizer = shared_rmsprop.from_config(config, 100 * 3)
  params, opt_state = state.params, state.opt_state
  for k in range(3):
    single, _ = jax.jit(_on_device_axis(agent.gradients))(
        state, _actor(trajectory, k), jax.random.split(key, 3)[k]
    )
    for a, b in zip(
        jax.tree.leaves(single),
        jax.tree.leaves(jax.tree.map(lambda x: x[k : k + 1], grads)),
    ):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    update, opt_state = optimizer.update(
        jax.tree.map(lambda x: x[k], grads), opt_state
    )
    params = optax.apply_updates(params, update)
  applied, _ = jax.jit(_on_device_axis(agent.apply))(state, grads, aux)
  for a, b in zip(jax.tree.leaves(applied.params), jax.tree.leaves(params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_target_network_refreshes_when_the_counter_crosses_i_target():
  after = async_q.refresh_target(10)
  state = async_q.AsyncQState(
      params=jnp.ones(()),
      target_params=jnp.zeros(()),
      opt_state=(),
      env_steps=jnp.asarray(9),
  )
  assert float(after(state, jnp.asarray(4)).target_params) == 0.0
  state = state.replace(env_steps=jnp.asarray(12))
  assert float(after(state, jnp.asarray(7)).target_params) == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ALGORITHMS)
def test_synchronous_actor_learners_learn_catch(name, tmp_path):
  config = importlib.import_module(f"configs.{name}").get_config("catch")
  config.total_env_steps = 30_000
  config.eval_episodes = 50
  summary = train.train(config, str(tmp_path), log=lambda _: None).summary
  assert summary["eval_return_mean"] >= 0.6, summary


@pytest.mark.slow
def test_hogwild_threads_learn_catch(tmp_path):
  config = a3c_config()
  config.loop = "hogwild"
  config.num_actors = 2
  config.num_envs = 2
  config.total_env_steps = 30_000
  config.eval_episodes = 50
  summary = train.train(config, str(tmp_path), log=lambda _: None).summary
  assert summary["eval_return_mean"] >= 0.6, summary
