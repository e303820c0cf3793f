"""What every script shares: user errors become one message and exit code 2."""

from __future__ import annotations

import re
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


def parse_flags(argv: list[str]) -> list[str]:
  """absl flags parser for `app.run`: a bad flag or config override (unknown
  key, wrong type, missing preset) is one message and exit code 2."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e)
    if "Traceback" in message:  # config_flags embeds the config's traceback
      lines = [l for l in message.splitlines() if l.strip()]
      message = f"{lines[0]} {lines[-1]}"
  except (AttributeError, KeyError) as e:
    detail = str(e.args[0]) if e.args else str(e)
    keys = re.findall(r'"([^"]+)"', detail)  # "Did you mean "x" instead of "y""
    unknown = re.findall(r"'+\\?'?([A-Za-z0-9_.]+)", detail)
    message = f"unknown config key {unknown[0] if unknown else detail!r}"
    if len(keys) == 2:
      message += f" (did you mean {keys[0]!r}?)"
  except (ValueError, TypeError, OSError) as e:
    message = str(e)
  print(f"error: {message}", file=sys.stderr)
  print("Pass --helpfull to see the flags; config keys are in configs/<agent>.py.",
        file=sys.stderr)
  sys.exit(2)


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
