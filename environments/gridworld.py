"""Grid worlds from ASCII layouts (Sutton & Barto 2018 ch. 8; Mattar & Daw).

A maze is a block of text, one character per cell:

  `#` wall        `.` free cell
  `S` start       (several `S`: each episode starts at one drawn uniformly)
  `G` goal        terminal, reward `goal_reward` (default 1)
  `1`..`9`        terminal goal with that reward (mazes with unequal goals)

Four actions: 0 up, 1 down, 2 left, 3 right. A move into a wall or off the
grid leaves the agent where it is. Entering a goal ends the episode with its
reward; every other step gives `step_reward` (default 0). The observation is
the cell's index `row * width + column` (a `DiscreteArray`, what the tabular
agents index their tables with), or with `observation="onehot"` a one-hot
vector of that index (for function approximators).

`layout` names a built-in maze (`environments/mazes/<name>.txt`), a path to a
text file, or the layout itself (rows separated by newlines or by `;`), so a
new maze needs no code:

  --config.env=gridworld --config.env_kwargs.layout=my_maze.txt
  --config.env=gridworld --config.env_kwargs.layout='S..#;.#.G'

Changing mazes (Sutton & Barto's blocking and shortcut mazes): the walls of
`switch_layout` replace those of `layout` after `switch_step` agent time steps,
counted over the whole run (the steps that start a new episode after a LAST
step take no action and are not counted). Both layouts must have the same size,
starts and goals. A fresh `reset` starts the count at 0, so a greedy
evaluation from a reset (scripts.train's) is scored on the first layout.

Built-in mazes:

* `dyna_maze`: the Dyna maze of Sutton & Barto (2nd ed., Fig. 8.2 / Example
  8.1): 6x9, start (2, 0), goal (0, 8), shortest path 14 steps.
* `blocking_maze` -> `blocking_maze_after` (Fig. 8.4): a wall across row 3
  with the gap on the right; after 1000 steps the gap is on the left.
* `shortcut_maze` -> `shortcut_maze_after` (Fig. 8.5): the gap on the left;
  after 3000 steps a second, shorter gap opens on the right.
* `open_field` (Mattar & Daw 2018, "Prioritized memory access explains
  planning and hippocampal replay", Nat. Neurosci.): their open field is, as
  best known from the paper's figure and published code (not in
  SCIENCE.md), Sutton & Barto's 6x9 Dyna maze, start (2, 0), reward (0, 8).
* `linear_track` (Mattar & Daw 2018): a 10-cell track run in both directions,
  as two lanes separated by a wall row (the running direction is part of the
  state); each lane runs from its `S` to the `G` at the far end. Mattar & Daw
  alternate the lanes; here each episode starts in one drawn at random.

Bad layouts (an unknown character, unequal rows, no start, no goal, a goal
unreachable from a start) raise `agents.runtime.errors.UserError`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs
from flax import struct

from agents.runtime.errors import UserError
from environments import base

MAZE_DIR = os.path.join(os.path.dirname(__file__), "mazes")
WALL, FREE, START, GOAL = "#", ".", "S", "G"
ALLOWED = frozenset("#.SG123456789")
# (d_row, d_col) of actions 0 up, 1 down, 2 left, 3 right.
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], np.int32)


def builtin_mazes() -> list[str]:
  return sorted(f[:-4] for f in os.listdir(MAZE_DIR) if f.endswith(".txt"))


@dataclasses.dataclass(frozen=True)
class Layout:
  """A parsed maze (numpy arrays; static data of a task)."""

  walls: np.ndarray  # [H, W] bool
  starts: np.ndarray  # [H, W] bool
  goal_rewards: np.ndarray  # [H, W] float32 (0 where not a goal)
  goals: np.ndarray  # [H, W] bool

  @property
  def shape(self) -> tuple[int, int]:
    return self.walls.shape

  @property
  def num_states(self) -> int:
    return int(self.walls.size)


def read_layout_text(layout: str) -> str:
  """The maze text of a built-in name, a file path or the layout itself."""
  if not isinstance(layout, str) or not layout.strip():
    raise UserError(
        f"maze layout {layout!r} is not allowed: give a built-in "
        f"maze ({', '.join(builtin_mazes())}), a path to a text "
        "file, or the rows themselves"
    )
  if "\n" in layout:
    return layout
  builtin = os.path.join(MAZE_DIR, layout + ".txt")
  for path in (builtin, layout):
    if os.path.isfile(path):
      with open(path) as f:
        return f.read()
  if ";" in layout:
    return layout.replace(";", "\n")
  raise UserError(
      f"unknown maze {layout!r}: give a built-in maze "
      f"({', '.join(builtin_mazes())}), a path to a text file, or "
      "the rows themselves (separated by newlines or ';')"
  )


def parse_layout(text: str, goal_reward: float = 1.0) -> Layout:
  """Parses ASCII rows into a `Layout`; raises UserError on a bad maze."""
  rows = [r.rstrip("\r") for r in text.strip("\n").split("\n")]
  rows = [r.strip() for r in rows]
  if not rows or not rows[0]:
    raise UserError("the maze is empty")
  for i, row in enumerate(rows):
    bad = sorted(set(row) - ALLOWED)
    if bad:
      raise UserError(
          f"maze row {i} {row!r} has unknown character(s) "
          f"{''.join(bad)!r}; allowed: '#' wall, '.' free, "
          "'S' start, 'G' goal, '1'-'9' goal with that reward"
      )
    if len(row) != len(rows[0]):
      raise UserError(
          f"maze row {i} {row!r} has {len(row)} cells but row 0 "
          f"has {len(rows[0])}; every row needs the same width"
      )
  grid = np.array([list(r) for r in rows])
  walls = grid == WALL
  starts = grid == START
  goals = (grid == GOAL) | np.isin(grid, list("123456789"))
  goal_rewards = np.zeros(grid.shape, np.float32)
  goal_rewards[grid == GOAL] = goal_reward
  for digit in "123456789":
    goal_rewards[grid == digit] = float(digit)
  if not starts.any():
    raise UserError("the maze has no start: mark at least one cell 'S'")
  if not goals.any():
    raise UserError(
        "the maze has no goal: mark at least one cell 'G' (or a "
        "reward digit '1'-'9')"
    )
  layout = Layout(
      walls=walls, starts=starts, goal_rewards=goal_rewards, goals=goals
  )
  distances = shortest_distances(layout)
  for r, c in zip(*np.nonzero(starts)):
    if distances[r, c] < 0:
      raise UserError(
          f"no goal of the maze can be reached from the start at "
          f"row {r}, column {c}: the walls cut it off"
      )
  return layout


def shortest_distances(layout: Layout) -> np.ndarray:
  """Steps from each cell to the nearest goal (-1: unreachable; BFS)."""
  h, w = layout.shape
  dist = -np.ones((h, w), np.int64)
  queue = collections.deque()
  for r, c in zip(*np.nonzero(layout.goals)):
    dist[r, c] = 0
    queue.append((r, c))
  while queue:
    r, c = queue.popleft()
    for dr, dc in MOVES:
      pr, pc = r + dr, c + dc  # moves are reversible on a grid
      if (
          0 <= pr < h
          and 0 <= pc < w
          and not layout.walls[pr, pc]
          and not layout.goals[pr, pc]
          and dist[pr, pc] < 0
      ):
        dist[pr, pc] = dist[r, c] + 1
        queue.append((pr, pc))
  return dist


def shortest_path_length(layout: Layout) -> int:
  """Steps of the shortest path from the (first) start to a goal."""
  dist = shortest_distances(layout)
  return int(min(dist[r, c] for r, c in zip(*np.nonzero(layout.starts))))


@struct.dataclass
class GridState:
  position: chex.Array  # int32 cell index row * width + column
  t: chex.Array  # int32 agent time steps over the whole run (layout switch)


@dataclasses.dataclass(frozen=True)
class GridWorld(base.Environment):
  """A maze from an ASCII layout (see the module docstring)."""

  layout: str = "dyna_maze"
  switch_layout: str = ""  # "" = the maze never changes
  switch_step: int = 0  # agent time steps before switch_layout applies
  goal_reward: float = 1.0  # reward of 'G' cells
  step_reward: float = 0.0  # reward of every other step
  observation: str = "index"  # "index" or "onehot"

  def __post_init__(self):
    if self.observation not in ("index", "onehot"):
      raise UserError(
          f"gridworld observation={self.observation!r} is not "
          "allowed: it must be 'index' or 'onehot'"
      )
    if self.max_episode_steps < 0:
      raise UserError(
          f"max_episode_steps={self.max_episode_steps} is not "
          "allowed: it must be >= 0 (0 = no limit)"
      )
    first = self.maze  # parses, so a bad layout fails at construction
    if self.switch_layout:
      if self.switch_step < 1:
        raise UserError(
            f"switch_step={self.switch_step} is not allowed with "
            "a switch_layout: it must be an integer >= 1"
        )
      second = self.switched_maze
      if second.shape != first.shape:
        raise UserError(
            f"switch_layout is {second.shape[0]}x"
            f"{second.shape[1]} but layout is {first.shape[0]}x"
            f"{first.shape[1]}; both must have the same size"
        )
      if not (
          np.array_equal(second.starts, first.starts)
          and np.array_equal(second.goal_rewards, first.goal_rewards)
      ):
        raise UserError(
            "switch_layout must keep the starts and goals of "
            "layout (only the walls may change)"
        )

  @functools.cached_property
  def maze(self) -> Layout:
    return parse_layout(read_layout_text(self.layout), self.goal_reward)

  @functools.cached_property
  def switched_maze(self) -> Layout:
    return parse_layout(read_layout_text(self.switch_layout), self.goal_reward)

  @property
  def num_states(self) -> int:
    return self.maze.num_states

  @property
  def width(self) -> int:
    return self.maze.shape[1]

  def _observation(self, position):
    if self.observation == "onehot":
      return jax.nn.one_hot(position, self.num_states, dtype=jnp.float32)
    return position.astype(jnp.int32)

  def _reset(self, key):
    starts = jnp.asarray(self.maze.starts.reshape(-1))
    position = jax.random.categorical(
        key, jnp.where(starts, 0.0, -jnp.inf)
    ).astype(jnp.int32)
    inner = GridState(position=position, t=jnp.zeros((), jnp.int32))
    return inner, self._observation(position)

  def walls_at(self, t: chex.Array) -> chex.Array:
    """[H, W] walls in force at agent time step t (traceable)."""
    walls = jnp.asarray(self.maze.walls)
    if self.switch_layout:
      walls = jnp.where(
          t >= self.switch_step, jnp.asarray(self.switched_maze.walls), walls
      )
    return walls

  def _step(self, inner: GridState, action, key):
    del key
    h, w = self.maze.shape
    row, col = inner.position // w, inner.position % w
    move = jnp.asarray(MOVES)[jnp.asarray(action, jnp.int32)]
    new_row, new_col = row + move[0], col + move[1]
    inside = (new_row >= 0) & (new_row < h) & (new_col >= 0) & (new_col < w)
    walls = self.walls_at(inner.t)
    blocked = (
        ~inside
        | walls[jnp.clip(new_row, 0, h - 1), jnp.clip(new_col, 0, w - 1)]
    )
    position = jnp.where(blocked, inner.position, new_row * w + new_col).astype(
        jnp.int32
    )
    goals = jnp.asarray(self.maze.goals.reshape(-1))
    rewards = jnp.asarray(self.maze.goal_rewards.reshape(-1))
    terminated = goals[position]
    reward = jnp.where(terminated, rewards[position], self.step_reward)
    inner = GridState(position=position, t=inner.t)
    return inner, self._observation(position), reward, terminated

  def step(self, state: base.EnvState, action):
    """The contract's step, carrying the run's time step across episodes."""
    new_state, timestep = super().step(state, action)
    t = state.inner.t + jnp.where(state.last, 0, 1).astype(jnp.int32)
    return new_state.replace(inner=new_state.inner.replace(t=t)), timestep

  def observation_spec(self):
    if self.observation == "onehot":
      return specs.BoundedArray(
          (self.num_states,),
          jnp.float32,
          minimum=0.0,
          maximum=1.0,
          name="observation",
      )
    return specs.DiscreteArray(
        self.num_states, dtype=jnp.int32, name="observation"
    )

  def action_spec(self):
    return specs.DiscreteArray(4, dtype=jnp.int32, name="action")
