"""Learning with every kind of replay: DQN's Catch preset (60k env steps,
seed 0) reaches the greedy return uniform replay reaches
(tests/test_learning.py), with prioritized and with imagination replay."""

import pytest

from agents.runtime import train
from configs import dqn

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["prioritized", "imagination"])
def test_dqn_solves_catch_with_each_kind_of_replay(kind, tmp_path):
  config = dqn.get_config("catch")
  config.replay = kind
  config.seed = 0
  config.eval_episodes = 50
  summary = train.train(config, str(tmp_path), log=lambda _: None).summary
  assert summary["eval_return_mean"] >= 0.9, summary
