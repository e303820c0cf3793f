"""What every script shares: user errors become one message and exit code 2."""

from __future__ import annotations

import sys

from absl import flags

from agents.runtime.errors import NonFiniteLossError, UserError

_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None,
    "host:port of process 0 for multi-host runs (jax.distributed.initialize)")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None,
                                      "number of processes (multi-host runs)")
_PROCESS_ID = flags.DEFINE_integer("process_id", None,
                                   "this process's index (multi-host runs)")
_CPU_COLLECTIVES = flags.DEFINE_string(
    "cpu_collectives", None,
    "cross-process collectives on CPU ('gloo'), for multi-process CPU runs")


def maybe_initialize_distributed() -> None:
  """Multi-host: jax.distributed.initialize from flags (or the environment
  on TPU pods/SLURM, where JAX finds the coordinator itself)."""
  import jax  # pylint: disable=g-import-not-at-top
  if _CPU_COLLECTIVES.value:
    jax.config.update("jax_cpu_collectives_implementation",
                      _CPU_COLLECTIVES.value)
  if _COORDINATOR.value or _NUM_PROCESSES.value:
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value,
                               process_id=_PROCESS_ID.value)


def run_main(main_fn) -> None:
  from absl import logging  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  try:
    main_fn()
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except NonFiniteLossError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(3)
