"""Keys every agent's config shares, with the same names everywhere."""

import ml_collections


def base_config(agent: str, env: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.agent = agent  # agents/registry.py name
  c.env = env  # environments/registry.py name, or bsuite:<id> (host loop)
  c.env_kwargs = ml_collections.ConfigDict()  # static task parameters
  c.seed = 0
  c.num_seeds = 1  # > 1 vmaps independent runs (seeds seed .. seed+n-1)
  c.num_envs = 16  # global, split over devices
  c.num_devices = 0  # 0 = all local devices (all devices of all processes)
  c.rollout_length = 8  # steps per environment per learn call
  c.total_env_steps = 100_000  # per seed
  c.learning_rate = 1e-3
  c.log_every_env_steps = 10_000  # one compiled segment between log lines
  c.checkpoint_every_segments = 1
  c.keep_checkpoints = 3
  c.eval_episodes = 100
  c.eval_max_steps = 1000  # per evaluation episode (tasks without a limit)
  # The training loop (agents/runtime/loops.py): "auto" = "anakin" (compiled)
  # for functional tasks, "host" for bsuite:; "hogwild" (K actor-learner
  # threads), "sebulba" (K actor threads + a learner).
  c.loop = "auto"
  c.num_actors = 2  # K: threads of hogwild / actor threads of sebulba
  c.hogwild_lock = False  # True: apply gradients under a lock
  c.queue_size = 4  # sebulba: trajectories waiting for the learner
  return c
