"""Tabular agents: each update on a 3-state chain computed by hand."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_env import specs as dm_specs

from agents import dyna_q
from agents import dyna_q_plus
from agents import prioritized_sweeping
from agents import q_learning
from agents import types
from agents.lib import tabular
from agents.runtime.errors import UserError
from configs import dyna_q as dyna_q_config
from configs import dyna_q_plus as dyna_q_plus_config
from configs import prioritized_sweeping as sweeping_config
from configs import q_learning as q_learning_config
from environments import base

ALPHA, GAMMA = 0.5, 0.9


def chain_specs(num_actions: int) -> types.EnvSpecs:
  return types.EnvSpecs(
      dm_specs.DiscreteArray(3, dtype=np.int32),
      dm_specs.DiscreteArray(num_actions, dtype=np.int32),
  )


def chain_trajectory(action: int = 0, steps: int = 2) -> types.Trajectory:
  """0 -> 1 (reward 0) -> 2 (terminal, reward 1), one environment; the
  first `steps` transitions."""
  timestep = base.TimeStep(
      step_type=jnp.array([[base.FIRST], [base.MID], [base.LAST]], jnp.int32),
      reward=jnp.array([[0.0], [0.0], [1.0]]),
      discount=jnp.array([[1.0], [1.0], [0.0]]),
      observation=jnp.array([[0], [1], [2]], jnp.int32),
  )
  timestep = jax.tree.map(lambda x: x[: steps + 1], timestep)
  return types.Trajectory(
      timestep=timestep,
      action=jnp.full((steps, 1), action, jnp.int32),
      extras={},
      actor_state=(),
  )


def configured(module, config_module, num_actions=2, **overrides):
  config = config_module.get_config("dyna_maze")
  config.learning_rate = ALPHA
  config.gamma = GAMMA
  for key, value in overrides.items():
    config[key] = value
  agent = module.make_agent(
      config, chain_specs(num_actions), types.RunInfo(1, 1)
  )
  return agent, agent.init(jax.random.PRNGKey(0), None)


def test_q_learning_updates_by_hand():
  agent, state = configured(q_learning, q_learning_config)
  state = state.replace(q=state.q.at[1, 1].set(0.5))
  state, metrics = jax.jit(agent.learn)(
      state, chain_trajectory(action=1), jax.random.PRNGKey(1)
  )
  # (0, right): 0 + 0.9 * max Q(1) = 0.45 -> Q = 0.5 * 0.45.
  # (1, right): 1 + 0 (terminal) - 0.5 = 0.5 -> Q = 0.5 + 0.5 * 0.5.
  expected = np.zeros((3, 2))
  expected[0, 1], expected[1, 1] = 0.225, 0.75
  np.testing.assert_allclose(state.q, expected, rtol=1e-6)
  assert int(state.t) == 2 and float(metrics["backups"]) == 2
  events = tabular.ordered_events(state.log)
  np.testing.assert_array_equal(events["state"], [0, 1])
  np.testing.assert_array_equal(events["kind"], [tabular.REAL] * 2)
  np.testing.assert_allclose(events["td_error"], [0.45, 0.5], rtol=1e-6)


def test_action_at_a_last_step_is_not_learned():
  agent, state = configured(q_learning, q_learning_config)
  trajectory = chain_trajectory()
  step_type = trajectory.timestep.step_type.at[0, 0].set(base.LAST)
  trajectory = trajectory.replace(
      timestep=trajectory.timestep.replace(step_type=step_type)
  )
  state, _ = agent.learn(state, trajectory, jax.random.PRNGKey(0))
  assert float(state.q[0].sum()) == 0.0 and int(state.t) == 1


def test_dyna_q_planning_step_by_hand():
  agent, state = configured(dyna_q, dyna_q_config, planning_steps=1)
  state = state.replace(q=state.q.at[1, 1].set(0.5))
  one = chain_trajectory(action=1, steps=1)  # only 0 -> 1
  state, _ = agent.learn(state, one, jax.random.PRNGKey(3))
  # Real: Q(0,1) = 0.5 * 0.45 = 0.225. The model holds only (0, 1), so the
  # planning step backs it up again: 0.225 + 0.5 * (0.45 - 0.225).
  np.testing.assert_allclose(state.q[0, 1], 0.3375, rtol=1e-6)
  events = tabular.ordered_events(state.log)
  np.testing.assert_array_equal(
      events["kind"], [tabular.REAL, tabular.PLANNING]
  )
  np.testing.assert_array_equal(events["state"], [0, 0])
  assert bool(state.model.tried[0, 1]) and not bool(state.model.tried[0, 0])
  assert int(state.model.next_state[0, 1]) == 1


def test_dyna_q_plus_bonus_by_hand():
  state = tabular.init_state(3, 1, 8)
  model = state.model.replace(
      next_state=state.model.next_state.at[0, 0].set(1),
      tried=state.model.tried.at[0, 0].set(True),
      last_tried=state.model.last_tried.at[0, 0].set(1),
  )
  state = state.replace(
      model=model, q=state.q.at[1, 0].set(0.5), t=jnp.int32(10)
  )
  state = tabular.dyna_planning(
      state,
      jax.random.PRNGKey(0),
      num_steps=1,
      alpha=ALPHA,
      gamma=GAMMA,
      kappa=0.1,
      all_actions=True,
  )
  # tau = 10 - 1 = 9: target 0 + 0.1 * sqrt(9) + 0.9 * 0.5 = 0.75.
  np.testing.assert_allclose(state.q[0, 0], 0.375, rtol=1e-6)
  # Without the bonus (Dyna-Q): 0.5 * 0.45.
  plain = tabular.dyna_planning(
      state.replace(q=state.q.at[0, 0].set(0.0)),
      jax.random.PRNGKey(0),
      num_steps=1,
      alpha=ALPHA,
      gamma=GAMMA,
  )
  np.testing.assert_allclose(plain.q[0, 0], 0.225, rtol=1e-6)


def test_dyna_q_plus_plans_untried_actions_of_visited_states():
  agent, state = configured(
      dyna_q_plus, dyna_q_plus_config, planning_steps=50, kappa=0.1
  )
  one = chain_trajectory(action=1, steps=1)
  state, _ = agent.learn(state, one, jax.random.PRNGKey(0))
  events = tabular.ordered_events(state.log)
  planned = events["action"][events["kind"] == tabular.PLANNING]
  assert set(planned.tolist()) == {0, 1}  # action 0 was never tried
  assert set(events["state"].tolist()) == {0}


def test_queue_pops_in_priority_order_and_keeps_the_max():
  queue = jnp.zeros((3, 2))
  insert = prioritized_sweeping.insert
  everywhere = jnp.ones((3, 2), bool)
  p = jnp.array([[0.3, 0.0], [0.9, 0.05], [0.6, 0.2]])
  queue = insert(queue, everywhere, p, theta=0.1)  # 0.05 stays out
  queue = insert(
      queue,
      jnp.zeros((3, 2), bool).at[0, 0].set(True),
      jnp.full((3, 2), 0.1),
      theta=0.0,
  )  # lower: 0.3 kept
  order = []
  for _ in range(5):
    queue, s, a, non_empty = prioritized_sweeping.pop(queue)
    if bool(non_empty):
      order.append((int(s), int(a)))
  assert order == [(1, 0), (2, 0), (0, 0), (2, 1)]


def test_prioritized_sweeping_sweeps_backwards_by_hand():
  agent, state = configured(
      prioritized_sweeping,
      sweeping_config,
      num_actions=1,
      planning_steps=2,
      priority_threshold=0.0,
  )
  state, _ = agent.learn(state, chain_trajectory(), jax.random.PRNGKey(0))
  # 0 -> 1: P = 0, not queued. 1 -> 2: P = 1, queued and popped:
  # Q(1) = 0.5 * 1; its predecessor (0) gets P = 0.9 * 0.5 = 0.45 and is
  # popped next: Q(0) = 0.5 * 0.45. Real steps update Q only via the queue.
  np.testing.assert_allclose(state.q[:, 0], [0.225, 0.5, 0.0], rtol=1e-6)
  events = tabular.ordered_events(state.log)
  np.testing.assert_array_equal(events["state"], [1, 0])
  np.testing.assert_array_equal(events["kind"], [tabular.PLANNING] * 2)
  assert float(state.priority.max()) == 0.0


@pytest.mark.parametrize(
    "module,config_module",
    [
        (dyna_q, dyna_q_config),
        (dyna_q_plus, dyna_q_plus_config),
        (prioritized_sweeping, sweeping_config),
    ],
)
@pytest.mark.parametrize("steps", [0, -3])
def test_non_positive_planning_steps_raise_user_error(
    module, config_module, steps
):
  with pytest.raises(UserError, match="planning_steps"):
    configured(module, config_module, planning_steps=steps)


def test_tabular_agent_needs_state_indices():
  config = q_learning_config.get_config("dyna_maze")
  specs = types.EnvSpecs(
      dm_specs.Array((9,), np.float32), dm_specs.DiscreteArray(4)
  )
  with pytest.raises(UserError, match="tabular"):
    q_learning.make_agent(config, specs, types.RunInfo(1, 1))


def test_acting_is_greedy_with_random_ties():
  agent, state = configured(q_learning, q_learning_config)
  params = agent.actor_params(state)
  timestep = jax.tree.map(lambda x: x[0, 0], chain_trajectory().timestep)
  act = jax.jit(lambda p, k: agent.act(p, (), timestep, k, True)[0])
  actions = {int(act(params, jax.random.PRNGKey(i))) for i in range(20)}
  assert actions == {0, 1}  # all-zero Q: ties broken at random
  params = params.replace(q=params.q.at[0, 1].set(1.0))
  assert {int(act(params, jax.random.PRNGKey(i))) for i in range(10)} == {1}


@pytest.mark.parametrize(
    "config_module",
    [q_learning_config, dyna_q_config, dyna_q_plus_config, sweeping_config],
)
@pytest.mark.parametrize(
    "maze",
    [
        "dyna_maze",
        "blocking_maze",
        "shortcut_maze",
        "open_field",
        "linear_track",
        "shortcut_maze_after",
    ],
)
def test_every_tabular_config_builds_on_every_maze(config_module, maze):
  from agents.runtime import train  # pylint: disable=g-import-not-at-top

  config = config_module.get_config(maze)
  agent, loop = train.build_loop(config)
  assert train.loop_name(config) == "anakin" and agent.name == config.agent
  loop.close()


def test_bad_maze_in_a_config_is_a_user_error():
  from agents.runtime import train  # pylint: disable=g-import-not-at-top

  config = dyna_q_config.get_config("dyna_maze")
  config.env = "gridworld"
  config.env_kwargs.layout = "S.#;.#G"
  with pytest.raises(UserError, match="no goal of the maze can be reached"):
    train.build_loop(config)


@pytest.mark.slow
def test_train_runs_dyna_q_on_a_maze_file(tmp_path):
  from agents.runtime import train  # pylint: disable=g-import-not-at-top

  maze = tmp_path / "corridor.txt"
  maze.write_text("S...G\n.....\n")
  config = dyna_q_config.get_config(str(maze))
  config.total_env_steps = 400
  config.log_every_env_steps = 200
  config.num_seeds = 2
  train.train(config, str(tmp_path / "run"))
  with open(tmp_path / "run" / "summary.json") as f:
    summary = json.load(f)
  assert summary["eval_return_per_seed"] == [1.0, 1.0]
