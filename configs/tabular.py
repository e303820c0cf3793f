"""Keys shared by the tabular agents (Sutton & Barto ch. 8), and their mazes.

The preset is the maze: a grid-world task name (dyna_maze, blocking_maze,
shortcut_maze, open_field, linear_track), another built-in layout
(environments/mazes/), or a path to a layout file:

  python -m scripts.train --config=configs/dyna_q.py:dyna_maze --workdir=runs/d
  python -m scripts.train --config=configs/q_learning.py:my_maze.txt --workdir=r
"""

import ml_collections

from configs import common

GRID_TASKS = (
    "dyna_maze",
    "blocking_maze",
    "shortcut_maze",
    "open_field",
    "linear_track",
)
# Agent time steps per run for each built-in task (the book's figures: the
# changing mazes run 3000 and 6000 steps; the others ~50 episodes or more).
STEPS = {"blocking_maze": 3000, "shortcut_maze": 6000}


def tabular_config(agent: str, preset: str) -> ml_collections.ConfigDict:
  preset = preset or "dyna_maze"
  if preset in GRID_TASKS:
    c = common.base_config(agent, preset)
  else:  # any other maze: a built-in layout name or a file
    c = common.base_config(agent, "gridworld")
    c.env_kwargs.layout = preset
  # Sutton & Barto, Fig. 8.2: alpha 0.1, epsilon 0.1, gamma 0.95, Q0 = 0.
  c.learning_rate = 0.1  # alpha, the step size of every backup
  c.gamma = 0.95
  c.epsilon = 0.1  # epsilon-greedy behaviour (evaluation is greedy)
  c.event_log_capacity = 4096  # backups kept in the state's event log
  # One environment, one step per learn call: the book's agents learn (and
  # plan) after every step. A tabular state cannot be averaged over devices.
  c.num_envs = 1
  c.rollout_length = 1
  c.num_devices = 1
  c.total_env_steps = STEPS.get(preset, 10_000)
  c.log_every_env_steps = 1_000
  c.eval_episodes = 10
  c.eval_max_steps = 500
  return c
