"""R2D2: its loss against hand / rlax numbers, the stored recurrent state,
burn-in, bad input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

from agents import r2d2
from agents import replay
from agents import types
from agents.lib import recurrent
from agents.replay import sequence
from agents.runtime import train
from agents.runtime.errors import UserError
from configs import dqn as dqn_config
from configs import r2d2 as r2d2_config
from tests.conftest import run_script
from environments import base
from environments import registry

MID, LAST, FIRST = base.MID, base.LAST, base.FIRST


def _window():
  q_online = jnp.array(
      [[0.0, 1.0], [2.0, 1.0], [0.5, 3.0], [1.0, 4.0], [6.0, 5.0]]
  )
  q_target = jnp.array(
      [[9.0, 9.0], [1.5, 2.5], [3.5, 0.5], [7.0, 2.0], [4.0, 8.0]]
  )
  actions = jnp.array([1, 0, 1, 1, 0])
  rewards = jnp.array([0.0, 1.0, -1.0, 2.0, 0.5])
  return q_online, q_target, actions, rewards


class SequenceTdErrorsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_hand_computed_n_step_double_q(self):
    q_online, q_target, actions, rewards = _window()
    g = 0.9
    fn = self.variant(
        lambda *a: r2d2.sequence_td_errors(*a, gamma=g, n_step=2, burn_in=1)
    )
    delta, valid = fn(
        q_online, q_target, actions, rewards, jnp.ones(5), jnp.full((5,), MID)
    )
    # Double Q: argmax of the online Q at steps 2, 3, 4 is 1, 1, 0; the
    # target network values those actions at 0.5, 2.0, 4.0.
    v2, v3, v4 = 0.5, 2.0, 4.0
    del v2
    expected = [
        -1.0 + g * 2.0 + g**2 * v3 - 2.0,  # t=1: r2 + g r3 + g^2 v3 - Q(1, 0)
        2.0 + g * 0.5 + g**2 * v4 - 3.0,  # t=2: a=1
        0.5 + g * v4 - 4.0,  # t=3: cut by the window's end
    ]
    np.testing.assert_allclose(delta, expected, rtol=1e-6)
    np.testing.assert_array_equal(valid, [1.0, 1.0, 1.0])

  @chex.variants(with_jit=True, without_jit=True)
  def test_episode_boundaries_inside_the_window(self):
    q_online, q_target, actions, rewards = _window()
    g = 0.9
    fn = self.variant(
        lambda *a: r2d2.sequence_td_errors(*a, gamma=g, n_step=3, burn_in=0)
    )
    step_types = jnp.array([FIRST, MID, LAST, FIRST, MID])
    rewards = rewards.at[3].set(0.0)  # FIRST steps carry reward 0
    v = {2: 0.5, 4: 4.0}  # target Q at the double-Q argmax
    for discount_at_last, name in ((1.0, "truncated"), (0.0, "terminated")):
      discounts = jnp.ones(5).at[2].set(discount_at_last)
      delta, valid = fn(
          q_online, q_target, actions, rewards, discounts, step_types
      )
      d = discount_at_last
      expected = [
          1.0 + g * (-1.0 + g * d * v[2]) - 1.0,  # stops at LAST (step 2)
          -1.0 + g * d * v[2] - 2.0,  # bootstraps from LAST only
          0.0,  # the action at LAST: masked (its value is irrelevant)
          0.5 + g * v[4] - 4.0,  # the new episode, cut by the window's end
      ]
      np.testing.assert_array_equal(valid, [1.0, 1.0, 0.0, 1.0])
      np.testing.assert_allclose(
          np.asarray(delta)[[0, 1, 3]],
          np.asarray(expected)[[0, 1, 3]],
          rtol=1e-6,
          err_msg=name,
      )

  @chex.variants(with_jit=True, without_jit=True)
  def test_matches_rlax_transformed_n_step_q_learning(self):
    q_online, q_target, actions, rewards = _window()
    q_online, q_target = 10 * q_online, 10 * q_target
    discounts = jnp.array([1.0, 1.0, 1.0, 0.0, 1.0])  # terminal at step 3
    step_types = jnp.array([MID, MID, MID, MID, MID])
    tx = rlax.SIGNED_HYPERBOLIC_PAIR
    for burn_in in (0, 2):
      delta, _ = self.variant(
          lambda *a, b=burn_in: r2d2.sequence_td_errors(
              *a, gamma=0.97, n_step=2, burn_in=b, tx_pair=tx
          )
      )(q_online, q_target, actions, rewards, discounts, step_types)
      reference = rlax.transformed_n_step_q_learning(
          q_online[burn_in:-1],
          actions[burn_in:-1],
          q_target[burn_in + 1 :],
          jnp.argmax(q_online[burn_in + 1 :], -1),
          rewards[burn_in + 1 :],
          0.97 * discounts[burn_in + 1 :],
          2,
          tx_pair=tx,
      )
      np.testing.assert_allclose(delta, reference, rtol=1e-5)


def test_sequence_priority_mixes_max_and_mean():
  delta = jnp.array([[1.0, -3.0, 2.0, 100.0]])
  valid = jnp.array([[1.0, 1.0, 1.0, 0.0]])
  p = r2d2.sequence_priority(delta, valid, eta=0.9)
  np.testing.assert_allclose(p, [0.9 * 3.0 + 0.1 * 2.0], rtol=1e-6)


def _small_config(**overrides):
  c = r2d2_config.get_config("memory_len")
  c.env_kwargs.memory_length = 3
  c.num_envs = 2
  c.num_devices = 1
  c.rollout_length = 4
  c.hidden_sizes = (8,)
  c.lstm_size = 8
  c.sequence_length = 6
  c.sequence_period = 3
  c.burn_in = 2
  c.replay_capacity = 48  # 24 steps per environment
  c.batch_size = 4
  c.min_replay_size = 10**6  # never learn: the parameters stay fixed
  c.update(overrides)
  return c


def _build(config):
  env = registry.make(config.env, **config.env_kwargs.to_dict())
  specs = types.EnvSpecs(env.observation_spec(), env.action_spec())
  agent, loss = r2d2.make_agent_with_buffer(
      config,
      specs,
      replay.make_replay(config, specs, num_envs=2),
      types.RunInfo(
          learn_calls=config.total_env_steps
          // (config.num_envs * config.rollout_length),
          env_steps_per_learn_call=config.num_envs * config.rollout_length,
      ),
  )
  return env, specs, agent, loss


def test_stored_state_is_the_actors_state_at_the_window_start():
  config = _small_config()
  env, specs, agent, _ = _build(config)
  num_envs, chunk, num_chunks = 2, config.rollout_length, 9
  state = agent.init(jax.random.PRNGKey(0), specs)
  env_state, timestep = jax.vmap(env.reset)(
      jax.random.split(jax.random.PRNGKey(1), num_envs)
  )
  actor_state = jax.vmap(lambda _: agent.initial_actor_state())(
      jnp.arange(num_envs)
  )
  act = jax.vmap(agent.act, in_axes=(None, 0, 0, 0))
  buffer = replay.make_replay(config, specs, num_envs=2)
  add = jax.jit(
      lambda replay_state, trajectory: buffer.add(
          replay_state, r2d2.sequence_items_from_trajectory(trajectory)
      )
  )
  replay_state = state.replay  # what learn adds to (`learn` = add + update)

  @jax.jit
  def rollout(params, env_state, timestep, actor_state, key):
    def step(carry, key):
      env_state, timestep, actor_state = carry
      # What the actor's LSTM is fed at this step: its state, reset at FIRST.
      fed = recurrent.reset_at_first(actor_state, timestep.first())
      action, actor_state, extras = act(
          params, actor_state, timestep, jax.random.split(key, num_envs)
      )
      env_state, next_timestep = jax.vmap(env.step)(env_state, action)
      return (env_state, next_timestep, actor_state), (
          next_timestep,
          action,
          extras,
          fed,
      )

    (env_state, last, actor_state_out), (steps, actions, extras, fed) = (
        jax.lax.scan(
            step,
            (env_state, timestep, actor_state),
            jax.random.split(key, chunk),
        )
    )
    trajectory = types.Trajectory(
        timestep=jax.tree.map(
            lambda f, r: jnp.concatenate([f[None], r]), timestep, steps
        ),
        action=actions,
        extras=extras,
        actor_state=actor_state,
    )
    return env_state, last, actor_state_out, trajectory, fed

  fed_stream = []
  for k in range(num_chunks):
    params = agent.actor_params(state)
    env_state, timestep, actor_state, trajectory, fed = rollout(
        params, env_state, timestep, actor_state, jax.random.PRNGKey(10 + k)
    )
    fed_stream.append(fed)
    replay_state = add(replay_state, trajectory)
  # [time, env, ...] over the whole stream.
  fed_stream = jax.tree.map(lambda *x: jnp.concatenate(x), *fed_stream)
  assert int(replay_state.written) == num_chunks * chunk
  sample = buffer.sample(replay_state, jax.random.PRNGKey(5), 64)
  env_index, start = buffer.window_starts(replay_state, sample.indices)
  assert len(set(np.asarray(start).tolist())) > 2
  expected = jax.tree.map(lambda x: x[start, env_index], fed_stream)
  chex.assert_trees_all_equal(sample.items.recurrent_state, expected)
  # The actor did carry memory across steps: states differ from zeros.
  assert float(jnp.abs(expected.core[1]).max()) > 0


def test_burn_in_refreshes_the_state_without_gradient():
  config = _small_config()
  _, specs, agent, _ = _build(config)
  state = agent.init(jax.random.PRNGKey(0), specs)
  rng = np.random.default_rng(0)
  batch, length = 3, config.sequence_length
  window = sequence.Sequence(
      step=dict(
          observation=jnp.asarray(
              rng.normal(size=(batch, length, 1, 3)), jnp.float32
          ),
          action=jnp.asarray(rng.integers(2, size=(batch, length)), jnp.int32),
          reward=jnp.asarray(rng.normal(size=(batch, length)), jnp.float32),
          discount=jnp.ones((batch, length)),
          step_type=jnp.full((batch, length), MID, jnp.int32),
      ),
      episode_start=jnp.zeros((batch, length), bool),
      recurrent_state=recurrent.ActorState(
          core=(
              jnp.asarray(rng.normal(size=(batch, 8)), jnp.float32),
              jnp.asarray(rng.normal(size=(batch, 8)), jnp.float32),
          ),
          previous_action=jnp.zeros((batch, 2)),
      ),
  )
  weights = jnp.array([1.0, 0.5, 0.0])

  def loss_of(core, observation, burn_in):
    items = window.replace(
        step=dict(window.step, observation=observation),
        recurrent_state=window.recurrent_state.replace(core=core),
    )
    sample = replay.ReplaySample(
        items=items, indices=jnp.arange(batch), weights=weights
    )
    loss_fn = _build(_small_config(burn_in=burn_in))[3]
    return loss_fn(state.params, state.target_params, sample)[0]

  core, observation = window.recurrent_state.core, window.step["observation"]
  grad = jax.jit(jax.grad(loss_of, argnums=(0, 1)), static_argnums=2)
  core_0, observation_0 = grad(core, observation, 0)
  core_2, observation_2 = grad(core, observation, 2)
  # Without burn-in the loss depends on the stored state and every step but
  # the last (which only supplies the bootstrap: argmax and target net).
  assert float(jnp.abs(core_0[0][:2]).min()) > 0
  assert float(jnp.abs(observation_0[:2, :-1]).max(axis=(2, 3)).min()) > 0
  np.testing.assert_array_equal(observation_0[:, -1], 0.0)
  # With it, no gradient reaches the stored state or the burn-in steps'
  # inputs: the burn-in only produces a start state...
  chex.assert_trees_all_equal(core_2, jax.tree.map(jnp.zeros_like, core))
  np.testing.assert_array_equal(observation_2[:, :2], 0.0)
  # ... and the steps after it are learned from.
  assert float(jnp.abs(observation_2[:2, 2:-1]).max(axis=(2, 3)).min()) > 0
  # Importance weights scale each window's loss: weight 0 -> no gradient.
  np.testing.assert_array_equal(observation_0[2], 0.0)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(replay="uniform"), "replay='sequence'"),
        (dict(burn_in=23), "burn_in"),
        (dict(replay_capacity=300), "smaller than the sequence window"),
        (dict(batch_size=200, replay_capacity=2000), "smaller than the batch"),
        (dict(sequence_period=30), "sequence_period"),
    ],
)
def test_bad_r2d2_configs_are_user_errors(overrides, message):
  config = r2d2_config.get_config("memory_len")
  config.update(overrides)
  with pytest.raises(UserError, match=message):
    train.build_loop(config)


def test_sequence_replay_with_a_feed_forward_agent_is_a_user_error():
  config = dqn_config.get_config("catch")
  config.replay = "sequence"
  with pytest.raises(UserError, match="recurrent agent"):
    train.build_loop(config)


def test_forget_gate_starts_open():
  config = _small_config()
  _, specs, agent, _ = _build(config)
  lstm = agent.init(jax.random.PRNGKey(0), specs).params["params"]["lstm"]
  np.testing.assert_array_equal(lstm["hf"]["bias"], config.forget_bias)
  np.testing.assert_array_equal(lstm["hi"]["bias"], 0.0)
  assert config.forget_bias == 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--config=configs/dqn.py:catch", "--config.replay=sequence"],
            "needs a recurrent agent",
        ),
        (
            [
                "--config=configs/r2d2.py:memory_len",
                "--config.replay_capacity=300",
            ],
            "smaller than the sequence window",
        ),
    ],
)
def test_script_refuses_bad_sequence_replay_input(tmp_path, args, message):
  workdir = tmp_path / "run"
  proc = run_script(["-m", "scripts.train", f"--workdir={workdir}", *args])
  assert proc.returncode == 2, (proc.stdout, proc.stderr)
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and message in lines[0], proc.stderr
  assert "Traceback" not in proc.stderr
  assert not workdir.exists()
