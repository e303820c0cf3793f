"""The ensemble model of imagination rollouts (agents/replay/models.py
EnsembleModel: delta prediction, one random member per row, the
disagreement stop) and the imagination stop (agents/replay/imagination.py,
config.imagination_stop_env_steps)."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from dm_env import specs as dm_specs

from agents import replay as replay_lib
from agents import types
from agents.replay import imagination
from agents.replay import models
from agents.runtime.errors import UserError
from configs import naf as naf_config

DX, DU = 2, 1
SPECS = types.EnvSpecs(
    observation=dm_specs.Array((DX,), np.float32),
    action=dm_specs.BoundedArray((DU,), np.float32, -1.0, 1.0),
)


def _items(n: int, seed: int = 0):
  """n transitions of x' = 0.9 x + 0.5 u, reward -|x|^2, never terminal."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, DX)).astype(np.float32)
  u = rng.uniform(-1, 1, size=(n, DU)).astype(np.float32)
  items = dict(
      observation=x,
      action=u,
      reward=-np.sum(x**2, -1),
      discount=np.full(n, 0.9),
      next_observation=0.9 * x + 0.5 * u,
      valid=np.ones(n),
  )
  return {k: jnp.asarray(v, jnp.float32) for k, v in items.items()}


def _ensemble(bound: float = 0.0, size: int = 3):
  member = models.NeuralModel(
      num_actions=DU,
      observation_shape=(DX,),
      hidden_sizes=(16,),
      learning_rate=3e-3,
      action_size=DU,
  )
  return models.EnsembleModel(member, size=size, disagreement_bound=bound)


def test_ensemble_members_learn_deltas_and_predict_picks_one_per_row():
  model = _ensemble()
  items = _items(128)
  state = model.init(jax.random.PRNGKey(0))
  assert jax.tree.leaves(state.params)[0].shape[0] == 3
  x, u = items["observation"], items["action"]
  outs, rewards, _ = model.members(state, x, u)
  # distinct initialisations: the members disagree before learning
  assert float(jnp.max(jnp.abs(outs[0] - outs[1]))) > 1e-3
  # predictions are s + Delta: a zeroed output layer predicts s' = s
  zeroed = state.replace(params=jax.tree.map(jnp.zeros_like, state.params))
  same, _, _ = model.members(zeroed, x, u)
  np.testing.assert_allclose(same, jnp.broadcast_to(x, same.shape))
  next_obs, reward, terminal = model.predict(
      state, jax.random.PRNGKey(1), x, u, jnp.zeros(128, jnp.int32)
  )
  assert terminal.shape == (128,) and terminal.dtype == bool
  # every row is one member's prediction, and more than one member is used
  match = jnp.all(jnp.isclose(outs, next_obs[None]), -1)  # [K, n]
  assert bool(jnp.all(jnp.any(match, 0)))
  picked = jnp.argmax(match, 0)
  np.testing.assert_allclose(reward, rewards[picked, jnp.arange(128)])
  assert len(np.unique(np.asarray(picked))) == 3
  learn = jax.jit(model.learn)
  _, first = learn(state, items)
  for _ in range(200):
    state, metrics = learn(state, items)
  assert float(metrics["model_loss"]) < 0.3 * float(first["model_loss"])


def test_disagreement_is_the_members_spread_and_stops_rollouts():
  model = _ensemble()
  state = model.init(jax.random.PRNGKey(0))
  x = _items(4)["observation"]
  u = jnp.zeros((4, DU))  # the rollouts' actions below (no noise)
  outs, rewards, _ = model.members(state, x, u)
  joint = np.concatenate([np.asarray(outs), np.asarray(rewards)[..., None]], -1)
  expected = np.sqrt(np.mean(np.var(joint, 0), -1))
  spread = model.disagreement(state, x, u)
  np.testing.assert_allclose(spread, expected, rtol=1e-5)
  assert np.all(np.asarray(model.trust(state, x, u)))  # 0: no bound

  starts = dict(
      observation=x,
      time=jnp.zeros(4, jnp.int32),
      valid=jnp.ones(4),
  )

  def valid_of(bound):
    items = imagination.rollout(
        _ensemble(bound),
        state,
        jax.random.PRNGKey(2),
        starts,
        lambda obs, key: jnp.zeros((obs.shape[0], DU)),
        horizon=3,
        low=(-1.0,),
        high=(1.0,),
        noise_sigma=0.0,
        gamma=0.9,
        max_time=jnp.array(100, jnp.int32),
    )
    return np.asarray(items["valid"]).reshape(3, 4)

  # (the untrained members predict terminals too: the same key draws the
  # same ones in every call)
  unbounded = valid_of(0.0)
  np.testing.assert_array_equal(unbounded[0], np.ones(4))
  # a bound below every first step's spread: nothing is trusted
  np.testing.assert_array_equal(valid_of(1e-9), np.zeros((3, 4)))
  # a bound between the starts' spreads: the widest start stops at once,
  # the others start, and a stopped rollout never resumes
  bound = float(np.sort(expected)[-2]) * 1.0001
  valid = valid_of(bound)
  assert valid[0, np.argmax(expected)] == 0 and np.sum(valid[0]) == 3
  assert np.all(valid <= unbounded)
  assert np.all(np.diff(valid, axis=0) <= 0)


def _config(**overrides):
  c = ml_collections.ConfigDict(
      dict(
          replay="imagination",
          replay_capacity=1_000,
          imagination_ratio=0.5,
          imagination_model="ensemble",
          imagination_replay="uniform",
          imagination_horizon=2,
          imagination_capacity=300,
          imagination_stop_env_steps=0,
          model_ensemble_size=2,
          model_disagreement_bound=0.0,
          model_hidden_sizes=(8,),
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


def test_imagined_items_stop_after_the_stop_env_steps_and_models_step():
  stop = 20
  buffer = replay_lib.make_replay(
      _config(imagination_stop_env_steps=stop, model_train_steps=2), SPECS
  )
  assert isinstance(buffer.model, models.EnsembleModel)
  state = buffer.init(
      jax.tree.map(lambda v: v[0], _items(1)), jax.random.PRNGKey(0)
  )
  add = jax.jit(buffer.add)
  train = jax.jit(buffer.train, static_argnums=2)
  sample = jax.jit(buffer.sample, static_argnums=2)

  def policy(observation, key):
    del key
    return jnp.zeros((observation.shape[0], DU))

  imagined_slots = []
  for chunk in range(3):  # 10 real items (T = 5 x B = 2) per add
    state = add(state, _items(10, seed=chunk))
    state, metrics = train(state, jax.random.PRNGKey(chunk), policy)
    indices = np.asarray(sample(state, jax.random.PRNGKey(9), 8).indices)
    imagined_slots.append(int(np.sum(indices == replay_lib.NO_INDEX)))
    assert float(metrics["imagining"]) == float(chunk == 0)
  assert int(state.rollout.added) == 30
  # model_train_steps: 2 Adam steps of each member per train call
  np.testing.assert_array_equal(state.model.opt_state[0].count, [6, 6])
  # 10 items: still imagining; 20 and 30: every item is real
  assert imagined_slots == [4, 0, 0]
  # without a stop (0), imagination never ends
  never = replay_lib.make_replay(_config(), SPECS)
  assert never.rollouts.stop_steps == 0 and bool(never.imagining(state))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(imagination_stop_env_steps=-1), "imagination_stop_env_steps=-1"),
        (dict(model_ensemble_size=0), "model_ensemble_size=0"),
        (dict(model_train_steps=0), "model_train_steps=0"),
        (dict(model_disagreement_bound=-0.5), "model_disagreement_bound=-0.5"),
    ],
)
def test_bad_ensemble_and_stop_settings_are_user_errors(overrides, message):
  with pytest.raises(UserError, match=message):
    replay_lib.make_replay(_config(**overrides), SPECS)


def test_the_ensemble_refuses_discrete_actions():
  specs = types.EnvSpecs(
      observation=dm_specs.Array((DX,), np.float32),
      action=dm_specs.DiscreteArray(3),
  )
  with pytest.raises(UserError, match="'ensemble' models continuous"):
    replay_lib.make_replay(_config(), specs)


def test_the_pendulum_imagination_preset_builds_the_ensemble():
  config = naf_config.get_config("pendulum_imagination")
  assert config.env == "pendulum" and config.agent == "naf"
  specs = types.EnvSpecs(
      observation=dm_specs.Array((3,), np.float32),
      action=dm_specs.BoundedArray((1,), np.float32, -2.0, 2.0),
  )
  buffer = replay_lib.make_replay(config, specs)
  assert isinstance(buffer.model, models.EnsembleModel)
  assert buffer.model.size == config.model_ensemble_size
  rollouts = buffer.rollouts
  assert (rollouts.horizon, rollouts.model_steps) == (1, 8)
  assert rollouts.stop_steps == 3_000 and buffer.ratio == 0.5
