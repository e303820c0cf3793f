""" "Movie" vs "imagination" replay, measured as Liu, Dolan, Kurth-Nelson &
Behrens 2019 ("Human replay spontaneously reorganizes experience", Cell)
measured human replay: by TDLM sequenceness (agents/analysis/tdlm.py).

Task (`ScrambledTask`): two true sequences of 4 states, A1 -> B1 -> C1 -> D1
(states 0-3) and A2 -> ... -> D2 (4-7). Like Liu et al.'s participants, who
saw the pictures of two sequences in a scrambled visual order, the agent
lives the 6 true transitions (s -> s') as separate experiences in a
scrambled order, the same order repeated `num_repeats` times (a "visual
order", drawn per seed so that no two consecutive experiences form a true
transition in either direction). Each experience is one true transition, so
the true order is learnable from them: the agent's model is the set of
transitions it saw (`learned_successors`).

Replay: one replayed experience is one TD backup of a state value,
  V(s) <- V(s) + alpha [r(s, s') + gamma V(s') - V(s)],
and reactivates the backed-up state s (one state per backup, the stream
TDLM analyses). D states are terminal (V = 0 beyond them).
* Movie replay plays stored experiences in the order they were lived: an
  event is `event_length` consecutive experiences of the lived stream, from
  a random point (before reward) or from the rewarded experience (after
  reward), in lived order (wrapping around).
* Imagination replay generates sequences from the learned transitions:
  before reward, forward sweeps from a sequence start (A1 or A2) along the
  learned successors; after reward, backward sweeps from the rewarded state
  along the learned predecessors (the sweep that propagates the new value
  fastest, Mattar & Daw 2018; Liu et al. saw replay reverse after reward).
  An event is one sweep of `event_length` backups (3: the whole sequence).

Measures (`run`):
 (i) value propagation: reward 1 on reaching D1 (the transition C1 -> D1);
     replay steps until V(A1) is within 10% of its true value gamma^2, for
     each kind, over seeds: the movie played on from the rewarded experience
     in lived order, or imagination's backward sweeps, up to 120 backups.
 (ii) sequenceness: a stream of `num_events` replay events, each state
     reactivated `state_lag` time bins after the previous one of its event,
     events separated by `gap` bins drawn uniformly, as a one-hot stream
     plus Gaussian noise of std `noise_std` (a stand-in for decoded MEG);
     TDLM forward-minus-backward sequenceness at lags 1..`max_lag` under the
     true order and under the experienced (lived) order, averaged over seeds
     (as over subjects) with Liu et al.'s permutation threshold.
 Goal: imagination replay is significant in the true order and not in the
 experienced order; movie replay the reverse; after reward, imagination
 replay turns backward (negative forward-minus-backward).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from agents.analysis import tdlm

SEQUENCES = ((0, 1, 2, 3), (4, 5, 6, 7))
NUM_STATES = 8
REWARDED_STATE = 3  # D1


@dataclasses.dataclass(frozen=True)
class ScrambledTask:
  """The 6 true transitions, lived in a scrambled (visual) order."""

  experiences: tuple[tuple[int, int], ...]  # the visual order, one cycle
  num_repeats: int

  @classmethod
  def draw(cls, seed: int, num_repeats: int) -> "ScrambledTask":
    """A visual order in which no consecutive experiences chain truly."""
    rng = np.random.default_rng(seed)
    true = [(a, b) for seq in SEQUENCES for a, b in zip(seq[:-1], seq[1:])]
    true_links = set(true) | {(b, a) for a, b in true}
    for _ in range(10_000):
      order = [true[i] for i in rng.permutation(len(true))]
      firsts = [s for s, _ in order]
      links = zip(firsts, firsts[1:] + firsts[:1])  # the cycle repeats
      if not any(link in true_links for link in links):
        return cls(experiences=tuple(order), num_repeats=num_repeats)
    raise RuntimeError("no scrambled order found")  # never with 6 transitions

  def lived(self) -> list[tuple[int, int]]:
    return list(self.experiences) * self.num_repeats

  def experienced_order(self) -> np.ndarray:
    """T_F of the lived order: state of experience k -> that of k + 1."""
    firsts = [s for s, _ in self.experiences]
    return tdlm.transition_matrix([firsts + firsts[:1]], NUM_STATES)


def true_order() -> np.ndarray:
  return tdlm.transition_matrix([list(s) for s in SEQUENCES], NUM_STATES)


def learned_successors(lived: list[tuple[int, int]]) -> dict[int, int]:
  """The model: each state's successor, as seen in experience."""
  return {s: s_next for s, s_next in lived}


def _reward(s_next: int, rewarded: bool) -> float:
  return 1.0 if rewarded and s_next == REWARDED_STATE else 0.0


def _backup(values, s, s_next, rewarded, alpha, gamma):
  terminal = s_next in (seq[-1] for seq in SEQUENCES)
  target = _reward(s_next, rewarded) + (
      0.0 if terminal else gamma * values[s_next]
  )
  values[s] += alpha * (target - values[s])


def movie_events(
    task: ScrambledTask,
    num_events: int,
    event_length: int,
    rewarded: bool,
    rng: np.random.Generator,
) -> list[list]:
  """Events of consecutive lived experiences [(s, s'), ...]."""
  cycle = list(task.experiences)
  start_reward = next(
      i for i, (_, b) in enumerate(cycle) if b == REWARDED_STATE
  )
  events = []
  for _ in range(num_events):
    start = start_reward if rewarded else int(rng.integers(len(cycle)))
    events.append(
        [cycle[(start + k) % len(cycle)] for k in range(event_length)]
    )
  return events


def imagination_events(
    successors: dict[int, int],
    num_events: int,
    event_length: int,
    rewarded: bool,
    rng: np.random.Generator,
) -> list[list]:
  """Sweeps generated from the learned transitions (see module docstring)."""
  predecessors = {b: a for a, b in successors.items()}
  events = []
  for _ in range(num_events):
    event = []
    if rewarded:  # backward from the rewarded state
      state = REWARDED_STATE
      while state in predecessors and len(event) < event_length:
        event.append((predecessors[state], state))
        state = predecessors[state]
    else:  # forward from a sequence start
      state = SEQUENCES[int(rng.integers(len(SEQUENCES)))][0]
      while state in successors and len(event) < event_length:
        event.append((state, successors[state]))
        state = successors[state]
    events.append(event)
  return events


def steps_to_value(
    events: list[list], alpha: float, gamma: float, tolerance: float = 0.1
) -> int:
  """Replay steps until V(A1) is within `tolerance` of gamma^2 (-1: never)."""
  values = np.zeros(NUM_STATES)
  target = gamma ** (len(SEQUENCES[0]) - 2)
  steps = 0
  for event in events:
    for s, s_next in event:
      _backup(values, s, s_next, True, alpha, gamma)
      steps += 1
      if abs(values[SEQUENCES[0][0]] - target) <= tolerance * target:
        return steps
  return -1


def _propagation_events(kind, task, successors, rng, max_steps=120):
  """(i)'s replay after reward: the movie played on from the rewarded
  experience, or imagination's backward sweeps, `max_steps` backups."""
  if kind == "movie":
    return movie_events(task, 1, max_steps, True, rng)
  length = len(SEQUENCES[0]) - 1
  return imagination_events(successors, max_steps // length, length, True, rng)


def state_stream(
    events: list[list],
    state_lag: int,
    gap: tuple[int, int],
    rng: np.random.Generator,
) -> np.ndarray:
  """Replayed states in time bins (-1 = nothing reactivated)."""
  stream = [-1] * int(rng.integers(*gap))
  for event in events:
    for k, (s, _) in enumerate(event):
      stream.append(s)
      if k < len(event) - 1:
        stream.extend([-1] * (state_lag - 1))
    stream.extend([-1] * int(rng.integers(*gap)))
  return np.asarray(stream)


def run(
    seeds: list[int],
    num_repeats: int = 3,
    num_events: int = 60,
    event_length: int = 3,
    alpha: float = 1.0,
    gamma: float = 0.9,
    state_lag: int = 4,
    gap: tuple[int, int] = (20, 60),
    noise_std: float = 0.5,
    max_lag: int = 10,
    num_permutations: int = 200,
    workdir: str | None = None,
) -> dict[str, Any]:
  """Both measures over seeds; see the module docstring."""
  results = {
      "settings": {
          "num_repeats": num_repeats,
          "num_events": num_events,
          "event_length": event_length,
          "alpha": alpha,
          "gamma": gamma,
          "state_lag_bins": state_lag,
          "gap_bins": list(gap),
          "noise_std": noise_std,
          "max_lag": max_lag,
          "num_permutations": num_permutations,
          "seeds": list(seeds),
      }
  }
  tasks = [ScrambledTask.draw(seed, num_repeats) for seed in seeds]
  propagation = {"movie": [], "imagination": []}
  streams = {}
  for seed, task in zip(seeds, tasks):
    successors = learned_successors(task.lived())
    for kind in ("movie", "imagination"):
      for rewarded in (False, True):
        rng = np.random.default_rng([seed, rewarded, kind == "movie"])
        if kind == "movie":
          events = movie_events(task, num_events, event_length, rewarded, rng)
        else:
          events = imagination_events(
              successors, num_events, event_length, rewarded, rng
          )
        if rewarded:
          propagation[kind].append(
              steps_to_value(
                  _propagation_events(kind, task, successors, rng), alpha, gamma
              )
          )
        states = state_stream(events, state_lag, gap, rng)
        streams.setdefault((kind, rewarded), []).append(
            tdlm.noisy_one_hot(
                states, NUM_STATES, noise_std, seed=int(rng.integers(2**31))
            )
        )
  for kind, steps in propagation.items():
    steps = np.asarray(steps, np.float64)
    reached = steps > 0
    results.setdefault("value_propagation", {})[kind] = {
        "replay_steps_to_10pct": {
            "mean": float(steps[reached].mean()) if reached.any() else None,
            "std": float(steps[reached].std()) if reached.any() else None,
            "per_seed": [int(s) for s in steps],
        },
        "seeds_not_reached": int((~reached).sum()),
    }
  results["value_propagation"]["anchor"] = (
      "imagination replay brings V(A1) within 10% of its true value in "
      "fewer replay steps than movie replay"
  )
  results["value_propagation"]["reproduced"] = bool(
      np.mean(propagation["imagination"]) < np.mean(propagation["movie"])
      and min(propagation["imagination"]) > 0
  )
  hypotheses = {
      "true": [true_order()] * len(tasks),
      "experienced": [t.experienced_order() for t in tasks],
  }
  sequenceness = {}
  for (kind, rewarded), kind_streams in streams.items():
    phase = "after_reward" if rewarded else "before_reward"
    for name, matrices in hypotheses.items():
      group, _ = tdlm.group_permutation_test(
          kind_streams, matrices, max_lag, num_permutations, seed=seeds[0]
      )
      sequenceness.setdefault(kind, {}).setdefault(phase, {})[
          name
      ] = group.as_dict()
  results["sequenceness"] = sequenceness
  expected = {
      ("imagination", "before_reward", "true"): "forward",
      ("imagination", "before_reward", "experienced"): "none",
      ("movie", "before_reward", "true"): "none",
      ("movie", "before_reward", "experienced"): "forward",
      ("imagination", "after_reward", "true"): "backward",
  }
  checks = {}
  for (kind, phase, name), want in expected.items():
    got = sequenceness[kind][phase][name]["direction"]
    checks[f"{kind}/{phase}/{name}"] = {
        "expected": want,
        "measured": got,
        "reproduced": got == want,
    }
  results["sequenceness_checks"] = checks
  results["anchor"] = (
      "Liu et al. 2019: replay follows the true (inferred) order, not the "
      "experienced one (imagination), and reverses after reward; movie "
      "replay would follow the experienced order"
  )
  results["reproduced"] = bool(
      all(c["reproduced"] for c in checks.values())
      and results["value_propagation"]["reproduced"]
  )
  if workdir:
    _plot(
        sequenceness,
        max_lag,
        os.path.join(workdir, "movie_vs_imagination_sequenceness.png"),
    )
  return results


def _plot(sequenceness, max_lag, path):
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True)
  lags = np.arange(1, max_lag + 1)
  for row, kind in enumerate(("movie", "imagination")):
    for col, phase in enumerate(("before_reward", "after_reward")):
      ax = axes[row, col]
      for name, color in (("true", "tab:green"), ("experienced", "tab:purple")):
        result = sequenceness[kind][phase][name]
        ax.plot(lags, result["difference"], color=color, label=f"{name} order")
        ax.axhline(result["threshold_difference"], color=color, ls=":")
        ax.axhline(-result["threshold_difference"], color=color, ls=":")
      ax.axhline(0, color="k", lw=0.5)
      ax.set_title(f"{kind} replay, {phase.replace('_', ' ')}")
      if col == 0:
        ax.set_ylabel("forward - backward sequenceness")
      if row == 1:
        ax.set_xlabel("lag (time bins)")
  axes[0, 0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def experiment(workdir: str, quick: bool = False, seed: int = 0) -> dict:
  """`run` for scripts/reproduce_replay.py: 10 seeds (3 when quick)."""
  seeds = list(range(seed, seed + (3 if quick else 10)))
  result = run(seeds, num_permutations=50 if quick else 200, workdir=workdir)
  propagation = result["value_propagation"]

  def steps(kind):
    spread = propagation[kind]["replay_steps_to_10pct"]
    if spread["mean"] is None:
      return "never"
    return f"{spread['mean']:.1f} +- {spread['std']:.1f}"

  rows = [
      {
          "quantity": "replay steps until V(A1) within 10% (movie / imagination)",
          "measured": f"{steps('movie')} / {steps('imagination')}",
          "anchor": propagation["anchor"],
          "reproduced": propagation["reproduced"],
      }
  ]
  for name, check in result["sequenceness_checks"].items():
    kind, phase, order = name.split("/")
    measured = result["sequenceness"][kind][phase][order]
    peak = measured["peak_lag"]
    rows.append(
        {
            "quantity": f"TDLM direction, {kind} replay {phase.replace('_', ' ')}"
            f", {order} order",
            "measured": f"{check['measured']} (peak lag {peak}: "
            f"{measured['difference'][peak - 1]:+.3f}, threshold "
            f"{measured['threshold_difference']:.3f})",
            "anchor": f"{check['expected']} (Liu et al. 2019)",
            "reproduced": check["reproduced"],
        }
    )
  result["rows"] = rows
  result["figures"] = [
      os.path.join(workdir, "movie_vs_imagination_sequenceness.png")
  ]
  return result
