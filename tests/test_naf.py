"""NAF (agents/naf.py) and the continuous hooks of the shared value-based
learner (agents/lib/value_based.py): the advantage and P against a hand
computation, soft target updates, the OU actor state, bad input, and a short
learning test on Pendulum."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import naf, types
from agents.lib import continuous
from agents.lib import value_based
from agents.runtime import train as train_lib
from agents.runtime.errors import UserError
from configs import naf as naf_config
from environments import base
from environments import pendulum
from tests.conftest import run_script

ENV = pendulum.Pendulum()
SPECS = types.EnvSpecs(ENV.observation_spec(), ENV.action_spec())


def test_lower_triangular_and_advantage_against_a_hand_computation():
  a, b, c = 0.3, -1.2, -0.5
  chol = np.asarray(naf.lower_triangular(jnp.array([a, b, c]), 2))
  np.testing.assert_allclose(
      chol, [[np.exp(a), 0.0], [b, np.exp(c)]], rtol=1e-6
  )
  p = chol @ chol.T
  assert np.all(np.linalg.eigvalsh(p) > 0)  # positive definite
  mu = np.array([0.5, -1.0], np.float32)
  u = np.array([-0.25, 0.75], np.float32)
  expected = -0.5 * (u - mu) @ p @ (u - mu)  # eq. 3, by hand
  np.testing.assert_allclose(
      naf.advantage(jnp.asarray(u), jnp.asarray(mu), jnp.asarray(chol)),
      expected,
      rtol=1e-5,
  )
  assert float(naf.advantage(mu, mu, chol)) == 0.0  # A(mu) = 0
  # A is maximal at mu: every other action on a grid is lower.
  grid = np.stack(
      np.meshgrid(np.linspace(-2, 2, 41), np.linspace(-2, 2, 41)), -1
  ).reshape(-1, 2)
  values = np.asarray(naf.advantage(jnp.asarray(grid), mu, chol))
  assert np.all(values[np.linalg.norm(grid - mu, axis=-1) > 1e-6] < 0)


def test_network_p_is_positive_definite_and_q_peaks_at_mu():
  config = naf_config.get_config("pendulum")
  config.hidden_sizes = (16,)
  network = naf.make_network(config, SPECS)
  obs = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
  params = network.init(jax.random.PRNGKey(1), obs[0])
  value, mu, chol = network.apply(params, obs)
  p = np.asarray(chol @ jnp.swapaxes(chol, -1, -2))
  assert np.all(np.linalg.eigvalsh(p) > 0)
  assert np.all(np.abs(np.asarray(mu)) <= 2.0)  # inside the bounds
  np.testing.assert_allclose(
      naf.q_value(network, params, obs, mu), value, rtol=1e-6
  )
  np.testing.assert_array_equal(naf.policy(network, params, obs), mu)
  actions = jnp.linspace(-2.0, 2.0, 81)[:, None, None]  # [81, 1, 1]
  q = naf.q_value(network, params, obs[None], actions)  # [81, 5]
  best = np.asarray(actions[jnp.argmax(q, axis=0), 0, 0])
  np.testing.assert_allclose(best, np.asarray(mu[:, 0]), atol=0.05)


def _chunk(key, num_envs=4, length=4):
  """A [T+1, B] Pendulum chunk under random actions."""
  reset_key, action_key = jax.random.split(key)
  env_state, ts = jax.vmap(ENV.reset)(jax.random.split(reset_key, num_envs))

  def step(carry, k):
    env_state, _ = carry
    action = jax.random.uniform(k, (num_envs, 1), minval=-2.0, maxval=2.0)
    env_state, next_ts = jax.vmap(ENV.step)(env_state, action)
    return (env_state, next_ts), (next_ts, action)

  _, (timesteps, actions) = jax.lax.scan(
      step, (env_state, ts), jax.random.split(action_key, length)
  )
  timestep = jax.tree.map(
      lambda f, r: jnp.concatenate([f[None], r]), ts, timesteps
  )
  return types.Trajectory(
      timestep=timestep, action=actions, extras={}, actor_state=()
  )


def _learner(agent):
  learn = jax.vmap(agent.learn, axis_name=types.DEVICE_AXIS)
  return jax.jit(
      lambda s, t, k: jax.tree.map(
          lambda x: x[0], learn(*jax.tree.map(lambda x: x[None], (s, t, k)))
      )
  )


def _small_agent(**overrides):
  config = naf_config.get_config("pendulum")
  config.update(
      dict(
          hidden_sizes=(16,),
          min_replay_size=1,
          batch_size=8,
          num_updates=1,
          replay_capacity=64,
      )
  )
  config.update(overrides)
  run = types.RunInfo(learn_calls=10, env_steps_per_learn_call=16)
  return config, naf.make_agent(config, SPECS, run)


@pytest.mark.parametrize("replay", ["uniform", "prioritized"])
def test_soft_target_update_against_a_hand_computation(replay):
  tau = 0.25
  _, agent = _small_agent(target_update_tau=tau, replay=replay)
  learn = _learner(agent)
  state = agent.init(jax.random.PRNGKey(0), SPECS)
  target = state.target_params
  for step in range(1, 4):
    key = jax.random.PRNGKey(step)
    new, _ = learn(state, _chunk(key), jax.random.fold_in(key, 1))
    assert int(new.gradient_steps) == step
    expected = jax.tree.map(
        lambda p, t: tau * p + (1 - tau) * t, new.params, target
    )
    for got, want, old in zip(
        jax.tree.leaves(new.target_params),
        jax.tree.leaves(expected),
        jax.tree.leaves(state.params),
    ):
      np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
      assert not np.allclose(got, old)  # not a copy of theta
    state, target = new, new.target_params


def test_tau_one_is_a_copy_every_step():
  _, agent = _small_agent(target_update_tau=1.0)
  state = agent.init(jax.random.PRNGKey(0), SPECS)
  key = jax.random.PRNGKey(3)
  state, _ = _learner(agent)(state, _chunk(key), key)
  for got, want in zip(
      jax.tree.leaves(state.target_params), jax.tree.leaves(state.params)
  ):
    np.testing.assert_array_equal(got, want)


def _timestep(step_type):
  return base.TimeStep(
      step_type=jnp.int32(step_type),
      reward=jnp.float32(0.0),
      discount=jnp.float32(1.0),
      observation=jnp.zeros((3,), jnp.float32),
  )


def test_ou_actor_state_resets_at_the_first_step_of_an_episode():
  theta, sigma = 0.15, 0.3
  mean = jnp.array([0.5])
  acting = value_based.continuous_acting(
      lambda params, obs: mean,
      SPECS.action,
      noise="ou",
      sigma=sigma,
      ou_theta=theta,
  )
  state = acting.initial_actor_state(jax.random.PRNGKey(0))
  np.testing.assert_array_equal(state, [0.0])
  key = jax.random.PRNGKey(7)
  eps = np.asarray(jax.random.normal(key, (1,)))
  prev = jnp.array([0.8])
  # mid-episode: n' = n - theta n + sigma eps, u = mu + (high - low)/2 n'
  action, new, _ = acting.act(None, prev, _timestep(base.MID), key)
  want = 0.8 - theta * 0.8 + sigma * eps
  np.testing.assert_allclose(new, want, rtol=1e-6)
  np.testing.assert_allclose(action, np.clip(0.5 + 2.0 * want, -2, 2))
  # first step of an episode: the old noise is forgotten, n' = sigma eps
  action, new, _ = acting.act(None, prev, _timestep(base.FIRST), key)
  np.testing.assert_allclose(new, sigma * eps, rtol=1e-6)
  np.testing.assert_allclose(action, np.clip(0.5 + 2.0 * sigma * eps, -2, 2))
  # evaluation: mu itself, the state untouched
  action, new, _ = acting.act(
      None, prev, _timestep(base.MID), key, evaluation=True
  )
  np.testing.assert_array_equal(action, mean)
  np.testing.assert_array_equal(new, prev)


def test_gaussian_acting_has_no_state_and_stays_in_bounds():
  acting = value_based.continuous_acting(
      lambda params, obs: jnp.array([1.9]),
      SPECS.action,
      noise="gaussian",
      sigma=1.0,
  )
  assert acting.initial_actor_state(jax.random.PRNGKey(0)) == ()
  actions = jax.vmap(lambda k: acting.act(None, (), _timestep(base.MID), k)[0])(
      jax.random.split(jax.random.PRNGKey(1), 500)
  )
  assert float(actions.min()) >= -2.0 and float(actions.max()) <= 2.0
  assert float(jnp.std(actions)) > 0.3


def test_a_task_without_finite_bounds_is_refused():
  from dm_env import specs as dm_specs

  config = naf_config.get_config("pendulum")
  unbounded = types.EnvSpecs(
      SPECS.observation, dm_specs.Array((1,), np.float32)
  )
  with pytest.raises(UserError, match="no bounds"):
    naf.make_agent(config, unbounded, types.RunInfo(1, 16))


@pytest.mark.parametrize("tau", [0.0, -0.1, 1.5])
def test_tau_outside_the_unit_interval_is_refused(tau):
  config = naf_config.get_config("pendulum")
  config.target_update_tau = tau
  with pytest.raises(UserError, match="target_update_tau"):
    train_lib.validate_config(config)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--config=configs/dqn.py:catch", "--config.env=pendulum"],
            "cannot act in task 'pendulum'",
        ),
        (
            ["--config=configs/naf.py:pendulum", "--config.env=catch"],
            "cannot act in task 'catch'",
        ),
        (
            ["--config=configs/naf.py", "--config.target_update_tau=0"],
            "target_update_tau",
        ),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(args, message, tmp_path):
  workdir = tmp_path / "out"
  proc = run_script(["-m", "scripts.train", f"--workdir={workdir}", *args])
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert proc.returncode == 2, proc.stderr
  assert len(errors) == 1 and message in errors[0], proc.stderr
  assert "Traceback" not in proc.stderr
  assert not workdir.exists()


@pytest.mark.slow
def test_naf_learns_pendulum_clearly_better_than_random(tmp_path):
  """A short run (2 seeds, 8k env steps): the greedy return must beat the
  random policy's (about -1200 here) by far on both seeds."""
  config = naf_config.get_config("pendulum")
  config.update(
      dict(
          num_seeds=2,
          total_env_steps=8_000,
          log_every_env_steps=4_000,
          eval_episodes=20,
      )
  )
  result = train_lib.train(config, str(tmp_path / "run"), log=lambda _: None)
  per_seed = result.summary["eval_return_per_seed"]
  assert all(r > -600 for r in per_seed), per_seed
