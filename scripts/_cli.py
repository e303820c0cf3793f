"""What every script shares: flag parsing and `--help`, user errors as one
message and exit code 2, Ctrl-C and SIGTERM as one line (exit 130 / 143)."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import sys

from absl import flags

from agents.runtime.errors import (
    LoopCrashed,
    NonFiniteLossError,
    Terminated,
    UserError,
)

_COORDINATOR = flags.DEFINE_string(
    "coordinator_address",
    None,
    "host:port of process 0 for multi-host runs (jax.distributed.initialize)",
)
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "number of processes (multi-host runs)"
)
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "this process's index (multi-host runs)"
)
_CPU_COLLECTIVES = flags.DEFINE_string(
    "cpu_collectives",
    None,
    "cross-process collectives on CPU ('gloo'), for multi-process CPU runs",
)

HELP_FLAGS = ("-h", "-help", "--help", "--helpshort", "--helpfull", "-?")
HINT = (
    "Pass --help to see the flags, agents and presets (with --config, the "
    "preset's keys)."
)


def _fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  print(HINT, file=sys.stderr)
  sys.exit(2)


def _config_arg(argv: list[str]) -> str | None:
  """The value of --config in argv (`--config=X` or `--config X`), if any."""
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      return arg[len("--config=") :]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def check_config_file(value: str) -> None:
  """UserError unless `value` (PATH[:preset]) names a config file whose
  module defines get_config."""
  from agents.runtime import config_schema  # pylint: disable=g-import-not-at-top

  path = value.split(":", 1)[0]
  known = ", ".join(f"configs/{n}.py" for n in config_schema.config_modules())
  if not path:
    raise UserError(
        f"--config is empty; give configs/<agent>.py[:preset], "
        f"one of: {known}"
    )
  if os.path.isdir(path):
    raise UserError(
        f"--config={path} is a directory; give a config file, "
        f"one of: {known}"
    )
  if not os.path.isfile(path):
    raise UserError(f"--config={path}: no such file; config files: {known}")
  if not config_schema.defines_get_config(path):
    raise UserError(
        f"--config={path} defines no get_config(preset) (it is "
        f"not an agent's config); config files: {known}"
    )


def parse_flags(
    argv: list[str], flag_values: flags.FlagValues = flags.FLAGS
) -> list[str]:
  """absl flags parser for `app.run`: `--help` prints the help and exits 0; a
  bad flag, config file or override (unknown key, wrong type, missing preset)
  is one message and exit code 2."""
  if any(a in HELP_FLAGS for a in argv[1:]):
    print(help_text(argv, flag_values))
    sys.exit(0)
  config_value = _config_arg(argv[1:]) if "config" in flag_values else None
  try:
    if config_value is not None:
      check_config_file(config_value)
    rest = flag_values(argv)
    if config_value is not None:
      flag_values["config"].value  # pylint: disable=pointless-statement
    return rest
  except UserError as e:
    message = str(e)
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
    message = " ".join(str(e).split())
  _fail(message)


def help_text(
    argv: list[str], flag_values: flags.FlagValues = flags.FLAGS
) -> str:
  """The script's docstring and flags; for scripts with --config, the agents
  and presets, and with --config given, that preset's keys and ranges."""
  main = sys.modules.get("__main__")
  parts = [
      (getattr(main, "__doc__", None) or "").strip(),
      "",
      "flags:",
      flag_values.main_module_help().strip() or "  (none)",
  ]
  if "config" in flag_values:
    parts += ["", *_agents_and_presets()]
    value = _config_arg(argv[1:])
    if value:
      parts += ["", *_preset_keys(value)]
  return "\n".join(parts)


def _load_config_module(path: str):
  spec = importlib.util.spec_from_file_location(
      "_help_config_" + os.path.basename(path)[:-3], path
  )
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _agents_and_presets() -> list[str]:
  from agents import registry  # pylint: disable=g-import-not-at-top
  from agents.runtime import config_schema  # pylint: disable=g-import-not-at-top

  lines = [
      f"agents: {', '.join(sorted(registry.AGENTS))}",
      "presets (--config=configs/<agent>.py:<preset>; the first is the "
      "default):",
  ]
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for name in config_schema.config_modules():
    module = _load_config_module(os.path.join(root, "configs", f"{name}.py"))
    presets = config_schema.presets_of(module)
    lines.append(f"  configs/{name}.py: {', '.join(presets) or '(default)'}")
  return lines


def _preset_keys(value: str) -> list[str]:
  from agents.runtime import config_schema  # pylint: disable=g-import-not-at-top

  try:
    check_config_file(value)
    path, _, preset = value.partition(":")
    module = _load_config_module(path)
    config = module.get_config(preset) if preset else module.get_config()
  except (UserError, ValueError, OSError) as e:
    return [f"(cannot show the keys of --config={value}: {e})"]
  lines = [f"keys of {value} (override with --config.<key>=<value>):"]
  width = max(len(k) for k in config.keys())
  for key in sorted(config.keys()):
    spec = config_schema.SCHEMA.get(key)
    allowed = spec.allowed if spec else "UNDECLARED in config_schema.SCHEMA"
    value = config[key]
    value = value.to_dict() if hasattr(value, "to_dict") else value
    lines.append(f"  {key.ljust(width)} = {value!r}  -- {allowed}")
  return lines


def maybe_initialize_distributed() -> None:
  """Multi-host: jax.distributed.initialize from flags (or the environment
  on TPU pods/SLURM, where JAX finds the coordinator itself)."""
  import jax  # pylint: disable=g-import-not-at-top

  if _CPU_COLLECTIVES.value:
    jax.config.update(
        "jax_cpu_collectives_implementation", _CPU_COLLECTIVES.value
    )
  if _COORDINATOR.value or _NUM_PROCESSES.value:
    jax.distributed.initialize(
        coordinator_address=_COORDINATOR.value,
        num_processes=_NUM_PROCESSES.value,
        process_id=_PROCESS_ID.value,
    )


def _raise_terminated(signum, frame):
  del signum, frame
  raise Terminated()


def run_main(main_fn) -> None:
  """Runs `main_fn()`: UserError -> `error: ...` and exit 2, a non-finite
  loss -> exit 3, a crashed thread of an asynchronous loop -> exit 1, Ctrl-C -> one line and exit 130, SIGTERM -> exit 143.

  Import the heavy modules (jax, the runtime) inside `main_fn`, so that an
  interrupt during the imports is handled too.
  """
  from absl import logging  # pylint: disable=g-import-not-at-top

  if not flags.FLAGS["verbosity"].present:
    # orbax logs every save at INFO, and slow saves at WARNING.
    logging.set_verbosity(logging.ERROR)
  signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    main_fn()
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except NonFiniteLossError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(3)
  except LoopCrashed as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  except KeyboardInterrupt as e:
    # No more interrupts while exiting: the run has already cleaned up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    terminated = isinstance(e, Terminated)
    detail = e.args[0] if e.args else "stopped"
    print(
        f"{'terminated (SIGTERM)' if terminated else 'interrupted'}: "
        f"{detail}",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    # The run has finished its saves and released its lock. Skip interpreter
    # teardown: a compile still running on a background thread can crash it,
    # and orbax's event loop complains when it is torn down mid-wait.
    os._exit(143 if terminated else 130)  # pylint: disable=protected-access
