"""Learning test: R2D2 remembers bsuite's memory_len context; DQN cannot.

Both presets run the same task (memory_length 10), the same env steps and
the same greedy evaluation, over 4 seeds vmapped in one compiled loop.
Greedy accuracy = (eval return + 1) / 2 (reward +1 right, -1 wrong).
"""

import numpy as np
import pytest

from agents.runtime import train
from configs import dqn
from configs import r2d2

pytestmark = pytest.mark.slow


def _accuracy_per_seed(config, workdir) -> np.ndarray:
  config.num_seeds = 4
  summary = train.train(config, str(workdir), log=lambda _: None).summary
  assert summary["eval_episodes_unfinished"] == 0, summary
  return (np.asarray(summary["eval_return_per_seed"]) + 1.0) / 2.0


def test_r2d2_learns_memory_len_where_dqn_stays_at_chance(tmp_path):
  recurrent = _accuracy_per_seed(
      r2d2.get_config("memory_len"), tmp_path / "r2d2"
  )
  feed_forward = _accuracy_per_seed(
      dqn.get_config("memory_len"), tmp_path / "dqn"
  )
  print(
      f"memory_len 10, greedy accuracy per seed: r2d2 {recurrent}, "
      f"dqn {feed_forward}"
  )
  assert np.all(recurrent >= 0.9), recurrent
  assert np.mean(feed_forward) <= 0.6, feed_forward
