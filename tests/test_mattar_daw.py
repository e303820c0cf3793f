"""Mattar & Daw 2018 prioritized replay: Need, Gain, n-step returns, replay
order on a chain, forward/reverse classification, config errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import mattar_daw
from agents.lib import tabular
from agents.analysis import mattar_daw as analysis
from agents.runtime.errors import UserError
from configs import mattar_daw as mattar_daw_config
from environments import gridworld


class NeedGainTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_need_is_a_row_of_the_inverse(self):
    rng = np.random.default_rng(0)
    transitions = rng.random((6, 6))
    transitions /= transitions.sum(1, keepdims=True)
    transitions[2] = 0.0  # a state that leads nowhere (unvisited)
    inverse = np.linalg.inv(np.eye(6) - 0.9 * transitions)
    need = self.variant(mattar_daw.need, static_argnums=2)
    for state in range(6):
      np.testing.assert_allclose(
          need(jnp.asarray(transitions, jnp.float32), state, 0.9),
          inverse[state],
          rtol=1e-4,
          atol=1e-5,
      )

  @chex.variants(with_jit=True, without_jit=True)
  def test_gain_two_actions_softmax_by_hand(self):
    policy = mattar_daw.Policy(kind="softmax", inverse_temperature=1.0)
    gain = self.variant(lambda a, b: mattar_daw.gain(a, b, policy))
    # pi_old = (1/2, 1/2); pi_new = (e, 1) / (e + 1); Q_new = (1, 0).
    expected = np.e / (np.e + 1) - 0.5
    np.testing.assert_allclose(
        gain(jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0])), expected, rtol=1e-6
    )
    # No change in Q, no gain.
    np.testing.assert_allclose(
        gain(jnp.array([0.3, 0.1]), jnp.array([0.3, 0.1])), 0.0, atol=1e-7
    )

  @chex.variants(with_jit=True, without_jit=True)
  def test_gain_two_actions_epsilon_greedy_by_hand(self):
    policy = mattar_daw.Policy(kind="epsilon_greedy", epsilon=0.1)
    gain = self.variant(lambda a, b: mattar_daw.gain(a, b, policy))
    # Greedy action flips from 1 to 0: pi_old = (.05, .95), pi_new =
    # (.95, .05); gain = .9 * 1 - .9 * .5 = .45.
    np.testing.assert_allclose(
        gain(jnp.array([0.0, 0.5]), jnp.array([1.0, 0.5])), 0.45, rtol=1e-6
    )
    # A higher value for the action already greedy: the policy is unchanged.
    np.testing.assert_allclose(
        gain(jnp.array([1.0, 0.5]), jnp.array([2.0, 0.5])), 0.0, atol=1e-7
    )

  def test_one_step_gains_match_gain(self):
    policy = mattar_daw.Policy(kind="softmax", inverse_temperature=5.0)
    q = jnp.array([[0.1, 0.4], [0.0, 0.2], [0.3, 0.3]])
    targets = jnp.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    gains = mattar_daw.one_step_gains(q, targets, 0.5, policy)
    for s in range(3):
      for a in range(2):
        new = q[s].at[a].set(q[s, a] + 0.5 * (targets[s, a] - q[s, a]))
        np.testing.assert_allclose(
            gains[s, a],
            mattar_daw.gain(q[s], new, policy),
            rtol=1e-5,
            atol=1e-7,
        )

  def test_sequence_returns_by_hand(self):
    returns = mattar_daw.sequence_returns(
        jnp.array([0.0, 0.0, 1.0, 7.0]), jnp.int32(3), jnp.float32(0.5), 0.9
    )
    # Positions 0..2 are the sequence, 3 is past its end (the bootstrap):
    # G_2 = 1 + .9 * .5, G_1 = .9 G_2, G_0 = .9 G_1.
    np.testing.assert_allclose(returns, [1.1745, 1.305, 1.45, 0.5], rtol=1e-6)
    returns = mattar_daw.sequence_returns(
        jnp.array([0.0, 0.0]), jnp.int32(2), jnp.float32(2.0), 0.5
    )
    np.testing.assert_allclose(returns, [0.5, 1.0], rtol=1e-6)

  def test_terminal_state_steps_to_the_start(self):
    expected = _expectations(
        3, 1, [(0, 0, 0.0, 1, False), (1, 0, 1.0, 2, True)]
    )
    transitions = mattar_daw.policy_transitions(expected, jnp.ones((3, 1)))
    np.testing.assert_allclose(transitions, [[0, 1, 0], [0, 0, 1], [1, 0, 0]])


def _expectations(num_states, num_actions, experience):
  """The agent's model after (s, a, r, s', terminal) experiences; start 0."""
  model = tabular.init_state(num_states, num_actions, 1).model
  terminal_state = jnp.zeros((num_states,), bool)
  for s, a, r, s_next, terminal in experience:
    model = tabular.update_model(
        model,
        tabular.Transition(
            state=s,
            action=a,
            reward=r,
            discount=0.0 if terminal else 1.0,
            next_state=s_next,
            valid=True,
        ),
        0,
    )
    terminal_state = terminal_state.at[s_next].set(
        terminal_state[s_next] | terminal
    )
  start_count = jnp.zeros((num_states,)).at[0].set(1.0)
  return mattar_daw.expectations(model, start_count, terminal_state)


def _chain_model():
  """0 -> 1 -> 2 -> 3 (goal, reward 1) by action 1; action 0 stays put."""
  experience = []
  for s in range(3):
    experience.append((s, 0, 0.0, s, False))
    experience.append((s, 1, float(s == 2), s + 1, s == 2))
  return _expectations(4, 2, experience)


def _chain_transitions():
  """The chain's state-transition matrix: 0 -> 1 -> 2 -> 3 -> 0 (wrap)."""
  return jnp.eye(4)[jnp.array([1, 2, 3, 0])]


def test_replay_after_reward_runs_backward_along_the_chain():
  hyper = mattar_daw.ReplayHyper(
      learning_rate=1.0,
      discount=0.9,
      policy=mattar_daw.Policy(kind="softmax", inverse_temperature=5.0),
      min_gain=1e-10,
      evb_threshold=1e-6,
      mode="prioritized",
      n_step=True,
  )
  # Need from state 2, the state the agent left to enter the goal (the
  # reference's `sti`), under the chain's learned T with the goal -> start
  # wrap-around.
  q, entries, count = mattar_daw.replay(
      jnp.zeros((4, 2)),
      _chain_model(),
      jnp.int32(2),
      _chain_transitions(),
      jnp.int32(3),
      3,
      jax.random.PRNGKey(0),
      hyper,
  )
  assert int(count) == 3
  # Reverse replay: the rewarded step first, then its predecessors.
  np.testing.assert_array_equal(entries["state"], [2, 1, 0])
  np.testing.assert_array_equal(entries["action"], [1, 1, 1])
  np.testing.assert_allclose(q[:3, 1], [0.81, 0.9, 1.0], rtol=1e-6)


def test_n_step_extension_backs_up_the_whole_sequence():
  # The last replayed sequence is 0 -> 1; the greedy action at 1 leads to 2,
  # whose value is known (1): the extension 0 -> 1 -> 2 sets Q(1, right) to
  # gamma * 1 and Q(0, right) to gamma^2 * 1 in one backup.
  hyper = mattar_daw.ReplayHyper(
      learning_rate=1.0,
      discount=0.9,
      policy=mattar_daw.Policy(kind="softmax", inverse_temperature=5.0),
      min_gain=1e-10,
      evb_threshold=0.0,
      mode="prioritized",
      n_step=True,
  )
  expected = _chain_model()
  q = jnp.zeros((4, 2)).at[2, 1].set(1.0).at[1, 1].set(0.01)
  sequence = mattar_daw._empty_sequence(4)  # pylint: disable=protected-access
  sequence = sequence.replace(
      states=sequence.states.at[0].set(0),
      actions=sequence.actions.at[0].set(1),
      next_states=sequence.next_states.at[0].set(1),
      length=jnp.int32(1),
  )
  extended, allowed = mattar_daw._extension(q, expected, sequence)  # pylint: disable=protected-access
  assert bool(allowed)
  np.testing.assert_array_equal(extended.states[:2], [0, 1])
  np.testing.assert_array_equal(extended.actions[:2], [1, 1])
  np.testing.assert_array_equal(extended.next_states[:2], [1, 2])
  rows, gains = mattar_daw._sequence_backup(q, extended, hyper)  # pylint: disable=protected-access
  np.testing.assert_allclose(rows[:2, 1], [0.81, 0.9], rtol=1e-6)
  for j, s in enumerate((0, 1)):
    np.testing.assert_allclose(
        gains[j], mattar_daw.gain(q[s], rows[j], hyper.policy), rtol=1e-6
    )
  assert (gains[:2] > 0).all()
  # No loops: from 2 the greedy action (right) reaches 3, a terminal state;
  # extending a sequence that already ends the trial is not allowed.
  ended = extended.replace(terminal=jnp.float32(1.0))
  assert not bool(mattar_daw._extension(q, expected, ended)[1])  # pylint: disable=protected-access


def test_replay_directions_and_events():
  log = {
      "state": np.array([5, 4, 3, 7, 8, 9, 9]),
      "next_state": np.array([6, 5, 4, 8, 9, 10, 10]),
      "trial": np.zeros(7, int),
      "phase": np.zeros(7, int),
      "step": np.zeros(7, int),
  }
  # 5->6, 4->5 (reverse), 3->4 (reverse), 7->8 (none), 8 (forward), 9
  # (forward), 9 again (none).
  np.testing.assert_array_equal(
      analysis.replay_directions(log), [-1, -1, 0, 1, 1, 0]
  )
  events = analysis.replay_events(log, min_backups=3)
  assert [(e["direction"], e["backups"]) for e in events] == [(-1, 3), (1, 3)]
  # A phase boundary breaks a link.
  log["phase"] = np.array([0, 1, 1, 1, 1, 1, 1])
  assert analysis.replay_directions(log)[0] == 0


@pytest.mark.parametrize(
    "key,value",
    [
        ("replay_steps", 0),
        ("replay_mode", "sometimes"),
        ("policy", "greedyish"),
        ("gamma", 1.0),
        ("need_model", "oracle"),
        ("transition_learning_rate", 0.0),
    ],
)
def test_bad_config_is_a_user_error(key, value):
  config = mattar_daw_config.get_config()
  config[key] = value
  with pytest.raises(UserError, match=key):
    mattar_daw.validate_config(config)


@pytest.mark.slow
def test_short_reproduction_has_the_summary_keys(tmp_path):
  settings = analysis.Settings(seeds=2, trials=3, max_steps=2_000)
  summary = analysis.forward_reverse(
      analysis.paper_config("softmax"), settings, seed=0, workdir=str(tmp_path)
  )
  for layout in ("open_field", "linear_track"):
    for counting in ("all", "informative"):
      result = summary[layout][counting]
      assert set(result) == {"before", "after", "reproduced"}
      for phase in ("before", "after"):
        assert len(result[phase]["forward_events"]) == 2  # every seed
        assert set(result[phase]["forward_fraction"]) == {
            "mean",
            "std",
            "per_seed",
        }
  assert (tmp_path / "mattar_daw_forward_reverse.png").exists()
  # The post-reward replay of a first rewarded trial ran backward.
  assert sum(summary["open_field"]["all"]["after"]["reverse_events"]) > 0


def test_argmax_random_ties_picks_every_maximum_and_only_them():
  values = jnp.array([0.5, 1.0, -jnp.inf, 1.0])
  picks = {
      int(mattar_daw.argmax_random_ties(jax.random.PRNGKey(i), values))
      for i in range(40)
  }
  assert picks == {1, 3}


def test_extension_breaks_greedy_ties_at_random():
  # From state 1 both actions have Q 0: "stay" (action 0) would loop back to
  # 1 and is not allowed, "right" (action 1) extends 0 -> 1 -> 2. The
  # reference draws among tied greedy actions, so both happen over keys.
  expected = _chain_model()
  sequence = mattar_daw._empty_sequence(4)  # pylint: disable=protected-access
  sequence = sequence.replace(
      states=sequence.states.at[0].set(0),
      actions=sequence.actions.at[0].set(1),
      next_states=sequence.next_states.at[0].set(1),
      length=jnp.int32(1),
  )
  outcomes = set()
  for i in range(30):
    extended, allowed = mattar_daw._extension(  # pylint: disable=W0212
        jnp.zeros((4, 2)), expected, sequence, jax.random.PRNGKey(i)
    )
    outcomes.add((int(extended.actions[1]), bool(allowed)))
  assert outcomes == {(0, False), (1, True)}


def test_n_step_evb_is_need_of_the_appended_state_times_summed_gains():
  # The sequence 0 -> 1 -> 2 with Q(2, right) = 1 known: its gains are
  # those of Q(0, right) <- .81 and Q(1, right) <- .9; the reference's EVM
  # is Need(1) (the appended step starts at 1) x (gain_0 + gain_1).
  hyper = mattar_daw.ReplayHyper(
      learning_rate=1.0,
      discount=0.9,
      policy=mattar_daw.Policy(kind="softmax", inverse_temperature=5.0),
      min_gain=1e-10,
      evb_threshold=0.0,
      mode="prioritized",
      n_step=True,
  )
  q = jnp.zeros((4, 2)).at[2, 1].set(1.0)
  sequence = mattar_daw._empty_sequence(4)  # pylint: disable=W0212
  sequence = sequence.replace(
      states=jnp.array([0, 1, -1, -1]),
      actions=jnp.array([1, 1, 0, 0]),
      rewards=jnp.zeros(4),
      next_states=jnp.array([1, 2, -1, -1]),
      length=jnp.int32(2),
  )
  backup = mattar_daw._sequence_backup  # pylint: disable=protected-access
  _, gains = backup(q, sequence, hyper)
  # Softmax(beta 5) over (0, v) vs (0, 0): gain = (sigmoid(5 v) - 1/2) v.
  by_hand = [(1 / (1 + np.exp(-5 * v)) - 0.5) * v for v in (0.81, 0.9)]
  np.testing.assert_allclose(gains[:2], by_hand, rtol=1e-5)
  need = jnp.array([0.2, 0.7, 0.05, 0.05])
  np.testing.assert_allclose(
      mattar_daw.sequence_evb(need, sequence, gains, 1e-10),
      0.7 * sum(by_hand),
      rtol=1e-5,
  )
  # Steps without gain count as the baseline gain.
  np.testing.assert_allclose(
      mattar_daw.sequence_evb(need, sequence, jnp.zeros(4), 1e-10),
      0.7 * 2e-10,
      rtol=1e-5,
  )


def test_replay_before_a_run_follows_need_from_the_start():
  # Q(2, right) = 1 known, Need from the start 0: the one-step (1, right)
  # has the only gain, then (0, right) (the extension 1 -> 2 -> 3 of that
  # sequence has none left): the value reaches the start in two backups.
  hyper = mattar_daw.ReplayHyper(
      learning_rate=1.0,
      discount=0.9,
      policy=mattar_daw.Policy(kind="softmax", inverse_temperature=5.0),
      min_gain=1e-10,
      evb_threshold=0.0,
      mode="prioritized",
      n_step=True,
  )
  q = jnp.zeros((4, 2)).at[2, 1].set(1.0)
  need = mattar_daw.need(_chain_transitions(), jnp.int32(0), 0.9)
  q_after, entries, count = mattar_daw.replay(
      q,
      _chain_model(),
      jnp.int32(0),
      _chain_transitions(),
      jnp.int32(2),
      2,
      jax.random.PRNGKey(0),
      hyper,
  )
  assert int(count) == 2
  np.testing.assert_array_equal(entries["state"], [1, 0])
  gain_1 = (1 / (1 + np.exp(-5 * 0.9)) - 0.5) * 0.9
  np.testing.assert_allclose(entries["evb"][0], need[1] * gain_1, rtol=1e-5)
  np.testing.assert_allclose(q_after[:2, 1], [0.81, 0.9], rtol=1e-6)


@pytest.mark.slow
def test_agent_learns_t_and_replays_from_where_it_left_the_goal():
  # A corridor 0 -> 1 -> 2 -> 3 (goal) above a wall row. Online
  # Q-learning (alpha 1) has already valued (2, right) when the first
  # reward comes, so the replay after it starts one step back and runs in
  # reverse: (1, right), then (0, right), Need being taken from state 2
  # (where the agent was).
  env = gridworld.GridWorld(layout="S..G;####", max_episode_steps=200)
  config = analysis.paper_config("softmax")
  carry = analysis.run_trials(config, env, 2, [0], 2_000, pre_explore=True)
  state = jax.tree_util.tree_map(lambda x: x[0], carry.agent_state)
  matrix = np.asarray(state.transition_matrix)
  np.testing.assert_allclose(matrix[:3].sum(1), 1.0, rtol=1e-5)
  # The goal leads to the start (pre-exploration and every trial's end);
  # state 2's last move entered the goal (delta rule, rate .9).
  np.testing.assert_allclose(matrix[3], np.eye(8)[0], atol=1e-6)
  assert matrix[2, 3] >= 0.9
  log = analysis._log_arrays(state.log)  # pylint: disable=protected-access
  after = np.nonzero(
      (log["phase"] == mattar_daw.PHASE_AFTER_RUN) & (log["trial"] == 0)
  )[0]
  right = 3
  np.testing.assert_array_equal(log["state"][after[:2]], [1, 0])
  np.testing.assert_array_equal(log["action"][after[:2]], [right, right])


@pytest.mark.slow
def test_reward_increase_draws_each_trials_reward_and_has_its_keys():
  settings = analysis.Settings(seeds=2, trials=6, max_steps=3_000)
  summary = analysis.reward_increase(
      analysis.paper_config("softmax"), settings, seed=0, workdir=None
  )
  for name in ("same", "increased"):
    spread = summary[name]["reverse_events_per_trial_after_reward"]
    assert len(spread["per_seed"]) == 2  # every seed
  assert isinstance(summary["reproduced"], bool)
  # The rewards that ended the trials are 1 or 4 (noise sd .1), both drawn.
  track = gridworld.GridWorld(layout="linear_track")
  carry = analysis.run_trials(
      analysis.paper_config("softmax"),
      track,
      6,
      [0, 1],
      3_000,
      reward_noise_std=0.1,
      big_reward=4.0,
      big_reward_prob=0.5,
  )
  rewards = np.asarray(carry.trial_reward).ravel()
  near = np.minimum(np.abs(rewards - 1.0), np.abs(rewards - 4.0))
  assert (near < 0.6).all()
  assert (rewards > 2.5).any() and (rewards < 2.5).any()
