"""Replay benchmarks behind `python -m scripts.benchmark` (issue 12, item 5).

Measured in the calling process, side by side, like `benchmarks.py`:

* `prioritized_vs_flashbax`: add, sample and priority-update throughput
  (items/s) of our prioritized buffer
  (`agents/replay/prioritized.py`) and of flashbax's prioritised
  item buffer, on the same items (DQN's CartPole transitions), the same alpha
  and the same batches, at each capacity and batch size. Each operation is
  timed as a jitted `lax.scan` of `NUM_OPS` calls (the buffer state donated
  where it is written), median of `rounds x repeats` runs alternating with
  flashbax's, compile excluded, in CPU seconds (`time.process_time`: on a
  shared machine other processes' load inflates wall time, not this); the
  buffers are filled to capacity first. It runs in a fresh process pinned
  to one core (`one_core`): left to itself XLA:CPU splits these
  millisecond programs over every core, and the split costs more CPU time
  than it saves (1e6/256 sampling: 3.2M items per CPU second on 2 cores
  against 9.8M on one), differently for the two buffers and from run to run,
  so per-core throughput is what compares them. Adds write `batch` items per call; samples draw
  `batch` items; updates set `batch` priorities at given indices. flashbax is
  an optional, benchmark-only dependency, imported here only.
* `replay_memory` (run in subprocesses, `memory_probe`): a DQN CartPole
  learner holding a buffer of `capacity` transitions, its compiled segment's
  memory analysis (bytes XLA aliases from the donated input state to the
  output, and its temporaries), the process's peak RSS (ru_maxrss) against
  a tiny-buffer run of the same program, and its resident memory after the
  compile and after the training segments: with the state donated and
  written in place, training adds no copy of the buffer (the RSS after the
  segments stays at the level after the compile, for both buffer sizes).
  The peak itself is set by the compile (XLA:CPU's compiler holds tens of
  MiB more for the larger program) and by the initial state, not by
  training.
* DQN with prioritized against uniform replay, env steps/s, is
  `benchmarks.compiled_throughput` on two configs (scripts/benchmark.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

NUM_OPS = 512  # calls of one operation per timed program (tens of ms: the
# CPU clock accounts other threads' time in scheduler ticks, so a program of a
# few ms can read several times too fast)
ALPHA = 0.6  # both buffers


def _example_item():
  """One DQN CartPole transition (agents/lib/value_based.py's item)."""
  return dict(
      observation=jnp.zeros((4,), jnp.float32),
      action=jnp.zeros((), jnp.int32),
      reward=jnp.zeros((), jnp.float32),
      discount=jnp.zeros((), jnp.float32),
      next_observation=jnp.zeros((4,), jnp.float32),
      valid=jnp.zeros((), jnp.float32),
  )


def _random_items(key, shape):
  k1, k2, k3 = jax.random.split(key, 3)
  return dict(
      observation=jax.random.normal(k1, (*shape, 4)),
      action=jax.random.randint(k2, shape, 0, 2),
      reward=jnp.ones(shape),
      discount=jnp.full(shape, 0.99),
      next_observation=jax.random.normal(k3, (*shape, 4)),
      valid=jnp.ones(shape),
  )


def make_ours(capacity: int):
  """Our prioritized buffer (the class DQN builds), alpha = ALPHA."""
  from agents.replay import prioritized  # pylint: disable=g-import-not-at-top

  return prioritized.PrioritizedReplay(
      capacity, priority_exponent=ALPHA, anneal_steps=1_000_000
  )


def _timed_once(fn, make_args) -> float:
  """CPU seconds of one `fn(*make_args())` call (inputs built untimed)."""
  args = make_args()
  jax.block_until_ready(args)
  start = time.process_time()
  jax.block_until_ready(fn(*args))
  return time.process_time() - start


def _programs(add, sample, update, state, capacity, batch):
  """{op: (compiled fn, make_args)} for one buffer (pure functions); each
  program is a jitted scan of NUM_OPS calls, compiled here (untimed)."""
  key = jax.random.PRNGKey(0)
  adds = _random_items(key, (NUM_OPS, batch))
  sample_keys = jax.random.split(key, NUM_OPS)
  indices = jax.random.randint(key, (NUM_OPS, batch), 0, capacity)
  priorities = jax.random.uniform(key, (NUM_OPS, batch), minval=0.01)

  def scan_add(s, items):
    return jax.lax.scan(lambda s, x: (add(s, x), None), s, items)[0]

  def scan_sample(s, keys):
    def body(acc, k):
      items = sample(s, k)
      return acc + jnp.sum(items["observation"]), None

    return jax.lax.scan(body, jnp.zeros(()), keys)[0]

  def scan_update(s, idx, prio):
    return jax.lax.scan(lambda s, x: (update(s, *x), None), s, (idx, prio))[0]

  copy = lambda: jax.tree.map(jnp.copy, state)  # donated calls consume it
  programs = dict(
      add=(jax.jit(scan_add, donate_argnums=0), lambda: (copy(), adds)),
      sample=(jax.jit(scan_sample), lambda: (state, sample_keys)),
      update=(
          jax.jit(scan_update, donate_argnums=0),
          lambda: (copy(), indices, priorities),
      ),
  )
  for fn, make_args in programs.values():
    jax.block_until_ready(fn(*make_args()))  # compile
  return programs


def ours_programs(capacity: int, batch: int):
  buffer = make_ours(capacity)
  state = buffer.init(_example_item())
  state = jax.jit(buffer.add)(
      state, _random_items(jax.random.PRNGKey(1), (capacity,))
  )
  return _programs(
      buffer.add,
      lambda s, k: buffer.sample(s, k, batch).items,
      buffer.update,
      state,
      capacity,
      batch,
  )


def flashbax_programs(capacity: int, batch: int):
  """The same on flashbax's prioritised item buffer; None without flashbax."""
  try:
    import flashbax  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  fb = flashbax.make_prioritised_item_buffer(
      max_length=capacity,
      min_length=1,
      sample_batch_size=batch,
      add_batches=True,
      priority_exponent=ALPHA,
      device="cpu",
  )
  state = fb.init(jax.tree.map(np.asarray, _example_item()))
  state = jax.jit(fb.add)(
      state, _random_items(jax.random.PRNGKey(1), (capacity,))
  )
  return _programs(
      fb.add,
      lambda s, k: fb.sample(s, k).experience,
      fb.set_priorities,
      state,
      capacity,
      batch,
  )


def prioritized_vs_flashbax(
    capacities=(100_000, 1_000_000),
    batches=(64, 256),
    repeats: int = 3,
    rounds: int = 2,
    one_core: bool = True,
) -> dict[str, Any]:
  """{"C/B": {"ours": {op: items/s}, "flashbax": ... or None}}, measured in
  a fresh process pinned to one core (`one_core`; else in this process).

  Both buffers' programs are compiled first; then `rounds * repeats` times,
  each op of ours and of flashbax runs once, alternately (a burst of load on
  a shared machine hits both sides alike), and each reports its median."""
  if one_core:
    cores = sorted(os.sched_getaffinity(0))
    return _in_fresh_process(
        "prioritized_vs_flashbax("
        f"{tuple(capacities)!r}, {tuple(batches)!r}, {repeats}, {rounds},"
        " one_core=False)",
        cores=[cores[-1]],
    )
  out = {}
  for capacity in capacities:
    for batch in batches:
      sides = dict(
          ours=ours_programs(capacity, batch),
          flashbax=flashbax_programs(capacity, batch),
      )
      times = {
          name: None if programs is None else {op: [] for op in programs}
          for name, programs in sides.items()
      }
      for _ in range(max(rounds, 1) * max(repeats, 1)):
        for name, programs in sides.items():
          if programs is None:
            continue
          for op, (fn, make_args) in programs.items():
            times[name][op].append(_timed_once(fn, make_args))
      out[f"{capacity}/{batch}"] = {
          name: None
          if by_op is None
          else {op: NUM_OPS * batch / np.median(t) for op, t in by_op.items()}
          for name, by_op in times.items()
      }
  return out


# ---- memory: a 1e6-transition buffer, donated ------------------------------


def memory_probe(
    capacity: int, replay_kind: str = "prioritized", segments: int = 2
) -> dict[str, Any]:
  """In THIS process: a DQN CartPole learner with a `capacity`-transition
  buffer; compiles its segment, reads XLA's memory analysis, runs
  `segments` segments, and returns the buffer's bytes, the analysis and the
  peak RSS. Meant to run in a fresh process (`replay_memory`)."""
  import resource  # pylint: disable=g-import-not-at-top
  from agents.runtime import train as train_lib  # pylint: disable=g-import-not-at-top
  from configs import dqn  # pylint: disable=g-import-not-at-top

  config = dqn.get_config("cartpole")
  config.replay = replay_kind
  config.replay_capacity = capacity
  config.min_replay_size = min(config.min_replay_size, capacity)
  _, loop = train_lib.build_loop(config)
  state = loop.init([config.seed])
  replay_bytes = sum(
      x.nbytes for x in jax.tree.leaves(state.agent_state.replay)
  )
  state_bytes = sum(x.nbytes for x in jax.tree.leaves(state))
  jax.block_until_ready(state)
  rss_init = _resident_bytes()
  compiled = loop.segment_fn().lower(state).compile()
  stats = compiled.memory_analysis()
  aliased = "input_output_alias" in compiled.as_text().split("\n", 1)[0]
  rss_compiled = _resident_bytes()
  for _ in range(segments):
    state, metrics = compiled(state)
    jax.block_until_ready(metrics)
  rss_trained = _resident_bytes()
  return dict(
      rss_after_init_bytes=rss_init,
      rss_after_compile_bytes=rss_compiled,
      rss_after_training_bytes=rss_trained,
      capacity=capacity,
      replay=replay_kind,
      replay_bytes=int(replay_bytes),
      state_bytes=int(state_bytes),
      alias_bytes=int(stats.alias_size_in_bytes),
      temp_bytes=int(stats.temp_size_in_bytes),
      argument_bytes=int(stats.argument_size_in_bytes),
      input_output_alias=bool(aliased),
      peak_rss_bytes=int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
      * 1024,
  )


def _resident_bytes() -> int:
  """This process's resident memory now (Linux /proc/self/statm)."""
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def replay_memory(
    capacity: int = 1_000_000,
    small: int = 1_000,
    replay_kind: str = "prioritized",
) -> dict[str, Any]:
  """`memory_probe` in two fresh processes, `capacity` and `small`
  transitions, same program otherwise; the difference in peak RSS is what
  the buffer costs (one copy if the donated state is updated in place)."""
  out = {}
  for name, size in (("large", capacity), ("small", small)):
    out[name] = _in_fresh_process(f"memory_probe({size}, {replay_kind!r})")
  large, small_run = out["large"], out["small"]
  growth = large["peak_rss_bytes"] - small_run["peak_rss_bytes"]
  extra_replay = large["replay_bytes"] - small_run["replay_bytes"]
  out["rss_growth_bytes"] = int(growth)
  out["rss_growth_over_buffer"] = growth / max(extra_replay, 1)
  return out


def _in_fresh_process(call: str, cores: list[int] | None = None) -> Any:
  """The JSON result of `call` (an expression over this module) evaluated
  in a fresh Python process, pinned to `cores` when given (before jax
  starts, so XLA sizes its thread pools to them)."""
  root = os.path.dirname(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  )
  code = (
      "import json, agents; from agents.runtime import replay_benchmarks"
      f" as r; print(json.dumps(r.{call}))"
  )
  proc = subprocess.run(
      [sys.executable, "-c", code],
      cwd=root,
      env=dict(os.environ, PYTHONPATH=root),
      capture_output=True,
      text=True,
      preexec_fn=None
      if cores is None
      else lambda: os.sched_setaffinity(0, cores),
  )
  if proc.returncode != 0:
    raise RuntimeError(f"{call} failed: {proc.stderr[-2000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])
