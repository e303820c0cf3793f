"""Throughput benchmarks behind `python -m scripts.benchmark` (a printed table).

Every number is measured in the calling process, side by side, so ratios are
comparable on a shared, noisy machine:
  * compiled training throughput (env steps/s, compile excluded) and compile
    time per agent, on the configs users run;
  * whole-process wall time of a training command (imports, compile, training,
    evaluation), and whether it solved the task;
  * the host loop on a bsuite environment;
  * our functional CartPole step against gymnax's CartPole-v1 (random actions,
    same batch), when gymnax is installed;
  * DQN and QR-DQN at PureJaxRL's CartPole workload
    (`PUREJAXRL_DQN_WORKLOAD`) through our loop and through
    `minimal_value_based_program`, a single fused scan with nothing but that
    workload in it: the floor that any framework's bookkeeping (replay
    validity, metrics, segments, seeds, devices) adds to. The two are timed
    in interleaved rounds (`overhead_against_minimal`) and compared round by
    round.

DQN's CartPole preset is learner-bound on CPU (4 gradient steps on 64
transitions per 32 env steps): `python -m scripts.benchmark
--only=dqn_cartpole,dqn_cartpole_purejaxrl_workload` puts it beside the
minimal fused DQN.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from agents.lib import cpu_threefry
from agents.runtime import train as train_lib


def compiled_throughput(
    config: ml_collections.ConfigDict, min_seconds: float = 2.0
) -> dict[str, Any]:
  """Env steps/s of the compiled loop on `config` (compile time excluded)."""
  _, loop = train_lib.build_loop(config)
  t0 = time.perf_counter()
  state = loop.init([config.seed + i for i in range(config.num_seeds)])
  segment = loop.segment_fn().lower(state).compile()
  compile_seconds = time.perf_counter() - t0
  state, metrics = segment(state)  # warm-up
  jax.block_until_ready(metrics)
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < min_seconds:
    state, metrics = segment(state)
    jax.block_until_ready(metrics)
    steps += loop.env_steps_per_segment * config.num_seeds
  seconds = time.perf_counter() - start
  return dict(
      env_steps_per_second=steps / seconds,
      compile_seconds=compile_seconds,
      env_steps=steps,
  )


def loop_throughput(
    config: ml_collections.ConfigDict, min_seconds: float = 3.0
) -> dict[str, Any]:
  """Env steps/s of whatever loop `config.loop` builds, through the loop
  interface (agents/runtime/loops.py); the first segment (compiling) is not
  timed."""
  _, loop = train_lib.build_loop(config)
  try:
    t0 = time.perf_counter()
    state = loop.init([config.seed + i for i in range(config.num_seeds)])
    loop.prepare(state)
    state, _ = loop.run_segment(state)  # warm-up: compiles what is left
    compile_seconds = time.perf_counter() - t0
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
      state, metrics = loop.run_segment(state)
      steps += loop.env_steps_per_segment * config.num_seeds
    seconds = time.perf_counter() - start
  finally:
    loop.close()
  result = dict(
      env_steps_per_second=steps / seconds,
      compile_seconds=compile_seconds,
      env_steps=steps,
  )
  for key in ("cas_retries", "staleness", "queue_length"):
    if key in metrics:
      result[key] = float(metrics[key][0])
  return result


def interleaved_loop_throughput(
    configs: dict[str, ml_collections.ConfigDict],
    seconds: float = 3.0,
    rounds: int = 3,
) -> dict[str, dict[str, Any]]:
  """Env steps/s of several loops (any `config.loop`), timed in interleaved
  rounds: every loop is built and warmed up (compiled) first, then each
  round times each loop for `seconds` in turn, so that load on a shared
  machine hits them alike. Per loop: the median rate and every round's
  rate. Threads of a loop not being timed (Sebulba's actors) wait on their
  full queue meanwhile. Compare loops round by round (`median_ratio`)."""
  built, states, compile_seconds = {}, {}, {}
  try:
    for name, config in configs.items():
      t0 = time.perf_counter()
      _, built[name] = train_lib.build_loop(config)
      state = built[name].init([config.seed])
      built[name].prepare(state)
      states[name], _ = built[name].run_segment(state)  # compiles the rest
      compile_seconds[name] = time.perf_counter() - t0
    rates = {name: [] for name in configs}
    for _ in range(rounds):
      for name, loop in built.items():
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
          states[name], _ = loop.run_segment(states[name])
          steps += loop.env_steps_per_segment
        rates[name].append(steps / (time.perf_counter() - start))
  finally:
    for loop in built.values():
      loop.close()
  return {
      name: dict(
          env_steps_per_second=float(np.median(rates[name])),
          rounds=rates[name],
          compile_seconds=compile_seconds[name],
      )
      for name in configs
  }


def median_ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
  """The median over rounds of a's rate / b's rate in the same round."""
  return float(np.median(np.asarray(a["rounds"]) / np.asarray(b["rounds"])))


def host_loop_throughput(
    config: ml_collections.ConfigDict, min_seconds: float = 3.0
) -> dict[str, Any]:
  """Env steps/s of the host loop driving a stateful dm_env environment."""
  _, loop = train_lib.build_loop(config)
  state = loop.init([config.seed])
  state, _ = loop.run_segment(state)  # compiles act and learn
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < min_seconds:
    state, _ = loop.run_segment(state)
    steps += loop.env_steps_per_segment
  return dict(env_steps_per_second=steps / (time.perf_counter() - start))


def dm_env_alone_throughput(
    environment, min_seconds: float = 2.0, seed: int = 0
) -> float:
  """Steps/s of a stateful dm_env stepped with random actions and no agent:
  the ceiling for any host loop on it, measured in the same run."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(seed)
  num_actions = environment.action_spec().num_values
  environment.reset()
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < min_seconds:
    for action in rng.integers(num_actions, size=1000):
      environment.step(int(action))
    steps += 1000
  return steps / (time.perf_counter() - start)


def whole_process(args: list[str]) -> dict[str, Any]:
  """Runs `python -m scripts.train ARGS` in a fresh process; wall time + summary."""
  root = os.path.dirname(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  )
  with tempfile.TemporaryDirectory() as workdir:
    env = dict(os.environ, PYTHONPATH=root)
    # The subprocess compiles jax.random's threefry the way this one does.
    env[cpu_threefry.ENV_VAR] = cpu_threefry.current_form()
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.train",
            f"--workdir={workdir}/run",
            *args,
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
      raise RuntimeError(f"benchmark run failed: {proc.stderr[-2000:]}")
    with open(os.path.join(workdir, "run", "summary.json")) as f:
      summary = json.load(f)
  return dict(process_seconds=wall, **summary)


def env_step_throughput(
    env_step,
    env_reset,
    num_actions: int,
    batch: int,
    steps: int,
    repeats: int = 3,
) -> float:
  """Steps/s of `step` vmapped over `batch` envs and scanned `steps` times."""

  def run(key):
    keys = jax.random.split(key, batch)
    state = jax.vmap(env_reset)(keys)

    def body(carry, _):
      state, key = carry
      key, action_key = jax.random.split(key)
      actions = jax.random.randint(action_key, (batch,), 0, num_actions)
      state = jax.vmap(env_step)(state, actions)
      return (state, key), ()

    (state, _), _ = jax.lax.scan(body, (state, key), None, length=steps)
    return state

  run = jax.jit(run)
  jax.block_until_ready(run(jax.random.PRNGKey(0)))
  best = float("inf")
  for i in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(run(jax.random.PRNGKey(i + 1)))
    best = min(best, time.perf_counter() - start)
  return batch * steps / best


def cartpole_vs_gymnax(
    batch: int = 1024, steps: int = 1000
) -> dict[str, float]:
  """Our CartPole against gymnax's CartPole-v1, random actions, same batch."""
  from environments import cartpole  # pylint: disable=g-import-not-at-top

  env = cartpole.CartPole()
  ours = env_step_throughput(
      lambda s, a: env.step(s, a)[0], lambda k: env.reset(k)[0], 2, batch, steps
  )
  result = dict(ours=ours)
  try:
    import gymnax  # pylint: disable=g-import-not-at-top
  except ImportError:
    return result
  gx_env, gx_params = gymnax.make("CartPole-v1")

  def gx_reset(key):
    _, state = gx_env.reset(key, gx_params)
    return (state, key)

  def gx_step(carry, action):
    state, key = carry
    key, step_key = jax.random.split(key)
    state = gx_env.step(step_key, state, action, gx_params)[1]
    return (state, key)

  result["gymnax"] = env_step_throughput(gx_step, gx_reset, 2, batch, steps)
  return result


# PureJaxRL's DQN on CartPole-v1 (purejaxrl/dqn.py defaults), in our keys:
# 10 envs, one gradient step on a batch of 128 every 10 env steps (12.8
# replayed samples per env step), a 120-84 MLP, squared TD error (a Huber
# delta far above any TD error here), Adam 2.5e-4 without clipping, target
# copied every 500 env steps (50 gradient steps), a 10k FIFO buffer.
PUREJAXRL_DQN_WORKLOAD = dict(
    num_envs=10,
    rollout_length=1,
    num_updates=1,
    batch_size=128,
    hidden_sizes=(120, 84),
    huber_delta=1e4,
    max_grad_norm=0.0,
    double_q=False,
    anneal_learning_rate=False,
    learning_rate=2.5e-4,
    target_update_period=50,
    replay_capacity=10_000,
    min_replay_size=10_000,
    epsilon_decay_env_steps=250_000,
)


def minimal_value_based_program(
    config: ml_collections.ConfigDict, env, num_iterations: int
):
  """The smallest fused program that does `config`'s DQN or QR-DQN workload.

  It is what our loop is measured against (`overhead_against_minimal`): a
  timing floor, not an agent (nothing else uses it). Same as our agent on
  `config`: the network (`networks.QNetwork` or, for `config.agent ==
  "qr_dqn"`, `networks.DistributionalQNetwork` with `num_quantiles`
  outputs per action), the loss (DQN: `rlax.q_learning` or
  `rlax.double_q_learning` under `rlax.huber_loss(huber_delta)`; QR-DQN:
  `distributional.quantile_q_learning` at the quantile midpoints with `huber_param`),
  its batch mean, the optimizer (`optimizers.make_optimizer` on the config's
  keys), `batch_size`, `num_updates` gradient steps per `num_envs *
  rollout_length` env steps, the target copied every `target_update_period`
  gradient steps (`optax.periodic_update`), epsilon-greedy acting on the
  mean over quantiles with epsilon annealed linearly (`epsilon_start` ->
  `epsilon_end` over `epsilon_decay_env_steps` env steps, the same optax
  schedule) and a FIFO buffer of `replay_capacity` items.

  Left out, as the floor that bookkeeping adds to: validity masks and
  importance weights, the minimum replay size (the buffer starts full of
  zeros, so every iteration pays for its gradient steps, as in steady
  state), per-environment key streams, episode returns and metrics, the
  seed and device axes, pmean. One seed, one device.

  Returns (init, run): `init(key) -> carry`; `run(carry) -> carry` (jitted,
  donated) does `num_iterations` iterations.
  """
  import rlax  # pylint: disable=g-import-not-at-top
  from agents.lib import distributional  # pylint: disable=g-import-not-at-top
  from agents.lib import networks  # pylint: disable=g-import-not-at-top
  from agents.lib import optimizers  # pylint: disable=g-import-not-at-top
  from agents.lib import value_based  # pylint: disable=g-import-not-at-top
  from agents.runtime import loops  # pylint: disable=g-import-not-at-top

  c = config
  num_actions = int(env.action_spec().num_values)
  obs_shape = env.observation_spec().shape
  capacity, batch = c.replay_capacity, c.batch_size
  quantiles = c.agent == "qr_dqn"
  if quantiles:
    net = networks.DistributionalQNetwork(
        num_actions, c.num_quantiles, tuple(c.hidden_sizes)
    )
    taus = distributional.midpoint_taus(c.num_quantiles)
  else:
    net = networks.QNetwork(num_actions, tuple(c.hidden_sizes))
  # The run our loop would build for this config (its learn calls set the
  # learning-rate schedule), computed as the compiled loop computes it.
  per_iteration = c.num_envs * c.rollout_length
  iterations = loops.iterations_per_segment(c, per_iteration)
  run = loops.run_info(
      c,
      env_steps_per_segment=per_iteration * iterations,
      learn_calls_per_segment=iterations,
  )
  opt = optimizers.make_optimizer(
      c.optimizer,
      c.learning_rate,
      max_grad_norm=c.max_grad_norm,
      anneal_steps=value_based.learning_rate_anneal_steps(c, run),
  )
  epsilon = optax.linear_schedule(
      c.epsilon_start, c.epsilon_end, c.epsilon_decay_env_steps
  )

  def q_values(params, obs):
    out = net.apply(params, obs)
    return jnp.mean(out, axis=-2) if quantiles else out

  def loss(params, target, s):
    if quantiles:
      dist_t = net.apply(target, s["o2"])
      selector = net.apply(params, s["o2"]) if c.double_q else dist_t
      per_item = jax.vmap(
          distributional.quantile_q_learning,
          in_axes=(0, None, 0, 0, 0, 0, 0, None),
      )(
          net.apply(params, s["o"]),
          taus,
          s["a"],
          s["r"],
          s["d"],
          selector,
          dist_t,
          c.huber_param,
      )
    else:
      q_t = net.apply(target, s["o2"])
      if c.double_q:
        td = jax.vmap(rlax.double_q_learning)(
            net.apply(params, s["o"]),
            s["a"],
            s["r"],
            s["d"],
            q_t,
            net.apply(params, s["o2"]),
        )
      else:
        td = jax.vmap(rlax.q_learning)(
            net.apply(params, s["o"]), s["a"], s["r"], s["d"], q_t
        )
      per_item = rlax.huber_loss(td, c.huber_delta)
    return jnp.mean(per_item)

  def init(key):
    net_key, env_key, key = jax.random.split(key, 3)
    params = net.init(net_key, jnp.zeros(obs_shape))
    env_state, ts = jax.vmap(env.reset)(jax.random.split(env_key, c.num_envs))
    buffer = dict(
        o=jnp.zeros((capacity, *obs_shape)),
        a=jnp.zeros(capacity, jnp.int32),
        r=jnp.zeros(capacity),
        d=jnp.zeros(capacity),
        o2=jnp.zeros((capacity, *obs_shape)),
    )
    return (
        params,
        params,
        opt.init(params),
        env_state,
        ts,
        buffer,
        key,
        jnp.zeros((), jnp.int32),
    )

  def iteration(carry, _):
    params, target, opt_state, env_state, ts, buffer, key, i = carry
    for t in range(c.rollout_length):
      key, explore_key, action_key = jax.random.split(key, 3)
      steps = (i * c.rollout_length + t) * c.num_envs
      greedy = jnp.argmax(q_values(params, ts.observation), -1)
      random = jax.random.randint(action_key, (c.num_envs,), 0, num_actions)
      explore = jax.random.uniform(explore_key, (c.num_envs,)) < epsilon(steps)
      action = jnp.where(explore, random, greedy).astype(jnp.int32)
      env_state, next_ts = jax.vmap(env.step)(env_state, action)
      slots = (steps + jnp.arange(c.num_envs)) % capacity
      new = dict(
          o=ts.observation,
          a=action,
          r=next_ts.reward,
          d=c.gamma * next_ts.discount,
          o2=next_ts.observation,
      )
      buffer = {k: buffer[k].at[slots].set(new[k]) for k in buffer}
      ts = next_ts
    for u in range(c.num_updates):
      key, sample_key = jax.random.split(key)
      idx = jax.random.randint(sample_key, (batch,), 0, capacity)
      grads = jax.grad(loss)(
          params, target, {k: buffer[k][idx] for k in buffer}
      )
      updates, opt_state = opt.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
      target = optax.periodic_update(
          params, target, i * c.num_updates + u + 1, c.target_update_period
      )
    return (params, target, opt_state, env_state, ts, buffer, key, i + 1), ()

  def run(carry):
    return jax.lax.scan(iteration, carry, None, length=num_iterations)[0]

  return jax.jit(init), jax.jit(run, donate_argnums=0)


def interleaved_rates(
    programs: dict[str, Any], rounds: int, seconds: float
) -> dict[str, dict[str, list[float]]]:
  """Env steps/s of several programs, timed in turn, round after round.

  `programs`: name -> `step()`, which runs the compiled program once, blocks,
  and returns the env steps it did. In each round every program runs for
  `seconds` (at least one step), one after the other, so that a ratio taken
  within a round compares them under the same machine load. Returns, per
  name, the wall-clock rate (`wall`) and the rate per second of this
  process's CPU time (`cpu`, all threads) of each round.
  """
  rates = {name: dict(wall=[], cpu=[]) for name in programs}
  for _ in range(rounds):
    for name, step in programs.items():
      steps, wall, cpu = 0, time.perf_counter(), time.process_time()
      while True:
        steps += step()
        if time.perf_counter() - wall >= seconds:
          break
      rates[name]["wall"].append(steps / (time.perf_counter() - wall))
      rates[name]["cpu"].append(steps / (time.process_time() - cpu))
  return rates


def overhead_against_minimal(
    config: ml_collections.ConfigDict, rounds: int = 3, seconds: float = 3.0
) -> dict[str, Any]:
  """Our compiled loop on `config` (a DQN or QR-DQN config, one seed) beside
  `minimal_value_based_program` on the same config, in interleaved rounds.

  Both run `iterations_per_segment` iterations per call (one segment of
  ours), compile time excluded, after one warm-up call each. Returns each
  round's rates, the per-round ratios ours / minimal (wall clock and CPU
  time) and their medians.
  """
  import statistics  # pylint: disable=g-import-not-at-top

  _, loop = train_lib.build_loop(config)
  assert train_lib.loop_name(config) == "anakin" and config.num_seeds == 1
  t0 = time.perf_counter()
  state = loop.init([config.seed])
  segment = loop.segment_fn().lower(state).compile()
  ours_compile = time.perf_counter() - t0
  init, run = minimal_value_based_program(
      config, loop.env, loop.iterations_per_segment
  )
  t0 = time.perf_counter()
  carry = init(jax.random.PRNGKey(config.seed))
  run = run.lower(carry).compile()
  minimal_compile = time.perf_counter() - t0
  held = dict(state=state, carry=carry)

  def ours_step():
    held["state"], metrics = segment(held["state"])
    jax.block_until_ready(metrics)
    return loop.env_steps_per_segment

  def minimal_step():
    held["carry"] = jax.block_until_ready(run(held["carry"]))
    return loop.env_steps_per_segment

  ours_step(), minimal_step()  # warm-up
  rates = interleaved_rates(
      dict(ours=ours_step, minimal=minimal_step), rounds, seconds
  )
  result = dict(
      rounds=rates,
      ours_compile_seconds=ours_compile,
      minimal_compile_seconds=minimal_compile,
  )
  for clock in ("wall", "cpu"):
    ratios = [
        a / b for a, b in zip(rates["ours"][clock], rates["minimal"][clock])
    ]
    result[f"ratio_{clock}"] = ratios
    result[f"median_ratio_{clock}"] = statistics.median(ratios)
  result["ours_env_steps_per_second"] = statistics.median(rates["ours"]["wall"])
  result["minimal_env_steps_per_second"] = statistics.median(
      rates["minimal"]["wall"]
  )
  return result


def format_table(rows: list[tuple[str, ...]]) -> str:
  widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
  lines = []
  for n, row in enumerate(rows):
    lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    if n == 0:
      lines.append("  ".join("-" * w for w in widths))
  return "\n".join(lines)


def rate(x: float) -> str:
  return f"{x / 1e3:,.1f}k" if x >= 1e4 else f"{x:,.0f}"


def population_td_seconds(
    num_units: int = 1000, num_trials: int = 100_000, repeats: int = 3
) -> dict[str, float]:
  """Simulating a distributional-TD population on the variable-magnitude task
  (rewards sampled inside the program), best of `repeats`, compile excluded."""
  from agents import distributional_td as dtd  # pylint: disable=g-import-not-at-top
  from environments import dopamine_tasks  # pylint: disable=g-import-not-at-top

  task = dopamine_tasks.VariableMagnitude()
  population = dtd.make_population(num_units, "expectile")
  simulate = jax.jit(
      lambda key: dtd.simulate_rewards(
          population,
          dtd.sample_rewards(
              task.reward_sizes, task.reward_probs, num_trials, key
          ),
      )
  )
  start = time.perf_counter()
  jax.block_until_ready(simulate(jax.random.PRNGKey(0)))
  compile_seconds = time.perf_counter() - start
  best = float("inf")
  for i in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(simulate(jax.random.PRNGKey(i + 1)))
    best = min(best, time.perf_counter() - start)
  return dict(seconds=best, compile_seconds=compile_seconds)


def decode_cells_seconds(
    num_cells: int = 40, repeats: int = 3
) -> dict[str, float]:
  """One decoding of `num_cells` (tau, expectile) pairs exactly as the Dabney
  et al. 2020 reproduction decodes the recordings (decode_reward_distribution
  with the reproduction's Settings: pooled JAX + optax runs, each from the best
  of many random sample sets, bounds [0.1, 20] ul), best of `repeats`, compile
  excluded (the first call, with compilation, is reported beside it)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from agents.analysis import dabney2020  # pylint: disable=g-import-not-at-top
  from agents.analysis import dopamine  # pylint: disable=g-import-not-at-top
  from agents.lib import distributional  # pylint: disable=g-import-not-at-top

  settings = dabney2020.Settings()
  taus = np.asarray(distributional.midpoint_taus(num_cells), np.float64)
  expectiles = dopamine.expectiles_of_distribution(
      np.asarray(dopamine.TRUE_MAGNITUDES_UL),
      np.asarray(dopamine.TRUE_PROBABILITIES),
      taus,
  )
  run = lambda seed: dopamine.decode_reward_distribution(
      taus,
      expectiles,
      key=seed,
      num_restarts=settings.imputation_restarts,
      num_candidates=settings.imputation_candidates,
      steps=settings.imputation_steps,
      bounds=(0.1, 20.0),
      tau_clip=dopamine.DECODING_TAU_CLIP,
  )
  start = time.perf_counter()
  run(0)
  first = time.perf_counter() - start
  best = float("inf")
  for i in range(repeats):
    start = time.perf_counter()
    run(i + 1)
    best = min(best, time.perf_counter() - start)
  return dict(
      seconds=best,
      first_call_seconds=first,
      num_cells=num_cells,
      num_restarts=settings.imputation_restarts,
      num_candidates=settings.imputation_candidates,
      steps=settings.imputation_steps,
  )


def async_algorithm_rows(
    min_seconds: float = 3.0,
    actors=(1, 2, 4, 8),
    algorithms=("one_step_q", "one_step_sarsa", "n_step_q", "a3c"),
) -> tuple[list[tuple[str, ...]], dict[str, Any]]:
  """Issue 14's rows for the algorithms of Mnih et al. 2016 on Catch: env
  steps/s of each algorithm in the synchronous compiled loop (K vmapped
  actors, per-actor updates applied in turn) and the hogwild loop (K
  threads) against K, one environment per actor and t_max = 5; then
  asynchronous A3C (hogwild) against synchronous A2C (compiled loop, one
  averaged update per K chunks) at the same K. Returns (rows, results)."""
  import importlib  # pylint: disable=import-outside-toplevel

  rows, results = [], {}

  def measure(agent: str, loop: str, k: int) -> float:
    c = importlib.import_module(f"configs.{agent}").get_config("catch")
    c.update(
        dict(
            loop=loop,
            num_actors=k,
            num_envs=k,
            rollout_length=5,
            log_every_env_steps=500 * k,
            num_seeds=1,
        )
    )
    r = loop_throughput(c, min_seconds)
    results[f"{loop}_{agent}_catch_k{k}"] = r
    return r["env_steps_per_second"]

  for agent in algorithms:
    for loop in ("anakin", "hogwild"):
      rates = {k: measure(agent, loop, k) for k in actors}
      rows.append(
          (
              f"{loop}_{agent}_catch_vs_k",
              ", ".join(f"K={k}: {rate(r)}" for k, r in rates.items())
              + " steps/s",
              ", ".join(
                  f"{rates[k] / rates[actors[0]]:.2f}x" for k in actors[1:]
              )
              + f" K={actors[0]}",
              "-",
              "1 env x 5 steps per actor; 2 cores bound hogwild",
          )
      )
  for k in actors[1:]:
    a2c_rate = measure("a2c", "anakin", k)
    a3c_rate = results.get(f"hogwild_a3c_catch_k{k}", {}).get(
        "env_steps_per_second"
    ) or measure("a3c", "hogwild", k)
    sync_a3c = results.get(f"anakin_a3c_catch_k{k}", {}).get(
        "env_steps_per_second"
    ) or measure("a3c", "anakin", k)
    rows.append(
        (
            f"a3c_vs_a2c_catch_k{k}",
            f"{rate(a3c_rate)} steps/s",
            f"{a3c_rate / a2c_rate:.2f}x A2C ({rate(a2c_rate)})",
            "-",
            f"A3C hogwild {k} threads vs A2C compiled {k} envs; "
            f"A3C compiled (per-actor updates) {rate(sync_a3c)}",
        )
    )
  return rows, results


def continuous_a3c_rows(
    min_seconds: float = 3.0, k: int = 2
) -> tuple[list[tuple[str, ...]], dict[str, Any]]:
  """Issue 15's continuous A3C rows: env steps/s and compile time of A3C
  with the Gaussian policy on Pendulum (configs/a3c.py:pendulum) in the
  compiled loop (K vmapped actors) and the hogwild loop (K threads), each
  beside discrete A3C on CartPole in the same loop and K (one environment
  per actor, t_max = 5). Returns (rows, results)."""
  from configs import a3c  # pylint: disable=import-outside-toplevel

  rows, results = [], {}
  for loop in ("anakin", "hogwild"):
    rates = {}
    for preset in ("pendulum", "cartpole"):
      c = a3c.get_config(preset)
      c.update(
          dict(
              loop=loop,
              num_actors=k,
              num_envs=k,
              rollout_length=5,
              log_every_env_steps=500 * k,
              num_seeds=1,
          )
      )
      name = f"{loop}_a3c_{preset}_k{k}"
      results[name] = loop_throughput(c, min_seconds)
      rates[preset] = results[name]["env_steps_per_second"]
    r = results[f"{loop}_a3c_pendulum_k{k}"]
    rows.append(
        (
            f"{loop}_a3c_pendulum_k{k}",
            f"{rate(rates['pendulum'])} steps/s",
            f"{rates['pendulum'] / rates['cartpole']:.2f}x discrete A3C "
            f"on CartPole ({rate(rates['cartpole'])}, compile "
            f"{results[f'{loop}_a3c_cartpole_k{k}']['compile_seconds']:.1f} s)",
            f"{r['compile_seconds']:.1f}",
            f"Gaussian policy, {k} actors x 1 env x 5 steps, "
            "(200,) torsos for policy and value vs one (64, 64)",
        )
    )
  return rows, results
