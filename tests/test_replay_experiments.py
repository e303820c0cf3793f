"""Blind Cliffwalk (true values, the three replays' order), the ablation
helpers, and smoke runs of scripts.blind_cliffwalk / scripts.replay_ablations.
"""

import json

import jax
import numpy as np
import pytest

from agents.analysis import blind_cliffwalk as bc
from agents.analysis import replay_ablations as ra
from configs import dqn
from tests.conftest import run_script


def test_memory_holds_every_action_sequence():
  n = 4
  items = bc.transitions(n)
  assert items["state"].shape == (bc.num_items(n),) == (2 ** (n + 1) - 2,)
  # Enumerate the 2^n sequences: each is cut at its first wrong action.
  counts = {}
  for seq in range(2**n):
    for k in range(n):
      right = (seq >> k) & 1
      action = bc.right_action(k) if right else 1 - bc.right_action(k)
      counts[(k, action)] = counts.get((k, action), 0) + 1
      if not right:
        break
  got = {}
  for s, a in zip(items["state"], items["action"]):
    got[(int(s), int(a))] = got.get((int(s), int(a)), 0) + 1
  assert got == counts
  rewarded = items["reward"] > 0
  assert rewarded.sum() == 1  # one transition in the memory sees the reward
  assert items["state"][rewarded][0] == n - 1


@pytest.mark.parametrize("n", [2, 5, 9])
def test_true_values_are_the_bellman_fixed_point(n):
  """Q* by value iteration over the distinct transitions = the closed form."""
  d = bc.distinct_transitions(n)
  gamma = bc.gamma_of(n)
  q = np.zeros((n, 2))
  for _ in range(4 * n):
    target = d["reward"] + gamma * (1 - d["terminal"]) * q[d["next_state"]].max(
        1
    )
    q = np.zeros((n, 2))
    q[d["state"], d["action"]] = target
  np.testing.assert_allclose(q, bc.true_q(n), atol=1e-12)
  assert bc.true_q(n)[0].max() == pytest.approx(gamma ** (n - 1))


def test_td_error_by_hand():
  n = 3
  q = np.zeros((n, 2), np.float32)
  q[1] = [0.2, 0.5]
  d = bc.distinct_transitions(n)
  item = {k: v[0] for k, v in d.items()}  # (0, right) -> state 1
  assert float(bc.td_error(q, item, 2 / 3)) == pytest.approx(2 / 3 * 0.5)
  last = {k: v[4] for k, v in d.items()}  # (2, right): reward 1, terminal
  assert float(bc.td_error(q, last, 2 / 3)) == pytest.approx(1.0)


def test_prioritized_beats_uniform_and_the_oracle_beats_both():
  keys = jax.vmap(jax.random.PRNGKey)(np.arange(4))
  n = 6
  updates = {}
  for method in bc.METHODS:
    r = jax.device_get(bc.run(keys, n=n, method=method, max_updates=200_000))
    assert r["converged"].all(), method
    assert (r["mse"] < bc.MSE_THRESHOLD).all()
    updates[method] = np.median(r["updates"])
  assert updates["oracle"] < updates["prioritized"] < updates["uniform"]
  assert updates["uniform"] > 2 * updates["prioritized"]
  # same seed, same numbers
  again = jax.device_get(
      bc.run(keys, n=n, method="prioritized", max_updates=200_000)
  )
  assert np.median(again["updates"]) == updates["prioritized"]


def test_capped_run_reports_not_converged():
  keys = jax.vmap(jax.random.PRNGKey)(np.arange(2))
  r = jax.device_get(bc.run(keys, n=8, method="uniform", max_updates=50))
  assert (r["updates"] == 50).all() and not r["converged"].any()


def test_ablation_helpers():
  c = ra.variant_config("dqn", "catch", "no_replay")
  rollout = c.num_envs * c.rollout_length
  assert c.replay == "uniform" and c.replay_capacity == rollout
  assert c.batch_size <= rollout and c.min_replay_size == rollout
  assert ra.variant_config("qr_dqn", "catch", "prioritized").replay == (
      "prioritized"
  )
  c = dqn.get_config("catch")  # 32 env steps per call, learning from 500
  assert ra.updates_at(c, 480) == 0
  assert ra.updates_at(c, 512) == 1  # the 16th call holds 512 >= 500 items
  assert ra.updates_at(c, 512 + 320) == 11
  steps = np.array([10, 20, 30])
  returns = np.array([[0.1, 0.9], [0.85, np.nan], [0.2, 1.0]])
  assert ra.steps_to_threshold(steps, returns, 0.8) == [20, 10]
  assert ra.steps_to_threshold(steps, returns, 2.0) == [None, None]


@pytest.mark.slow
def test_blind_cliffwalk_script(tmp_path):
  workdir = tmp_path / "bc"
  run_script(
      [
          "-m",
          "scripts.blind_cliffwalk",
          f"--workdir={workdir}",
          "--max_n=4",
          "--seeds=2",
      ],
      check=True,
  )
  summary = json.loads((workdir / "summary.json").read_text())
  assert set(summary["methods"]) == set(bc.METHODS)
  assert len(summary["methods"]["uniform"]["4"]["updates"]) == 2
  assert {"median", "q25", "q75", "converged"} <= set(
      summary["methods"]["oracle"]["3"]
  )
  assert "anchor" in summary and "goal" in summary
  assert (workdir / "blind_cliffwalk.png").stat().st_size > 0
  bad = run_script(
      ["-m", "scripts.blind_cliffwalk", f"--workdir={workdir}", "--alpha=1.5"],
      check=False,
  )
  assert bad.returncode == 2 and "error:" in bad.stderr


@pytest.mark.slow
def test_replay_ablations_script(tmp_path):
  workdir = tmp_path / "ra"
  run_script(
      [
          "-m",
          "scripts.replay_ablations",
          f"--workdir={workdir}",
          "--agents=dqn",
          "--tasks=catch",
          "--variants=no_replay,prioritized",
          "--num_seeds=2",
          "--total_env_steps=2048",
          "--eval_episodes=5",
      ],
      check=True,
  )
  summary = json.loads((workdir / "summary.json").read_text())
  for variant in ("no_replay", "prioritized"):
    run = summary["runs"][f"dqn/catch/{variant}"]
    assert len(run["env_steps_to_threshold"]) == 2
    assert len(run["updates_to_threshold"]) == 2
    assert len(run["eval_return_per_seed"]) == 2
  assert (workdir / "replay_ablations.png").stat().st_size > 0
  bad = run_script(
      [
          "-m",
          "scripts.replay_ablations",
          f"--workdir={workdir}",
          "--variants=movie",
      ],
      check=False,
  )
  assert bad.returncode == 2 and "error:" in bad.stderr
