"""Learning tests: the reference agents solve their tasks with fixed seeds."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents.lib import optimizers
from agents.lib import value_based
from agents.runtime import loops
from agents.runtime import train
from configs import a2c, dqn, qr_dqn

pytestmark = pytest.mark.slow


def test_dqn_solves_catch(tmp_path):
  config = dqn.get_config("catch")  # the `make run` job
  config.seed = 0
  summary = train.train(config, str(tmp_path), log=lambda _: None).summary
  assert summary["eval_return_mean"] >= 0.9, summary


@pytest.mark.parametrize("config_module", [dqn, qr_dqn])
def test_value_based_agents_solve_cartpole(config_module, tmp_path):
  """The shared CartPole preset (configs/dqn.py) balances all 500 steps."""
  config = config_module.get_config("cartpole")
  config.seed = 0
  config.eval_episodes = 20
  summary = train.train(config, str(tmp_path), log=lambda _: None).summary
  assert summary["eval_return_mean"] >= 475, summary


def test_learning_rate_anneal_reaches_zero_at_the_last_gradient_step():
  config = dqn.get_config("cartpole")
  assert config.anneal_learning_rate
  agent, loop = train.build_loop(config)
  del agent
  loop.close()
  run = loops.run_info(
      config,
      env_steps_per_segment=loop.env_steps_per_segment,
      learn_calls_per_segment=loop.iterations_per_segment,
  )
  steps = value_based.learning_rate_anneal_steps(config, run)
  # 400k env steps, 8 envs x 4 steps per learn call, 4 updates per call.
  assert steps == config.total_env_steps // 32 * 4 == 50_000
  config.anneal_learning_rate = False
  assert value_based.learning_rate_anneal_steps(config, run) == 0
  # The optimizer built with it stops moving the parameters after `steps`.
  opt = optimizers.make_optimizer("adam", 0.1, anneal_steps=3)
  params = jnp.ones(2)
  state = opt.init(params)
  moved = []
  for _ in range(5):
    updates, state = opt.update(jnp.ones(2), state, params)
    moved.append(float(jnp.abs(updates).max()))
    params = optax.apply_updates(params, updates)
  assert moved[0] > 0.09 and moved[1] > 0 and moved[2] > 0, moved
  np.testing.assert_allclose(moved[3:], 0.0)


def test_a2c_solves_cartpole(tmp_path):
  config = a2c.get_config("cartpole")
  config.seed = 0
  summary = train.train(config, str(tmp_path), log=lambda _: None).summary
  assert summary["eval_return_mean"] >= 475, summary
  assert summary["eval_episodes_unfinished"] == 0
