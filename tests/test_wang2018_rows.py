"""End-to-end smoke tests of reproduce_wang2018's rows units, reversal and
two_step_rpe (Wang et al. 2018 Figs. 2, 4, 5) on small untrained meta-A2C
agents: the experiments run on recorded rollouts, the runner's aggregation
over seeds reads their results, and the headlines and figures are made."""

import jax
import jax.numpy as jnp
import pytest

from agents import types
from agents.analysis import figures
from agents.analysis import seed_stats
from agents.runtime import workdir as workdir_lib
from agents.analysis import wang2018_rpe as rpe
from agents.runtime import train as train_lib
from configs import meta_a2c

pytestmark = pytest.mark.slow  # compiles three recorded rollouts


def _untrained(preset, **env_kwargs):
  """An untrained small meta-A2C agent, its env, and two seeds' params."""
  config = meta_a2c.get_config(preset)
  config.lstm_size = 8
  config.num_envs = 2
  config.env_kwargs.update(env_kwargs)
  config.rollout_length = meta_a2c.episode_env_steps(
      config.env, config.env_kwargs
  )
  agent, loop = train_lib.build_loop(config)
  specs = types.EnvSpecs(loop.env.observation_spec(), loop.env.action_spec())
  params = agent.actor_params(agent.init(jax.random.PRNGKey(0), specs))
  # A second "seed": other weights without a second (slow, eager) init.
  return config, agent, loop.env, [params, jax.tree.map(jnp.flipud, params)]


def test_reversal_and_two_step_rpe_rows_end_to_end(tmp_path):
  config, agent, env, params = _untrained("reversal", num_trials=30)
  reversal = rpe.reversal_experiment(
      agent, env, params, jax.random.PRNGKey(0), 60, config.gamma
  )
  assert len(reversal["per_seed"]) == 2
  first = reversal["per_seed"][0]["agent"]["onset_rpe"]
  assert first["trial_2_inferred"]["events"] > 10
  config, agent, env, params = _untrained("two_step", num_trials=20)
  two_step = rpe.two_step_rpe_experiment(
      agent, env, params, jax.random.PRNGKey(0), 30, config.gamma
  )
  weights = two_step["per_seed"][1]["onset_regression"]["weights"]
  assert set(weights) == {"model_based", "model_free"}
  # The runner's aggregation, headlines and figures read these results.
  writer = figures.FigureWriter(str(tmp_path))
  for result, headline, figure, name in (
      (reversal, rpe.reversal_headline, rpe.reversal_figure, "reversal"),
      (
          two_step,
          rpe.two_step_rpe_headline,
          rpe.two_step_rpe_figure,
          "two_step_rpe",
      ),
  ):
    result = workdir_lib.jsonable(result)
    result["across_seeds"] = seed_stats.across_seeds(result["per_seed"])
    assert "+-" in headline(result)
    figure(writer, name, result, {})
  assert sorted(writer.written) == ["reversal_rpe.png", "two_step_rpe.png"]
