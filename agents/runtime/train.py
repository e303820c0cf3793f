"""The training driver behind `scripts/train.py`: config -> results in a workdir.

Data flow:
  config (ml_collections) --validate--> task --> loop (`config.loop`, any
  implementation of agents/runtime/loops.py; it builds the agent with the
  run's types.RunInfo) --> segments; after
  each segment the host appends a row to DIR/metrics.csv, prints a progress
  line and saves an orbax checkpoint to DIR/checkpoints/; at the end it
  evaluates greedily with frozen weights and writes DIR/summary.json and
  DIR/learning_curve.png. DIR/config.json is the resolved config.

Resume: a DIR whose config.json equals the config resumes from its newest
readable checkpoint; metrics.csv is cut back to that checkpoint. Segments of the
compiled loop are deterministic functions of the state, so the finished run
is bitwise the same as an uninterrupted one (same platform and device count);
the host loop restarts its episode, and the asynchronous loops (hogwild with
K > 1, sebulba) are not deterministic, so their resumed runs continue the
learning without being bitwise the same.
A DIR holding another config is refused unless `overwrite=True`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from typing import Any, Callable

import jax
import ml_collections
import numpy as np

from agents import registry as agent_registry
from agents import types
from agents.runtime import checkpointing
from agents.runtime import config_schema
from agents.runtime import host_loop
from agents.runtime import interrupts
from agents.runtime import loops
from agents.runtime import metrics_log
from agents.runtime import workdir as workdir_lib
from agents.runtime.errors import NonFiniteLossError, UserError
from environments import registry as env_registry

# ---- validation --------------------------------------------------------------

REQUIRED_KEYS = (
    "agent",
    "env",
    "seed",
    "num_seeds",
    "num_envs",
    "total_env_steps",
    "learning_rate",
)


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises UserError naming the first bad value and what is allowed."""
  for key in REQUIRED_KEYS:
    if key not in config:
      raise UserError(f"config has no {key!r}; every config needs it")
  config_schema.validate(config)  # every key's type and range
  if config.agent not in agent_registry.AGENTS:
    raise UserError(
        f"unknown agent {config.agent!r}; known agents: "
        f"{', '.join(sorted(agent_registry.AGENTS))}"
    )
  if "batch_size" in config and "replay_capacity" in config:
    if config.batch_size > config.replay_capacity:
      raise UserError(
          f"config.batch_size={config.batch_size} is larger than "
          f"config.replay_capacity={config.replay_capacity}; "
          "the batch must fit in the buffer"
      )
    if config.min_replay_size > config.replay_capacity:
      raise UserError(
          f"config.min_replay_size={config.min_replay_size} is "
          f"larger than config.replay_capacity="
          f"{config.replay_capacity}"
      )


# ---- building ----------------------------------------------------------------


def _check_action_space(agent_name: str, specs: types.EnvSpecs, env_name):
  kind = "discrete" if hasattr(specs.action, "num_values") else "continuous"
  supported = agent_registry.action_spaces(agent_name)
  if kind not in supported:
    raise UserError(
        f"agent {agent_name!r} cannot act in task {env_name!r}: the task's "
        f"action space is {kind} ({specs.action}) and the agent supports "
        f"{', '.join(supported)} actions"
    )


def loop_name(config) -> str:
  """`config.loop`, with "auto" resolved: the host loop for stateful dm_env
  tasks (bsuite:...), the compiled Anakin loop for functional ones."""
  name = config.get("loop", "auto")
  if name == "auto":
    return "host" if env_registry.is_host_task(config.env) else "anakin"
  return name


def make_task(config) -> loops.Task:
  """The task `config.env` names (UserError for an unknown one)."""
  try:
    if env_registry.is_host_task(config.env):
      environment = env_registry.make_host(config.env, config.seed)
      return loops.Task(
          name=config.env,
          specs=host_loop.specs_of(environment),
          make_host=functools.partial(env_registry.make_host, config.env),
      )
    env = env_registry.make(config.env, **config.env_kwargs.to_dict())
  except env_registry.UnknownTaskError as e:
    raise UserError(str(e)) from None
  return loops.Task(
      name=config.env,
      env=env,
      specs=types.EnvSpecs(env.observation_spec(), env.action_spec()),
  )


def build_loop(config: ml_collections.ConfigDict):
  """Validates and builds (agent, loop): the loop `config.loop` names
  (agents/runtime/loops.py), which builds the agent with the run's
  types.RunInfo. Raises UserError."""
  validate_config(config)
  make_agent = agent_registry.get_builder(config.agent)
  loop_module = loops.get(loop_name(config))
  task = make_task(config)
  _check_action_space(config.agent, task.specs, config.env)
  loop = loop_module.build(config, task, make_agent)
  return loop.agent, loop


# ---- workdir -----------------------------------------------------------------

# What a run writes into DIR (besides DIR/.lock); `--overwrite` moves these.
RUN_FILES = (
    "config.json",
    "metrics.csv",
    "summary.json",
    "learning_curve.png",
    "eval.json",
    "checkpoints",
)
OVERWRITTEN_PREFIX = "overwritten-"


def config_to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def _existing_config(workdir: str) -> tuple[bool, dict[str, Any] | None]:
  """(DIR/config.json exists, its contents or None if unreadable)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return False, None
  try:
    with open(path) as f:
      existing = json.load(f)
  except (OSError, ValueError):
    return True, None
  return True, existing if isinstance(existing, dict) else None


def check_workdir(workdir: str, config, overwrite: bool) -> bool:
  """Read-only checks of DIR; returns True when DIR holds this very run.

  Raises UserError when DIR cannot hold results, or holds a run with another
  config and `overwrite` is False.
  """
  workdir_lib.ensure_writable_dir(workdir)
  exists, existing = _existing_config(workdir)
  wanted = config_to_dict(config)
  if not exists:
    return False
  if existing == wanted:
    return True
  if not overwrite:
    differing = sorted(
        k
        for k in set(wanted) | set(existing or {})
        if (existing or {}).get(k) != wanted.get(k)
    )
    raise UserError(
        f"{workdir} holds a run with a different config (differs in: "
        f"{', '.join(differing) if existing else 'unreadable config.json'}); "
        "use another --workdir, or --overwrite to move that run aside"
    )
  return False


def move_run_aside(workdir: str) -> str | None:
  """Moves the files of the run in DIR to DIR/overwritten-<UTC time>/.

  Nothing is deleted: `--overwrite` keeps the old run there, to be removed by
  hand once it is not wanted. Returns that folder, or None if DIR held nothing.
  """
  present = [n for n in RUN_FILES if os.path.lexists(os.path.join(workdir, n))]
  if not present:
    return None
  stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
  aside = os.path.join(workdir, OVERWRITTEN_PREFIX + stamp)
  n = 1
  while os.path.exists(aside):
    n += 1
    aside = os.path.join(workdir, f"{OVERWRITTEN_PREFIX}{stamp}.{n}")
  os.makedirs(aside)
  for name in present:
    os.rename(os.path.join(workdir, name), os.path.join(aside, name))
  return aside


def prepare_workdir(workdir: str, config, overwrite: bool) -> bool:
  """Checks DIR, then (holding its lock) creates it or moves an old run aside
  and writes config.json; returns True when resuming."""
  if check_workdir(workdir, config, overwrite):
    return True
  os.makedirs(workdir, exist_ok=True)
  if jax.process_index() == 0:
    move_run_aside(workdir)  # only reached with overwrite (or a fresh DIR)
    workdir_lib.write_json_atomic(
        os.path.join(workdir, "config.json"), config_to_dict(config)
    )
  return False


# ---- the run -----------------------------------------------------------------


@dataclasses.dataclass
class TrainResult:
  """What `train` returns: the summary written to DIR/summary.json and the
  final loop state (the loop's own: for the compiled loop every leaf has
  leading [device, seed] axes; `loop.agent_states(state)` gives every
  loop's agent states [seed, ...])."""

  summary: dict[str, Any]
  state: Any


def _segment_row(metrics: dict[str, np.ndarray], num_seeds: int):
  """Per-seed metric arrays -> a metrics.csv row (means over seeds)."""
  row = {"episode_return_mean": float(np.mean(metrics["episode_return_mean"]))}
  for key in sorted(metrics):
    if key in ("episode_return_mean", "all_finite"):
      continue
    row[key] = float(np.mean(metrics[key]))
  if num_seeds > 1:
    for i, value in enumerate(np.atleast_1d(metrics["episode_return_mean"])):
      row[f"episode_return_seed{i}"] = float(value)
  return row


def _broadcast_flag(value: bool) -> bool:
  """Process 0's `value` on every process (multi-process runs)."""
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top

  return bool(multihost_utils.broadcast_one_to_all(np.int32(value)))


def check_run(
    config: ml_collections.ConfigDict, workdir: str, *, overwrite: bool = False
):
  """Everything `train` checks before it writes anything: the config's keys
  and cross-key rules, the agent and loop built from it, and DIR.

  Returns (agent, loop); raises UserError. Touches nothing (the caller
  closes the loop).
  """
  agent, loop = build_loop(config)
  try:
    check_workdir(workdir, config, overwrite)
  except BaseException:
    loop.close()
    raise
  return agent, loop


def train(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> TrainResult:
  """Trains (or resumes) in `workdir`; returns the summary and final state.

  Everything that user input can make fail (see `check_run`) fails before
  DIR is touched. DIR is then locked (DIR/.lock, process 0) for the whole
  run; a run holding it makes this one fail with a UserError naming its pid.
  With `overwrite`, a run with another config (or one whose checkpoints are
  all unreadable) is moved to DIR/overwritten-<time>/ first.
  """
  name = f"{config.get('agent')} {config.get('env')}"
  log(f"[{name}] building...")
  _, loop = check_run(config, workdir, overwrite=overwrite)
  try:
    metrics_log.preload_plotting()
    os.makedirs(workdir, exist_ok=True)
    lock = workdir_lib.WorkdirLock(workdir)
    if jax.process_index() == 0:
      lock.acquire()
    try:
      return _train_locked(config, workdir, overwrite, log, name, loop)
    finally:
      lock.release()
  finally:
    loop.close()  # threads of the asynchronous loops are joined here


def _train_locked(
    config, workdir, overwrite, log, name, loop: loops.Loop
) -> TrainResult:
  """`train` once DIR is checked and locked."""
  resuming = _broadcast_flag(prepare_workdir(workdir, config, overwrite))
  seeds = [config.seed + i for i in range(config.num_seeds)]
  steps_per_segment = loop.env_steps_per_segment
  num_segments = math.ceil(config.total_env_steps / steps_per_segment)
  total_steps = num_segments * steps_per_segment
  is_writer = jax.process_index() == 0
  checkpointer = checkpointing.Checkpointer(
      os.path.join(workdir, "checkpoints"), config.keep_checkpoints
  )
  metrics_file = metrics_log.MetricsLog(os.path.join(workdir, "metrics.csv"))
  phase = "while restoring and compiling"
  try:
    compile_seconds = 0.0
    t0 = time.perf_counter()
    # The abstract state (a trace of init) is only needed to restore.
    abstract = lambda: loop.abstract_state(len(seeds))
    init = lambda: loop.init(seeds)
    restored = (
        checkpointer.restore_latest(abstract(), move_corrupt=is_writer)
        if resuming
        else None
    )
    if restored is None and resuming and metrics_file.read():
      if not overwrite:
        raise UserError(
            f"{workdir} has training metrics but no readable checkpoint; "
            "nothing was changed. If the cause was transient, run again; "
            "--overwrite moves this run aside and starts from scratch"
        )
      checkpointer.close()
      if is_writer:
        aside = move_run_aside(workdir)
        workdir_lib.write_json_atomic(
            os.path.join(workdir, "config.json"), config_to_dict(config)
        )
        log(
            f"[{name}] no readable checkpoint: the old run was moved to "
            f"{aside}; starting from scratch"
        )
      checkpointer = checkpointing.Checkpointer(
          os.path.join(workdir, "checkpoints"), config.keep_checkpoints
      )
    if restored is not None:
      done_segments, state = restored
      rows = metrics_file.truncate_to(done_segments * steps_per_segment)
      wall_offset = float(rows[-1]["wall_seconds"]) if rows else 0.0
      log(
          f"[{name}] resuming from checkpoint at segment {done_segments} "
          f"({done_segments * steps_per_segment:,} env steps)"
      )
    else:
      done_segments, state = 0, init()
      metrics_file.truncate_to(0)
      wall_offset = 0.0
    compile_seconds += time.perf_counter() - t0

    t0 = time.perf_counter()
    compiled = loop.prepare(state)
    compile_seconds += time.perf_counter() - t0

    if done_segments == 0:
      rounded = (
          ""
          if total_steps == config.total_env_steps
          else f" ({config.total_env_steps:,} rounded up to whole segments "
          f"of {steps_per_segment:,})"
      )
      log(
          f"[{name}] training {total_steps:,} env steps per seed{rounded}, "
          f"{len(seeds)} seed(s), {config.num_envs} envs, "
          f"{loop.num_devices} device(s), {loop_name(config)} loop; "
          + (
              f"compiled in {compile_seconds:.1f}s"
              if compiled
              else f"initialised in {compile_seconds:.1f}s (it compiles on its "
              "first segment)"
          )
      )

    train_start = time.perf_counter()
    steps_this_run = 0
    # Ctrl-C / SIGTERM stop the run between two segments, not wherever the
    # main thread is (interrupts.py says why); a second one stops it at once.
    with interrupts.held(second_now=True) as signals:
      for segment_index in range(done_segments, num_segments):
        phase = f"during segment {segment_index + 1} of {num_segments}"
        seg_start = time.perf_counter()
        state, metrics = loop.run_segment(state)
        seg_seconds = time.perf_counter() - seg_start
        if not np.all(np.asarray(metrics["all_finite"]) > 0):
          checkpointer.close()
          kept = checkpointer.all_steps()
          raise NonFiniteLossError(
              f"non-finite loss during env steps "
              f"{segment_index * steps_per_segment:,}-"
              f"{(segment_index + 1) * steps_per_segment:,}; training stopped. "
              f"The last good checkpoint (segment "
              f"{kept[-1] if kept else 'none'}) is kept in "
              f"{checkpointer.directory}"
          )
        env_steps = (segment_index + 1) * steps_per_segment
        steps_this_run += steps_per_segment
        elapsed = time.perf_counter() - train_start
        row = {
            "env_steps": env_steps,
            "wall_seconds": wall_offset + elapsed,
            "env_steps_per_second": steps_per_segment
            * len(seeds)
            / seg_seconds,
        }
        row.update(_segment_row(metrics, len(seeds)))
        if is_writer:
          metrics_file.append(row)
        if (
            (segment_index + 1) % config.checkpoint_every_segments == 0
            or segment_index + 1 == num_segments
        ):
          checkpointer.save(segment_index + 1, state)
        rate = steps_this_run / elapsed
        shown = {k: row[k] for k in row if k in ("episode_return_mean", "loss")}
        log(
            metrics_log.progress_line(
                name,
                env_steps,
                total_steps,
                rate * len(seeds),
                (total_steps - env_steps) / max(rate, 1e-9),
                shown,
            )
        )
        phase = f"after segment {segment_index + 1} of {num_segments}"
        signals.deliver_pending()
    train_seconds = time.perf_counter() - train_start
    checkpointer.close()

    # Greedy evaluation with frozen weights.
    phase = "during the final evaluation"
    eval_key = jax.random.PRNGKey(config.seed + 1_000_003)
    t0 = time.perf_counter()
    eval_returns, eval_done = loop.evaluate(
        state, eval_key, config.eval_episodes
    )
    eval_seconds = time.perf_counter() - t0
  except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (errors.Terminated)
    checkpointer.close()  # the saves under way complete
    kept = checkpointer.all_steps()
    where = (
        f"the last checkpoint (segment {kept[-1]}, "
        f"{kept[-1] * steps_per_segment:,} env steps) is kept in "
        f"{checkpointer.directory}; the same command resumes from it"
        if kept
        else "no checkpoint had been written yet"
    )
    e.args = (f"training stopped {phase}; {where}",)
    raise
  except BaseException:
    checkpointer.close()
    raise

  rows = metrics_file.read()
  total_wall = float(rows[-1]["wall_seconds"]) if rows else train_seconds
  summary = {
      "agent": config.agent,
      "task": config.env,
      "seeds": seeds,
      "num_envs": config.num_envs,
      "num_devices": int(loop.num_devices),
      "loop": loop_name(config),
      "env_steps": total_steps,
      "wall_seconds": total_wall,
      "compile_seconds": compile_seconds,
      "eval_seconds": eval_seconds,
      "env_steps_per_second": total_steps * len(seeds) / max(total_wall, 1e-9),
      "eval_return_mean": float(np.mean(eval_returns)),
      "eval_return_per_seed": [float(x) for x in np.mean(eval_returns, axis=1)],
      "eval_episodes": int(config.eval_episodes),
      "eval_episodes_unfinished": int(np.sum(~np.asarray(eval_done, bool))),
      "eval_checkpoint_segment": int(num_segments),
      "final_train_return_mean": (
          float(rows[-1]["episode_return_mean"]) if rows else float("nan")
      ),
      "platform": jax.default_backend(),
  }
  if is_writer:
    workdir_lib.write_json_atomic(
        os.path.join(workdir, "summary.json"), summary
    )
    seed_columns = [
        k
        for k in (rows[0] if rows else {})
        if k.startswith("episode_return_seed")
    ]
    metrics_log.plot_learning_curve(
        rows,
        os.path.join(workdir, "learning_curve.png"),
        f"{config.agent} on {config.env}",
        seed_columns,
        eval_return=summary["eval_return_mean"],
    )
  log(
      f"[{name}] done: {total_steps:,} env steps in {total_wall:.1f}s "
      f"({summary['env_steps_per_second']:,.0f} steps/s), greedy eval return "
      f"{summary['eval_return_mean']:.3f} over {config.eval_episodes} episodes"
  )
  return TrainResult(summary=summary, state=state)


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
  """DIR/config.json as a ConfigDict; a UserError if it is missing or not a
  JSON object (its keys and values are checked by `validate_config`)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise UserError(f"{workdir} holds no run (no config.json)")
  try:
    with open(path) as f:
      tree = json.load(f)
  except (OSError, UnicodeDecodeError) as e:
    raise UserError(f"cannot read {path}: {e}") from None
  except ValueError as e:
    raise UserError(f"{path} is not valid JSON ({e})") from None
  if not isinstance(tree, dict):
    raise UserError(
        f"{path} must hold a JSON object of config keys, not "
        f"{json.dumps(tree)[:40]}"
    )
  try:
    return ml_collections.ConfigDict(_tuples(tree))
  except (TypeError, ValueError, KeyError, AttributeError) as e:
    raise UserError(f"{path} is not a config ({e})") from None


def _tuples(tree):
  """JSON lists back to tuples (configs use tuples for sequences)."""
  if isinstance(tree, dict):
    return {k: _tuples(v) for k, v in tree.items()}
  if isinstance(tree, list):
    return tuple(_tuples(v) for v in tree)
  return tree
