"""Continuous A3C: the Gaussian policy of Mnih et al. 2016 (agents/lib/
policies.py), its loss through the shared actor-critic loss
(agents/lib/actor_critic.py), agents/a3c.py on Pendulum in the loops."""

import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_env import specs as dm_specs

from agents import a2c
from agents import a3c
from agents import types
from agents.lib import actor_critic
from agents.lib import networks
from agents.lib import policies
from agents.runtime import evaluation
from agents.runtime import rollout as rollout_lib
from agents.runtime import train
from agents.runtime.errors import UserError
from configs import a2c as a2c_configs
from configs import a3c as a3c_configs
from environments import base
from environments import registry as env_registry

MID, LAST = base.MID, base.LAST
LOW, HIGH = np.array([-2.0], np.float32), np.array([2.0], np.float32)


def _normal_log_density(u, mean, variance):
  return -((u - mean) ** 2) / (2 * variance) - 0.5 * np.log(
      2 * np.pi * variance
  )


def test_gaussian_log_prob_and_entropy_by_hand():
  policy = policies.Gaussian(
      np.array([-1.0, 0.0], np.float32), np.array([1.0, 4.0], np.float32)
  )
  mean = np.array([0.3, -1.2], np.float32)
  variance = np.array([0.5, 2.0], np.float32)
  u = np.array([1.1, 0.4], np.float32)
  dist = policy.distribution((jnp.asarray(mean), jnp.asarray(variance)))
  np.testing.assert_allclose(
      dist.log_prob(u),
      np.sum(_normal_log_density(u, mean, variance)),
      rtol=1e-6,
  )
  # H = sum_i 1/2 (log(2 pi sigma_i^2) + 1)
  np.testing.assert_allclose(
      dist.entropy(),
      np.sum(0.5 * (np.log(2 * np.pi * variance) + 1.0)),
      rtol=1e-6,
  )


def _chunk(samples, actions):
  """A 2-step [T+1 = 3, B = 1] chunk ending in a termination, with the
  Gaussian's unclipped samples in extras (d = 1)."""
  col = lambda x, dtype: jnp.asarray(x, dtype)[:, None]
  timestep = base.TimeStep(
      step_type=col([MID, MID, LAST], jnp.int32),
      reward=col([0.0, 1.0, 2.0], jnp.float32),
      discount=col([1.0, 1.0, 0.0], jnp.float32),
      observation=col(np.zeros(3), jnp.float32)[..., None],
  )
  return types.Trajectory(
      timestep=timestep,
      action=jnp.asarray(actions, jnp.float32)[:, None, None],
      extras=dict(sample=jnp.asarray(samples, jnp.float32)[:, None, None]),
      actor_state=(),
  )


def _gaussian_loss(mean, variance, values, chunk, entropy_coef):
  return jax.vmap(
      lambda m, v, val: actor_critic.actor_critic_loss(
          (m, v),
          val,
          chunk,
          gamma=0.5,
          value_coef=0.5,
          entropy_coef=entropy_coef,
          policy=policies.Gaussian(LOW, HIGH),
      ),
      axis_name=types.DEVICE_AXIS,
  )(mean[None], variance[None], values[None])


def test_gaussian_policy_gradient_loss_by_hand():
  """The loss and its gradient on a 2-step example: the log-density is the
  UNCLIPPED sample's (the second sample, 3, lies outside [-1, 1] in policy
  units; the task got the clipped action)."""
  samples = [0.5, 3.0]
  chunk = _chunk(samples, actions=[1.0, 2.0])
  mean = jnp.asarray([[0.0], [1.0], [0.0]])[:, None]  # [T+1, B, d]
  variance = jnp.asarray([[1.0], [0.25], [1.0]])[:, None]
  values = jnp.asarray([0.5, 1.0, 3.0])[:, None]
  beta = 1e-4
  loss, metrics = _gaussian_loss(mean, variance, values, chunk, beta)
  # R_1 = 2 (terminal), R_0 = 1 + 0.5 * 2 = 2; A = R - V = 1.5, 1.
  adv = np.array([1.5, 1.0])
  mu, var = np.array([0.0, 1.0]), np.array([1.0, 0.25])
  log_pi = _normal_log_density(np.array(samples), mu, var)
  entropy = 0.5 * (np.log(2 * np.pi * var) + 1.0)
  expected = (
      np.mean(-log_pi * adv)
      + 0.5 * 0.5 * np.mean(adv**2)
      - beta * np.mean(entropy)
  )
  np.testing.assert_allclose(loss[0], expected, rtol=1e-5)
  np.testing.assert_allclose(metrics["entropy"][0], np.mean(entropy), rtol=1e-5)
  # d loss / d mu_t = -A_t (u_t - mu_t) / sigma_t^2 / T (the policy term).
  grad_mean = jax.grad(
      lambda m: _gaussian_loss(m, variance, values, chunk, beta)[0][0]
  )(mean)
  np.testing.assert_allclose(
      grad_mean[:2, 0, 0], -adv * (np.array(samples) - mu) / var / 2, rtol=1e-5
  )
  assert float(grad_mean[2, 0, 0]) == 0.0  # the bootstrap step has no action


def _pendulum_agent(num_envs=3, **overrides):
  config = a3c_configs.get_config("pendulum")
  config.num_envs = num_envs
  config.update(overrides)
  env = env_registry.make("pendulum")
  specs = types.EnvSpecs(env.observation_spec(), env.action_spec())
  run = types.RunInfo(learn_calls=100, env_steps_per_learn_call=num_envs * 5)
  return a3c.make_agent(config, specs, run), env, specs, config


def test_actions_lie_within_the_bounds_and_greedy_acts_with_the_mean():
  agent, env, specs, config = _pendulum_agent()
  state = agent.init(jax.random.PRNGKey(0), specs)
  params = agent.actor_params(state)
  # Widen the policy so that many samples fall outside the bounds.
  bias = params["params"]["variance"]["bias"]
  params["params"]["variance"]["bias"] = bias + 5.0  # variance ~ softplus(5)
  _, timestep = env.reset(jax.random.PRNGKey(1))
  act = jax.jit(
      jax.vmap(lambda k: agent.act(params, (), timestep, k, evaluation=False))
  )
  actions, _, extras = act(jax.random.split(jax.random.PRNGKey(2), 1000))
  assert actions.shape == (1000, 1) and actions.dtype == jnp.float32
  assert np.all(actions >= -2.0) and np.all(actions <= 2.0)
  # Clipping happened (samples in half-range units beyond [-1, 1]), and the
  # action is the sample scaled by the half range where it did not.
  samples = np.asarray(extras["sample"])
  assert np.mean(np.abs(samples) > 1.0) > 0.2
  inside = np.abs(samples) <= 1.0
  np.testing.assert_allclose(
      actions[inside], 2.0 * samples[inside], rtol=1e-5, atol=1e-6
  )
  greedy, _, extras = agent.act(
      params, (), timestep, jax.random.PRNGKey(3), evaluation=True
  )
  (mean, _), _ = networks.GaussianActorCritic(
      action_size=1, hidden_sizes=config.hidden_sizes
  ).apply(params, timestep.observation)
  assert abs(float(mean[0])) > 0.0
  np.testing.assert_allclose(
      greedy, np.clip(2.0 * mean, -2.0, 2.0), rtol=1e-5, atol=1e-6
  )
  np.testing.assert_allclose(extras["sample"], mean)


@pytest.mark.parametrize(
    "spec,message",
    [
        (dm_specs.Array((1,), np.float32), "has no bounds"),
        (
            dm_specs.BoundedArray((1,), np.float32, -np.inf, 1.0),
            "not finite",
        ),
        (dm_specs.BoundedArray((1,), np.float32, 0.0, np.nan), "not finite"),
    ],
)
def test_unbounded_or_non_finite_action_spec_is_a_user_error(spec, message):
  specs = types.EnvSpecs(dm_specs.Array((3,), np.float32), spec)
  run = types.RunInfo(learn_calls=10, env_steps_per_learn_call=40)
  with pytest.raises(UserError, match=message):
    a3c.make_agent(a3c_configs.get_config("pendulum"), specs, run)
  with pytest.raises(UserError, match=message):
    a2c.make_agent(a2c_configs.get_config(), specs, run)


def test_learn_is_apply_of_gradients_and_counts_env_steps_not_dimensions():
  agent, env, specs, config = _pendulum_agent(num_envs=3)
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  state = agent.init(keys[0], specs)
  fold = jax.vmap(jax.random.fold_in, (None, 0))
  ids = jnp.arange(3)
  carry = rollout_lib.initial_carry(
      agent, env, fold(keys[1], ids), fold(keys[2], ids), fold(keys[3], ids)
  )
  _, trajectory, _, _ = jax.jit(
      functools.partial(rollout_lib.rollout, agent, env, config.rollout_length)
  )(agent.actor_params(state), carry)
  on_axis = lambda fn: jax.jit(
      lambda *a: jax.tree.map(
          lambda x: x[0],
          jax.vmap(fn, axis_name=types.DEVICE_AXIS)(
              *jax.tree.map(lambda x: x[None], a)
          ),
      )
  )
  key = jax.random.PRNGKey(5)
  learned, metrics = on_axis(agent.learn)(state, trajectory, key)
  grads, aux = on_axis(agent.gradients)(state, trajectory, key)
  applied, _ = on_axis(agent.apply)(state, grads, aux)
  for a, b in zip(jax.tree.leaves(learned), jax.tree.leaves(applied)):
    np.testing.assert_array_equal(a, b)
  assert int(learned.env_steps) == 3 * config.rollout_length
  assert int(learned.opt_state.count) == 3  # one step per actor
  assert all(np.isfinite(float(v)) for v in metrics.values())
  changed = [
      not np.array_equal(a, b)
      for a, b in zip(
          jax.tree.leaves(state.params), jax.tree.leaves(learned.params)
      )
  ]
  assert all(changed)  # policy and value torsos both learn


def test_reward_scale_is_the_loss_on_scaled_rewards():
  """`reward_scale` c: the gradients are those of the unscaled agent on a
  trajectory whose rewards are c times (and differ from the unscaled
  agent's on the same trajectory)."""
  scaled, env, specs, config = _pendulum_agent(num_envs=2, reward_scale=0.1)
  plain, _, _, _ = _pendulum_agent(num_envs=2, reward_scale=1.0)
  keys = jax.random.split(jax.random.PRNGKey(1), 4)
  state = plain.init(keys[0], specs)
  fold = jax.vmap(jax.random.fold_in, (None, 0))
  ids = jnp.arange(2)
  carry = rollout_lib.initial_carry(
      plain, env, fold(keys[1], ids), fold(keys[2], ids), fold(keys[3], ids)
  )
  _, trajectory, _, _ = jax.jit(
      functools.partial(rollout_lib.rollout, plain, env, config.rollout_length)
  )(plain.actor_params(state), carry)
  timestep = trajectory.timestep
  rescaled = trajectory.replace(
      timestep=timestep.replace(reward=0.1 * timestep.reward)
  )
  grads = lambda agent, traj: jax.jit(
      jax.vmap(
          lambda s, t: agent.gradients(s, t, keys[0])[0],
          axis_name=types.DEVICE_AXIS,
      )
  )(*jax.tree.map(lambda x: x[None], (state, traj)))
  want, got = grads(plain, rescaled), grads(scaled, trajectory)
  for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  unscaled = grads(plain, trajectory)
  assert any(
      not np.allclose(a, b)
      for a, b in zip(jax.tree.leaves(unscaled), jax.tree.leaves(got))
  )


def _short(loop, **overrides):
  config = a3c_configs.get_config("pendulum")
  config.update(
      dict(
          loop=loop,
          num_envs=2,
          num_actors=2,
          total_env_steps=2_000,
          log_every_env_steps=1_000,
          eval_episodes=3,
          **overrides,
      )
  )
  return config


@pytest.mark.slow
@pytest.mark.parametrize("loop", ["anakin", "hogwild", "sebulba"])
def test_continuous_a3c_runs_in_every_loop(loop, tmp_path):
  result = train.train(_short(loop), str(tmp_path), log=lambda _: None)
  summary = result.summary
  assert summary["env_steps"] >= 2_000, summary
  assert np.isfinite(summary["eval_return_mean"]), summary
  # Pendulum's 200-step episodes: every greedy episode pays a cost.
  assert summary["eval_return_mean"] < 0.0, summary


@pytest.mark.slow
def test_continuous_a3c_improves_on_pendulum_over_a_random_policy(tmp_path):
  """A short run (the preset, 600k env steps, 8 actors; 4 seeds vmapped in
  one program) against uniformly random torques, 100 greedy episodes each.
  Seeds differ a lot on Pendulum (README): the mean over 4 is tested."""
  config = a3c_configs.get_config("pendulum")
  config.total_env_steps = 600_000
  config.log_every_env_steps = 150_000
  config.num_seeds = 4
  config.eval_episodes = 100
  summary = train.train(config, str(tmp_path), log=lambda _: None).summary
  env = env_registry.make("pendulum")
  random_agent = types.Agent(
      name="random",
      init=lambda key, specs: (),
      actor_params=lambda state: (),
      initial_actor_state=types.no_actor_state,
      act=lambda params, actor_state, timestep, key, evaluation: (
          jax.random.uniform(key, (1,), jnp.float32, -2.0, 2.0),
          actor_state,
          {},
      ),
      learn=lambda state, trajectory, key: (state, {}),
  )
  returns, _ = evaluation.make_evaluate(random_agent, env, 100, 1000)(
      (), jax.random.PRNGKey(0)
  )
  random_return = float(np.mean(returns))
  assert random_return < -1000.0  # the task's floor, for the record
  assert summary["eval_return_mean"] > random_return + 250.0, (
      summary["eval_return_mean"],
      random_return,
  )


@pytest.mark.slow
def test_hogwild_prepare_compiles_each_step_once_and_segments_reuse_it():
  """Issue 14: the hogwild loop's `prepare` compiles the actor-learner step
  and `apply` ahead of time; the threads' first calls reuse those
  executables (jax's compilation cache) rather than compiling again."""
  compiled = []
  handler = logging.Handler(logging.WARNING)
  handler.emit = lambda record: compiled.append(record.getMessage())
  logger = logging.getLogger("jax._src.dispatch")
  logger.addHandler(handler)
  count = lambda name: sum(
      f"XLA compilation of jit({name})" in m for m in compiled
  )
  try:
    with jax.log_compiles(True):
      _, loop = train.build_loop(_short("hogwild"))
      state = loop.init([0])
      assert loop.prepare(state)
      prepared = [count("actor_learner_step"), count("apply_step")]
      state, metrics = loop.run_segment(state)
      loop.run_segment(state)
  finally:
    logger.removeHandler(handler)
  assert prepared == [1, 1], compiled
  assert [count("actor_learner_step"), count("apply_step")] == [1, 1]
  assert metrics["gradients_applied"][0] > 0
