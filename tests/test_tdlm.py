"""TDLM sequenceness (Liu et al. 2019) and the movie vs imagination task."""

import numpy as np
import pytest

from agents.analysis import movie_imagination
from agents.analysis import tdlm

SEQUENCES = [[0, 1, 2, 3], [4, 5, 6, 7]]


def _planted_stream(lag, reverse, seed, length=3000):
  rng = np.random.default_rng(seed)
  states = -np.ones(length, int)
  t = 5
  while t < length - 4 * lag - 60:
    sequence = SEQUENCES[rng.integers(2)]
    if reverse:
      sequence = sequence[::-1]
    for k, state in enumerate(sequence):
      states[t + k * lag] = state
    t += 3 * lag + int(rng.integers(20, 60))
  return states


@pytest.mark.parametrize("lag,reverse", [(3, False), (5, True)])
def test_finds_the_planted_lag_and_direction(lag, reverse):
  stream = tdlm.noisy_one_hot(_planted_stream(lag, reverse, 0), 8, 0.5, 1)
  result = tdlm.permutation_test(
      stream,
      tdlm.transition_matrix(SEQUENCES, 8),
      max_lag=8,
      num_permutations=100,
  )
  assert result.peak_lag() == lag
  assert result.direction() == ("backward" if reverse else "forward")
  assert result.significant("difference")[lag - 1]
  # Only the planted lag is significant.
  assert result.significant("difference").sum() == 1


def test_shuffled_stream_has_no_sequenceness():
  states = np.random.default_rng(2).permutation(_planted_stream(3, False, 0))
  stream = tdlm.noisy_one_hot(states, 8, 0.5, 1)
  result = tdlm.permutation_test(
      stream,
      tdlm.transition_matrix(SEQUENCES, 8),
      max_lag=8,
      num_permutations=100,
  )
  assert result.direction() == "none"
  assert not result.significant("forward").any()
  assert not result.significant("backward").any()


def test_control_permutations_share_no_transition():
  forward = tdlm.transition_matrix(SEQUENCES, 8) > 0
  controls = tdlm.control_permutations([forward], 50, seed=0)
  assert len(controls) == 50
  for permutation in controls:
    permuted = forward[np.ix_(permutation, permutation)]
    assert not (permuted & (forward | forward.T)).any()


def test_scrambled_task_hides_the_true_order():
  task = movie_imagination.ScrambledTask.draw(seed=3, num_repeats=2)
  true = movie_imagination.true_order() > 0
  experienced = task.experienced_order() > 0
  assert not (experienced & (true | true.T)).any()
  assert sorted(task.experiences) == [
      (0, 1),
      (1, 2),
      (2, 3),
      (4, 5),
      (5, 6),
      (6, 7),
  ]
  # The true order is learnable from the lived transitions.
  successors = movie_imagination.learned_successors(task.lived())
  assert successors == {0: 1, 1: 2, 2: 3, 4: 5, 5: 6, 6: 7}


def test_value_propagation_by_hand():
  rng = np.random.default_rng(0)
  successors = {0: 1, 1: 2, 2: 3, 4: 5, 5: 6, 6: 7}
  events = movie_imagination.imagination_events(successors, 2, 3, True, rng)
  assert events[0] == [(2, 3), (1, 2), (0, 1)]  # backward from the reward
  # alpha 1: three backups bring V(A1) to gamma^2 exactly.
  assert movie_imagination.steps_to_value(events, 1.0, 0.9) == 3
  # The movie in the lived order C1->D1, A1->B1, B1->C1: A1 needs the
  # value of B1, which only the third backup gives, so a second pass.
  movie = [[(2, 3), (0, 1), (1, 2), (2, 3), (0, 1)]]
  assert movie_imagination.steps_to_value(movie, 1.0, 0.9) == 5


@pytest.mark.slow
def test_movie_vs_imagination_summary_keys(tmp_path):
  result = movie_imagination.experiment(str(tmp_path), quick=True)
  assert {
      "rows",
      "figures",
      "value_propagation",
      "sequenceness",
      "sequenceness_checks",
      "reproduced",
  } <= set(result)
  for kind in ("movie", "imagination"):
    for phase in ("before_reward", "after_reward"):
      for order in ("true", "experienced"):
        entry = result["sequenceness"][kind][phase][order]
        assert len(entry["difference"]) == 10
        assert entry["direction"] in ("forward", "backward", "none")
  assert (
      len(
          result["value_propagation"]["movie"]["replay_steps_to_10pct"][
              "per_seed"
          ]
      )
      == 3
  )
  assert (tmp_path / "movie_vs_imagination_sequenceness.png").exists()
