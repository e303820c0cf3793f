"""One process of the two-process test (tests/test_multihost.py).

Run as: python tests/multihost_worker.py PORT PROCESS_ID WORKDIR OUT.npz
Initializes jax.distributed over localhost with gloo CPU collectives, trains
A2C through the normal driver, then saves this process's copy of the params.
"""

import sys

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")


def main():
  port, process_id, workdir, out = sys.argv[1:5]
  jax.distributed.initialize(
      coordinator_address=f"localhost:{port}",
      num_processes=2,
      process_id=int(process_id),
  )
  import numpy as np  # pylint: disable=g-import-not-at-top
  from agents.runtime import anakin  # pylint: disable=g-import-not-at-top
  from agents.runtime import train  # pylint: disable=g-import-not-at-top
  from tests.test_loop import _small_a2c  # pylint: disable=g-import-not-at-top

  config = _small_a2c()
  config.num_envs = 4  # 2 per process
  result = train.train(config, workdir, log=print)
  assert result.summary["num_devices"] == 2, result.summary
  params = anakin.fetch_replicated(result.state.agent_state.params)
  flat = {
      jax.tree_util.keystr(k): np.asarray(v)
      for k, v in jax.tree_util.tree_leaves_with_path(params)
  }
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
