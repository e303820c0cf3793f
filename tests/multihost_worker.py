"""One process of the two-process tests (tests/test_loop.py,
tests/test_async_loops.py).

Run as: python tests/multihost_worker.py PORT PROCESS_ID WORKDIR OUT.npz [LOOP]
Initializes jax.distributed over localhost with gloo CPU collectives, trains
A2C through the normal driver with LOOP ("anakin", the default: CartPole in
the compiled loop; "sebulba": bsuite catch/0, 2 actor threads and a learner
per process), then saves this process's copy of the params (and, for
sebulba, the env steps this process's learner consumed, `local_env_steps`).
"""

import sys

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")


def _sebulba_config():
  from configs import a2c  # pylint: disable=g-import-not-at-top

  c = a2c.get_config("catch")
  c.update(
      dict(
          loop="sebulba",
          env="bsuite:catch/0",
          num_actors=2,  # per process
          num_envs=8,  # global: 2 processes x 2 actors x 2 environments
          rollout_length=4,
          total_env_steps=2 * 2 * 4 * 12,  # 12 learn calls per process
          log_every_env_steps=2 * 2 * 4 * 6,  # 2 segments, 2 checkpoints
          eval_episodes=2,
      )
  )
  return c


def main():
  port, process_id, workdir, out = sys.argv[1:5]
  loop_name = sys.argv[5] if len(sys.argv) > 5 else "anakin"
  jax.distributed.initialize(
      coordinator_address=f"localhost:{port}",
      num_processes=2,
      process_id=int(process_id),
  )
  import numpy as np  # pylint: disable=g-import-not-at-top
  from agents.runtime import anakin  # pylint: disable=g-import-not-at-top
  from agents.runtime import sebulba  # pylint: disable=g-import-not-at-top
  from agents.runtime import train  # pylint: disable=g-import-not-at-top
  from tests.test_loop import _small_a2c  # pylint: disable=g-import-not-at-top

  built = []
  if loop_name == "sebulba":
    config = _sebulba_config()
    build = sebulba.build

    def recording_build(*args):  # keeps the loop, to count its env steps
      built.append(build(*args))
      return built[-1]

    sebulba.build = recording_build
  else:
    config = _small_a2c()
    config.num_envs = 4  # 2 per process
  result = train.train(config, workdir, log=print)
  assert result.summary["num_devices"] == 2, result.summary
  params = anakin.fetch_replicated(result.state.agent_state.params)
  flat = {
      jax.tree_util.keystr(k): np.asarray(v)
      for k, v in jax.tree_util.tree_leaves_with_path(params)
  }
  if built:
    loop = built[0]
    flat["local_env_steps"] = np.asarray(
        len(loop.received) * loop.envs_per_actor * loop.rollout_length
    )
  np.savez(out, **flat)
  print(
      "process",
      process_id,
      "devices",
      jax.device_count(),
      "local",
      jax.local_device_count(),
  )


if __name__ == "__main__":
  main()
