"""Grid worlds from ASCII layouts: parser, errors, dm_env contract, switch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import absltest
from dm_env import test_utils

from agents.runtime.errors import UserError
from environments import base
from environments import dm_env_adapter
from environments import gridworld
from environments import registry

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3


class DynaMazeDmEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(
        gridworld.GridWorld(max_episode_steps=50), seed=4
    )


class OneHotDmEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(
        gridworld.GridWorld(layout="linear_track", observation="onehot"), seed=5
    )


@pytest.mark.parametrize(
    "name,length",
    [
        ("dyna_maze", 14),
        ("blocking_maze", 10),
        ("blocking_maze_after", 16),
        ("shortcut_maze", 16),
        ("shortcut_maze_after", 10),
        ("open_field", 14),
        ("linear_track", 9),
    ],
)
def test_builtin_mazes_shortest_paths(name, length):
  layout = gridworld.parse_layout(gridworld.read_layout_text(name))
  assert gridworld.shortest_path_length(layout) == length


def test_dyna_maze_geometry():
  layout = gridworld.parse_layout(gridworld.read_layout_text("dyna_maze"))
  assert layout.shape == (6, 9)
  assert list(zip(*np.nonzero(layout.starts))) == [(2, 0)]
  assert list(zip(*np.nonzero(layout.goals))) == [(0, 8)]


@pytest.mark.parametrize(
    "text,message",
    [
        ("S.x.G\n.....", "unknown character"),
        ("...G\n.#..", "no start"),
        ("S...\n.#..", "no goal"),
        ("S.#G\n..#.", "cannot be reached|no goal of the maze can be reached"),
        ("S..\n.G", "same width"),
    ],
)
def test_bad_mazes_raise_user_error(text, message):
  with pytest.raises(UserError, match=message):
    gridworld.GridWorld(layout=text)


def test_unknown_maze_name_and_bad_switch_raise_user_error():
  with pytest.raises(UserError, match="unknown maze"):
    gridworld.GridWorld(layout="no_such_maze")
  with pytest.raises(UserError, match="same size"):
    gridworld.GridWorld(
        layout="S.G;...", switch_layout="S..G;....", switch_step=3
    )
  with pytest.raises(UserError, match="switch_step"):
    gridworld.GridWorld(
        layout="S.G;...", switch_layout="S.G;...", switch_step=0
    )


def test_layout_from_file_and_semicolon_rows(tmp_path):
  path = tmp_path / "maze.txt"
  path.write_text("S.#\n..3\n")
  env = registry.make("gridworld", layout=str(path))
  assert env.num_states == 6
  same = registry.make("gridworld", layout="S.#;..3")
  np.testing.assert_array_equal(env.maze.goal_rewards, same.maze.goal_rewards)
  assert float(env.maze.goal_rewards[1, 2]) == 3.0


def test_moves_walls_goal_and_reset():
  env = gridworld.GridWorld(layout="S.#\n..G")
  state, ts = env.reset(jax.random.PRNGKey(0))
  assert int(ts.observation) == 0
  step = jax.jit(env.step)
  expected = [
      (UP, 0, 0.0, base.MID),
      (RIGHT, 1, 0.0, base.MID),
      (RIGHT, 1, 0.0, base.MID),  # wall
      (DOWN, 4, 0.0, base.MID),
      (RIGHT, 5, 1.0, base.LAST),
      (LEFT, 0, 0.0, base.FIRST),
  ]  # action ignored: a new episode
  for action, obs, reward, step_type in expected:
    state, ts = step(state, jnp.int32(action))
    assert (int(ts.observation), float(ts.reward), int(ts.step_type)) == (
        obs,
        reward,
        step_type,
    )
  assert float(ts.discount) == 1.0
  assert int(state.inner.t) == 5  # the FIRST step is not an agent step


def test_walls_switch_after_switch_step_across_episodes():
  env = gridworld.GridWorld(
      layout="S#G\n...", switch_layout="S.G\n...", switch_step=3
  )
  state, _ = env.reset(jax.random.PRNGKey(0))
  step = jax.jit(env.step)
  for _ in range(3):  # three bumps into the wall
    state, ts = step(state, jnp.int32(RIGHT))
    assert int(ts.observation) == 0
  state, ts = step(state, jnp.int32(RIGHT))  # t = 3: the wall is gone
  assert int(ts.observation) == 1


def test_vmapped_rollout_and_random_starts():
  env = registry.make("linear_track")
  keys = jax.random.split(jax.random.PRNGKey(1), 64)
  state, ts = jax.jit(jax.vmap(env.reset))(keys)
  assert set(np.asarray(ts.observation).tolist()) == {0, 29}
  step = jax.jit(jax.vmap(env.step))
  for _ in range(5):
    state, ts = step(state, jnp.full((64,), RIGHT, jnp.int32))
  assert ts.observation.shape == (64,)
