"""Learning tests: the reference agents solve their tasks with fixed seeds."""

import pytest

from agents.runtime import train
from configs import a2c, dqn

pytestmark = pytest.mark.slow


def test_dqn_solves_catch(tmp_path):
  config = dqn.get_config("catch")  # the `make run` job
  config.seed = 0
  summary = train.train(config, str(tmp_path), log=lambda _: None)
  assert summary["eval_return_mean"] >= 0.9, summary


def test_a2c_solves_cartpole(tmp_path):
  config = a2c.get_config("cartpole")
  config.seed = 0
  summary = train.train(config, str(tmp_path), log=lambda _: None)
  assert summary["eval_return_mean"] >= 475, summary
  assert summary["eval_episodes_unfinished"] == 0
