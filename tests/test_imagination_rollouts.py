"""Imagination rollouts for continuous actions (Gu et al. 2016): the
time-varying linear-Gaussian fit (agents/replay/linear_gaussian.py), the
continuous neural model (agents/replay/models.py) and the rollouts of
agents/replay/imagination.py (bounds, episode ends, time limit)."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from absl import flags
from dm_env import specs as dm_specs

from agents import replay as replay_lib
from agents import types
from agents.replay import imagination
from agents.replay import linear_gaussian
from agents.replay import models
from agents.runtime.errors import UserError
from scripts import reproduce_naf

DX, DU = 2, 1
A = np.array([[[0.9, 0.2], [-0.1, 0.8]], [[1.0, -0.3], [0.4, 0.7]]])
B = np.array([[[0.5], [0.0]], [[-0.2], [1.0]]])
C = np.array([[0.1, -0.2], [0.0, 0.3]])
SIGMA = np.array([[[0.04, 0.01], [0.01, 0.02]], [[0.01, 0.0], [0.0, 0.09]]])


def _simulated_items(n_per_step: int, seed: int = 0):
  """n items per time step t in {0, 1} of the known system above; reward
  -(|x|^2 + 0.1 u^2); terminal with probability 0.25 at t = 1 only."""
  rng = np.random.default_rng(seed)
  parts = []
  for t in range(2):
    x = rng.normal(size=(n_per_step, DX))
    u = rng.uniform(-2, 2, size=(n_per_step, DU))
    noise = rng.multivariate_normal(np.zeros(DX), SIGMA[t], n_per_step)
    y = x @ A[t].T + u @ B[t].T + C[t] + noise
    terminal = rng.uniform(size=n_per_step) < (0.25 if t == 1 else 0.0)
    parts.append(
        dict(
            observation=x,
            action=u,
            reward=-(np.sum(x**2, -1) + 0.1 * u[:, 0] ** 2),
            discount=np.where(terminal, 0.0, 0.99),
            next_observation=y,
            valid=np.ones(n_per_step),
            time=np.full(n_per_step, t),
        )
    )
  items = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  items = {k: jnp.asarray(v, jnp.float32) for k, v in items.items()}
  items["time"] = items["time"].astype(jnp.int32)
  return items


def test_linear_gaussian_fit_recovers_a_known_time_varying_system():
  model = linear_gaussian.LinearGaussianModel(
      observation_size=DX,
      action_size=DU,
      num_time_steps=2,
      memory_steps=1e12,  # no forgetting here
      prior_strength=1.0,
  )
  items = _simulated_items(20_000)
  # an invalid item must not count
  items["valid"] = items["valid"].at[0].set(0.0)
  items["next_observation"] = items["next_observation"].at[0].set(99.0)
  state = jax.jit(model.observe)(model.init(), items)
  fit = jax.jit(model.fit)(state.statistics)
  np.testing.assert_allclose(fit.a, A, atol=0.02)
  np.testing.assert_allclose(fit.b, B, atol=0.02)
  np.testing.assert_allclose(fit.c, C, atol=0.02)
  np.testing.assert_allclose(fit.covariance, SIGMA, atol=0.006)
  np.testing.assert_allclose(fit.terminal_probability, [0.0, 0.25], atol=0.02)
  # the quadratic reward is recovered exactly (noise-free)
  x = jnp.array([[0.3, -1.2], [2.0, 0.5]])
  u = jnp.array([[1.5], [-0.7]])
  reward = linear_gaussian.quadratic_features(x, u) @ fit.reward_weights
  np.testing.assert_allclose(
      reward, -(jnp.sum(x**2, -1) + 0.1 * u[:, 0] ** 2), atol=1e-2
  )


def test_linear_gaussian_slice_without_data_falls_back_to_the_pooled_fit():
  model = linear_gaussian.LinearGaussianModel(
      observation_size=DX, action_size=DU, num_time_steps=3, memory_steps=1e12
  )
  items = _simulated_items(5_000)
  items = jax.tree.map(lambda x: x[:5_000], items)  # t = 0 only
  fit = jax.jit(lambda s: model.fit(model.observe(s, items).statistics))(
      model.init()
  )
  np.testing.assert_allclose(fit.a[2], A[0], atol=0.05)  # slice 2: no data
  np.testing.assert_allclose(fit.a[0], A[0], atol=0.05)


def test_linear_gaussian_statistics_forget_old_data():
  model = linear_gaussian.LinearGaussianModel(
      observation_size=DX, action_size=DU, num_time_steps=2, memory_steps=100.0
  )
  items = _simulated_items(50)
  state = model.observe(model.init(), items)
  state = model.observe(state, items)
  # 100 items per add forget a factor e^-1 of the old statistics
  np.testing.assert_allclose(
      state.statistics.weight, 50 * (1 + np.exp(-1.0)), rtol=1e-5
  )


def test_neural_continuous_model_loss_decreases_on_a_known_system():
  model = models.NeuralModel(
      num_actions=DU,
      observation_shape=(DX,),
      hidden_sizes=(32,),
      learning_rate=3e-3,
      action_size=DU,
  )
  items = _simulated_items(256)
  state = model.init(jax.random.PRNGKey(0))
  learn = jax.jit(model.learn)
  _, first = learn(state, items)
  for _ in range(300):
    state, metrics = learn(state, items)
  assert float(metrics["model_loss"]) < 0.3 * float(first["model_loss"])
  next_obs, reward, terminal = model.predict(
      state, jax.random.PRNGKey(1), items["observation"], items["action"], 0
  )
  assert next_obs.shape == items["observation"].shape
  assert reward.shape == terminal.shape == (items["reward"].shape[0],)


@dataclasses.dataclass(frozen=True)
class _CountingModel:
  """x' = x + 1, reward 1; terminal once x' >= 3 (x is one number)."""

  def predict(self, state, key, observation, action, time):
    del state, key, action, time
    next_x = observation + 1.0
    return next_x, jnp.ones(observation.shape[0]), next_x[:, 0] >= 3


def test_rollouts_respect_action_bounds_terminals_and_the_time_limit():
  starts = dict(
      observation=jnp.array([[0.0], [2.0], [0.0], [0.0]]),
      time=jnp.array([0, 0, 8, 0], jnp.int32),
      valid=jnp.array([1.0, 1.0, 1.0, 0.0]),
  )
  horizon = 4
  items = imagination.rollout(
      _CountingModel(),
      None,
      jax.random.PRNGKey(0),
      starts,
      lambda x, key: 100.0 * jnp.sign(x - 1.0),  # far outside the bounds
      horizon=horizon,
      low=(-2.0,),
      high=(2.0,),
      noise_sigma=0.5,
      gamma=0.9,
      max_time=jnp.array(9, jnp.int32),
  )
  assert items["action"].shape == (horizon * 4, 1)
  action = np.asarray(items["action"])
  assert np.all(action >= -2.0) and np.all(action <= 2.0)
  valid = np.asarray(items["valid"]).reshape(horizon, 4)
  discount = np.asarray(items["discount"]).reshape(horizon, 4)
  reward = np.asarray(items["reward"]).reshape(horizon, 4)
  obs = np.asarray(items["observation"]).reshape(horizon, 4)
  # start 0: x 0 -> 1 -> 2 -> 3 (terminal at step 2), nothing after
  np.testing.assert_array_equal(valid[:, 0], [1, 1, 1, 0])
  np.testing.assert_allclose(discount[:, 0], [0.9, 0.9, 0.0, 0.0])
  np.testing.assert_array_equal(obs[:3, 0], [0, 1, 2])
  # start 1: x 2 -> 3 terminal at once
  np.testing.assert_array_equal(valid[:, 1], [1, 0, 0, 0])
  np.testing.assert_allclose(discount[:, 1], [0.0, 0.0, 0.0, 0.0])
  # start 2: t = 8, 9 are steps the task has (max_time 9), t = 10 is not
  np.testing.assert_array_equal(valid[:, 2], [1, 1, 0, 0])
  # start 3: an invalid start never steps
  np.testing.assert_array_equal(valid[:, 3], [0, 0, 0, 0])
  assert np.all(reward[valid == 0] == 0.0) and np.all(discount[valid == 0] == 0)
  np.testing.assert_array_equal(
      np.asarray(items["time"]).reshape(horizon, 4)[:, 2], [8, 9, 10, 11]
  )


def test_episode_times_count_steps_per_environment():
  # T = 3, B = 2; env 1's item 0 is an action at a LAST step
  valid = jnp.array([1.0, 0.0, 1.0, 1.0, 1.0, 1.0])
  clock = jnp.array([5, 7, 0], jnp.int32)
  clock, times = imagination.episode_times(clock, valid, 3)
  np.testing.assert_array_equal(times, [5, 7, 6, 0, 7, 1])
  np.testing.assert_array_equal(clock, [8, 2, 0])
  with pytest.raises(ValueError, match="chunks of 4 steps"):
    imagination.episode_times(clock, valid, 4)


def _config(**overrides):
  c = ml_collections.ConfigDict(
      dict(
          replay="imagination",
          replay_capacity=1_000,
          imagination_ratio=0.5,
          imagination_model="linear_gaussian",
          imagination_replay="uniform",
          imagination_horizon=3,
          imagination_capacity=300,
          model_time_steps=20,
          model_memory_steps=1_000.0,
          model_prior_strength=10.0,
          model_hidden_sizes=(16,),
          model_learning_rate=1e-3,
          exploration_sigma=0.2,
          gamma=0.9,
          batch_size=8,
          num_updates=2,
          rollout_length=5,
          num_envs=2,
      )
  )
  c.update(overrides)
  return c


SPECS = types.EnvSpecs(
    observation=dm_specs.Array((DX,), np.float32),
    action=dm_specs.BoundedArray((DU,), np.float32, -1.0, 1.0),
)


@pytest.mark.parametrize("kind", ["linear_gaussian", "neural"])
def test_imagination_replay_rolls_out_under_the_policy(kind):
  buffer = replay_lib.make_replay(_config(imagination_model=kind), SPECS)
  assert buffer.rollouts.starts == 3  # 2 updates x 4 imagined / horizon 3
  example = dict(
      observation=jnp.zeros((DX,)),
      action=jnp.zeros((DU,)),
      reward=jnp.zeros(()),
      discount=jnp.zeros(()),
      next_observation=jnp.zeros((DX,)),
      valid=jnp.zeros(()),
  )
  state = buffer.init(example, jax.random.PRNGKey(0))
  items = _simulated_items(5)  # 10 items: T = 5 x B = 2
  items = {k: v for k, v in items.items() if k != "time"}
  state = jax.jit(buffer.add)(state, items)
  np.testing.assert_array_equal(state.rollout.clock, [5, 5])
  assert int(state.rollout.max_time) == 4
  seen = []

  def policy(observation, key):
    del key
    seen.append(observation.shape)
    return jnp.full((observation.shape[0], DU), 5.0)

  state, metrics = jax.jit(buffer.train, static_argnums=2)(
      state, jax.random.PRNGKey(1), policy
  )
  assert seen == [(3, DX)]
  assert 0.0 < float(metrics["imagined_valid"]) <= 1.0
  imagined = state.rollout.imagined
  assert int(imagined.size) == 9
  assert np.all(np.asarray(imagined.storage["action"])[:9] <= 1.0)
  sample = buffer.sample(state, jax.random.PRNGKey(2), 8)
  assert sample.items["observation"].shape == (8, DX)
  np.testing.assert_array_equal(sample.indices[4:], replay_lib.NO_INDEX)
  with pytest.raises(ValueError, match="current policy"):
    buffer.train(state, jax.random.PRNGKey(1))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(imagination_horizon=0), "imagination_horizon=0 is not allowed"),
        (dict(imagination_horizon=-2), "imagination_horizon=-2 is not allowed"),
        (dict(imagination_capacity=0), "imagination_capacity=0"),
        (dict(model_time_steps=0), "model_time_steps=0"),
        (dict(model_memory_steps=0.0), "model_memory_steps=0.0"),
        (dict(imagination_capacity=5), "cannot hold one learn call"),
        (dict(imagination_model="tabular"), "use linear_gaussian, neural"),
    ],
)
def test_bad_rollout_settings_are_user_errors(overrides, message):
  with pytest.raises(UserError, match=message):
    replay_lib.make_replay(_config(**overrides), SPECS)


def test_linear_gaussian_model_refuses_discrete_actions():
  specs = types.EnvSpecs(
      observation=dm_specs.Array((DX,), np.float32),
      action=dm_specs.DiscreteArray(3),
  )
  with pytest.raises(UserError, match="discrete: use neural or tabular"):
    replay_lib.make_replay(_config(), specs)


def _reproduce_naf_flags(*argv):
  fv = flags.FlagValues()
  holders = reproduce_naf.define_flags(fv)
  fv(["reproduce_naf", *argv])
  return reproduce_naf, holders


def test_reproduce_naf_runs_the_imagination_variants_by_name(tmp_path):
  script, flag = _reproduce_naf_flags(
      f"--workdir={tmp_path}", "--variants=naf,naf+lg-r0.25"
  )
  args = script.check_inputs(flag)
  names = [v.name for v in args["variants"]]
  assert names == ["naf", "naf+lg-r0.25"]
  assert args["variants"][1].overrides == dict(
      replay="imagination",
      imagination_model="linear_gaussian",
      imagination_ratio=0.25,
  )
  script, flag = _reproduce_naf_flags(f"--workdir={tmp_path}", "--variants=x")
  with pytest.raises(UserError, match="--variants=x is not allowed"):
    script.check_inputs(flag)
