"""The loop interface and the asynchronous loops (issue 14): Hogwild applies
every gradient exactly once, the Sebulba queue neither drops nor duplicates,
K = 1 is deterministic, crashes and bad input stop the run cleanly, a K-thread
run learns Catch, and every registered agent satisfies the agent contract."""

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_env import specs as dm_specs

from agents import registry
from agents import types
from agents.runtime import hogwild
from agents.runtime import loops
from agents.runtime import rollout as rollout_lib
from agents.runtime import sebulba
from agents.runtime import train
from agents.runtime.errors import LoopCrashed, UserError
from configs import a2c
from environments import catch
from tests.conftest import ROOT, popen_interruptible


def _small_a2c(**overrides):
  c = a2c.get_config("catch")
  c.update(
      dict(
          num_envs=4,
          rollout_length=4,
          total_env_steps=4 * 4 * 6,
          log_every_env_steps=4 * 4 * 3,
          eval_episodes=3,
      )
  )
  c.update(overrides)
  return c


# ---- RunInfo: learning rates reach 0 exactly at the last update --------------


def _set_counts(opt_state, count):
  return jax.tree_util.tree_map_with_path(
      lambda path, x: (
          jnp.full_like(x, count)
          if "count" in jax.tree_util.keystr(path)
          else x
      ),
      opt_state,
  )


def test_a2c_cartpole_anneals_to_zero_exactly_at_its_last_update():
  config = a2c.get_config("cartpole")
  agent, loop = train.build_loop(config)
  # 1,000,000 env steps in 10 whole segments of 200 learn calls: 2,000
  # updates (the old computation, total // (num_envs * T), said 1,953, so
  # the last 47 updates ran at learning rate 0).
  assert (
      loop.iterations_per_segment
      * loops.num_segments(config, loop.env_steps_per_segment)
      == 2000
  )
  state = agent.init(jax.random.PRNGKey(0), loop.specs())
  grads = jax.tree.map(jnp.ones_like, state.params)
  apply = jax.jit(agent.apply)
  aux = _aux_for(agent, state, loop)

  def params_after_update(count):
    opt_state = _set_counts(state.opt_state, count)
    # The optimizer agent.apply uses, at update number `count` (0-based).
    new_state, _ = apply(state.replace(opt_state=opt_state), grads, aux)
    return new_state.params

  def step_size(count):
    return max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(
            jax.tree.leaves(params_after_update(count)),
            jax.tree.leaves(state.params),
        )
    )

  # The last update still moves the parameters (lr = 3e-3 / 2000, times
  # Adam's ~3); after it the rate is 0 (up to XLA's rounding of count / 2000:
  # a step of ~1e-10).
  assert step_size(1999) > 1e-6
  assert step_size(2000) < 1e-8


def _aux_for(agent, state, loop):
  """A real `gradients` aux for `agent` (one trajectory from the loop)."""
  trajectory = _trajectory(agent, loop.env, state, num_envs=2, length=3)
  add = lambda t: jax.tree.map(lambda x: x[None], t)
  _, aux = jax.vmap(agent.gradients, axis_name=types.DEVICE_AXIS)(
      add(state), add(trajectory), jax.random.PRNGKey(0)[None]
  )
  return jax.tree.map(lambda x: x[0], aux)


def _trajectory(agent, env, state, num_envs, length, seed=0):
  keys = jax.random.split(jax.random.PRNGKey(seed), 3 * num_envs)
  carry = rollout_lib.initial_carry(
      agent,
      env,
      keys[:num_envs],
      keys[num_envs : 2 * num_envs],
      keys[2 * num_envs :],
  )
  _, trajectory, _, _ = jax.jit(
      lambda p, c: rollout_lib.rollout(agent, env, length, p, c)
  )(agent.actor_params(state), carry)
  return trajectory


# ---- the agent contract, for every registered agent --------------------------


def _small_config(name):
  module = importlib.import_module(f"configs.{name}")
  c = module.get_config()
  c.loop = "anakin"  # the contract is checked on the compiled loop's task
  c.num_envs, c.rollout_length = 4, 4
  c.total_env_steps, c.log_every_env_steps = 64, 32
  for key, value in (
      ("min_replay_size", 8),
      ("batch_size", 8),
      ("num_updates", 1),
  ):
    if key in c:
      c[key] = value
  return c


@pytest.mark.parametrize("name", sorted(registry.AGENTS))
def test_every_registered_agent_satisfies_the_contract(name):
  config = _small_config(name)
  agent, loop = train.build_loop(config)
  specs = loop.specs()
  state = agent.init(jax.random.PRNGKey(0), specs)
  # act: one unbatched environment -> an action of the spec's shape.
  env_state, timestep = loop.env.reset(jax.random.PRNGKey(1))
  del env_state
  action, _, _ = agent.act(
      agent.actor_params(state),
      agent.initial_actor_state(jax.random.PRNGKey(2)),
      timestep,
      jax.random.PRNGKey(3),
      evaluation=False,
  )
  assert action.shape == specs.action.shape
  assert action.dtype == specs.action.dtype
  # learn: same state structure and shapes; finite scalar metrics.
  trajectory = _trajectory(agent, loop.env, state, num_envs=4, length=4)
  add = lambda t: jax.tree.map(lambda x: x[None], t)
  drop = lambda t: jax.tree.map(lambda x: x[0], t)
  key = jax.random.PRNGKey(4)
  learn = jax.jit(jax.vmap(agent.learn, axis_name=types.DEVICE_AXIS))
  new_state, metrics = drop(learn(add(state), add(trajectory), key[None]))
  assert jax.tree.structure(new_state) == jax.tree.structure(state)
  shapes = lambda t: [
      (np.shape(x), np.asarray(x).dtype) for x in jax.tree.leaves(t)
  ]
  assert shapes(new_state) == shapes(state)
  for value in jax.tree.leaves(metrics):
    assert np.shape(value) == () and np.isfinite(value)
  assert (agent.gradients is None) == (agent.apply is None)
  if agent.gradients is not None:
    # learn == apply . gradients, bitwise.
    def composed(s, t, k):
      return agent.apply(s, *agent.gradients(s, t, k))

    composed = jax.jit(jax.vmap(composed, axis_name=types.DEVICE_AXIS))
    other_state, other_metrics = drop(
        composed(add(state), add(trajectory), key[None])
    )
    jax.tree.map(np.testing.assert_array_equal, other_state, new_state)
    jax.tree.map(np.testing.assert_array_equal, other_metrics, metrics)
  loop.close()


# ---- Hogwild -----------------------------------------------------------------


def test_compare_and_swap_loses_no_update_under_contention():
  shared = hogwild.SharedState(0)
  retries = []

  def slow_increment(value):
    time.sleep(0.001)  # a slow `apply`: the other thread publishes meanwhile
    return value + 1, None

  def worker():
    for _ in range(50):
      retries.append(shared.update(slow_increment)[1])

  threads = [threading.Thread(target=worker) for _ in range(2)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert shared.read() == (100, 100)  # every update applied exactly once
  assert sum(retries) > 0  # ... although updates did collide


def _counting_agent():
  """An agent whose gradient is 1 and whose `apply` adds it to a counter:
  the final count is the number of gradients applied."""

  def init(key, specs):
    del key, specs
    return dict(count=jnp.zeros((), jnp.int32))

  def act(params, actor_state, timestep, key, evaluation=False):
    del params, timestep, evaluation
    return jax.random.randint(key, (), 0, 3), actor_state, {}

  def gradients(state, trajectory, key):
    del state, key
    one = jax.lax.psum(jnp.ones((), jnp.int32), types.DEVICE_AXIS)
    return dict(count=one), jnp.sum(trajectory.timestep.reward)

  def apply(state, grads, aux):
    return dict(count=state["count"] + grads["count"]), dict(reward=aux)

  def learn(state, trajectory, key):
    return apply(state, *gradients(state, trajectory, key))

  return types.Agent(
      name="counting",
      init=init,
      actor_params=lambda s: (),
      initial_actor_state=types.no_actor_state,
      act=act,
      learn=learn,
      gradients=gradients,
      apply=apply,
  )


@pytest.mark.parametrize("lock", [False, True])
def test_hogwild_two_threads_apply_every_gradient_exactly_once(lock):
  loop = hogwild.HogwildLoop(
      agent=_counting_agent(),
      env=catch.Catch(),
      num_envs=4,
      num_actors=2,
      rollout_length=3,
      iterations_per_segment=40,
      lock=lock,
  )
  state = loop.init([0])
  loop.prepare(state)
  applied = 0
  for _ in range(2):
    state, metrics = loop.run_segment(state)
    applied += int(metrics["gradients_applied"][0])
  assert applied == 2 * 2 * 40
  assert int(state.agent_state["count"]) == 2 * 2 * 40  # none lost
  assert int(state.applied) == 2 * 2 * 40
  loop.close()


def _hogwild_a2c(num_actors):
  config = _small_a2c(loop="hogwild", num_actors=num_actors)
  return train.build_loop(config)[1]


def test_hogwild_with_one_thread_is_deterministic_and_resumes_bitwise():
  loop = _hogwild_a2c(1)
  state = loop.init([0])
  straight, _ = loop.run_segment(loop.run_segment(state)[0])
  # Again, through a host copy of the state after one segment (a resume).
  halfway = jax.device_get(loop.run_segment(loop.init([0]))[0])
  resumed, _ = loop.run_segment(jax.tree.map(jnp.asarray, halfway))
  jax.tree.map(
      np.testing.assert_array_equal,
      jax.device_get(resumed),
      jax.device_get(straight),
  )


def test_a_crashed_hogwild_thread_stops_the_run_with_a_clear_error():
  loop = _hogwild_a2c(2)
  state = loop.init([0])
  loop.prepare(state)
  step, calls = loop._step, []

  def failing_step(*args):
    calls.append(1)
    if len(calls) == 3:
      raise ValueError("boom in the environment")
    return step(*args)

  loop._step = failing_step
  with pytest.raises(
      LoopCrashed,
      match=r"thread \d of 2 crashed: " r"ValueError: boom in the environment",
  ):
    loop.run_segment(state)
  assert not [
      t for t in threading.enumerate() if t.name.startswith("hogwild-")
  ]  # joined


@pytest.mark.slow
def test_a_two_thread_hogwild_run_learns_catch(tmp_path):
  config = a2c.get_config("catch")
  config.update(
      dict(
          loop="hogwild",
          num_actors=2,
          num_envs=8,
          total_env_steps=25_000,
          log_every_env_steps=5_000,
          eval_episodes=20,
      )
  )
  summary = train.train(config, str(tmp_path), log=lambda _: None).summary
  assert summary["loop"] == "hogwild"
  assert summary["eval_return_mean"] >= 0.8, summary  # random: about -0.6


# ---- Sebulba -----------------------------------------------------------------


def test_sebulba_queue_neither_drops_nor_duplicates_a_trajectory():
  config = _small_a2c(loop="sebulba", num_actors=2, queue_size=1)
  _, loop = train.build_loop(config)
  state = loop.init([0])
  learned = 0
  for _ in range(3):
    state, _ = loop.run_segment(state)
    learned += loop.iterations_per_segment
  loop.close()
  assert len(loop.received) == learned == int(state.learn_calls)
  for k in range(2):
    sequence = [s for a, s in loop.received if a == k]
    assert sequence == list(range(len(sequence)))  # in order, no gap/repeat
  # Everything queued was learned from or is still in the queue.
  assert sum(loop.produced) == len(loop.received) + loop.left_in_queue


def test_sebulba_actors_step_batches_of_bsuite_environments():
  # 2 actor threads x 2 bsuite environments each: one [T+1, 2] trajectory
  # per learn call, none dropped or duplicated.
  config = _small_a2c(
      loop="sebulba", env="bsuite:catch/0", num_actors=2, num_envs=4
  )
  _, loop = train.build_loop(config)
  assert loop.envs_per_actor == 2
  assert loop.env_steps_per_segment == (
      loop.iterations_per_segment * 2 * config.rollout_length
  )
  seen = []
  learn_step = loop._learn_step

  def recording_learn_step(agent_state, trajectory, learn_key):
    seen.append(trajectory.timestep.observation.shape[:2])
    return learn_step(agent_state, trajectory, learn_key)

  loop._learn_step = recording_learn_step
  state = loop.init([0])
  for _ in range(2):
    state, metrics = loop.run_segment(state)
  loop.close()
  assert seen == [(config.rollout_length + 1, 2)] * len(seen)
  assert len(loop.received) == len(seen) == int(state.learn_calls)
  for k in range(2):
    sequence = [s for a, s in loop.received if a == k]
    assert sequence == list(range(len(sequence)))
  assert sum(loop.produced) == len(loop.received) + loop.left_in_queue
  assert metrics["all_finite"][0] == 1.0


def test_sebulba_with_one_actor_is_deterministic():
  config = _small_a2c(loop="sebulba", num_actors=1, queue_size=2)
  finals = []
  for _ in range(2):
    _, loop = train.build_loop(config)
    state = loop.init([0])
    for _ in range(2):
      state, _ = loop.run_segment(state)
    loop.close()
    finals.append(jax.device_get(state.agent_state))
  jax.tree.map(np.testing.assert_array_equal, *finals)


class _RaisingEnv(dm_env.Environment):
  """A stateful environment that raises at its 5th step."""

  def __init__(self):
    self._steps = 0

  def reset(self):
    return dm_env.restart(np.zeros((2,), np.float32))

  def step(self, action):
    self._steps += 1
    if self._steps == 5:
      raise RuntimeError("the simulator died")
    return dm_env.transition(1.0, np.zeros((2,), np.float32))

  def observation_spec(self):
    return dm_specs.Array((2,), np.float32)

  def action_spec(self):
    return dm_specs.DiscreteArray(2, np.int32)


def test_a_crashed_sebulba_actor_stops_the_run_with_a_clear_error():
  env = _RaisingEnv()
  task = loops.Task(
      name="raising",
      specs=types.EnvSpecs(env.observation_spec(), env.action_spec()),
      make_host=lambda seed: _RaisingEnv(),
  )
  config = _small_a2c(loop="sebulba", num_actors=2, num_envs=2)
  loop = sebulba.build(config, task, registry.get_builder("a2c"))
  with pytest.raises(
      LoopCrashed,
      match="actor thread . of 2 crashed: " "RuntimeError: the simulator died",
  ):
    loop.run_segment(loop.init([0]))
  loop.close()
  assert not [
      t
      for t in threading.enumerate()
      if t.name.startswith("sebulba-") and t.is_alive()
  ]


# Run in a subprocess with 2 forced host devices (XLA_FLAGS is read once, at
# jax's start): Sebulba's learner over D = 2 devices, each learning from half
# of every trajectory's environments, on a functional task and on bsuite.
_TWO_DEVICE_SEBULBA = """
import jax, numpy as np
from configs import a2c, dqn
from agents.runtime import train
assert jax.local_device_count() == 2
for c in (a2c.get_config("catch"), dqn.get_config("catch")):
  c.update(dict(loop="sebulba", num_actors=2, num_envs=8, num_devices=2,
                rollout_length=4, total_env_steps=8 * 4 * 6,
                log_every_env_steps=8 * 4 * 3, eval_episodes=3))
  if c.agent == "dqn":
    c.update(dict(env="bsuite:catch/0", min_replay_size=32, batch_size=8))
  _, loop = train.build_loop(c)
  assert loop.num_devices == 2
  state = loop.init([0])
  init = jax.device_get(state.agent_state.params)
  for _ in range(2):
    state, metrics = loop.run_segment(state)
  loop.close()
  params = jax.device_get(state.agent_state.params)
  changed = False
  for x, x0 in zip(jax.tree.leaves(params), jax.tree.leaves(init)):
    assert x.shape[0] == 2, x.shape
    # Different environments on each device, gradients averaged over them:
    # the replicas stay equal.
    np.testing.assert_array_equal(x[0], x[1])
    changed = changed or not np.array_equal(x, x0)
  assert changed, c.agent  # it learned
  assert metrics["all_finite"][0] == 1.0
  assert len(loop.received) == int(state.learn_calls)
  assert sum(loop.produced) == len(loop.received) + loop.left_in_queue
  # A checkpoint restores over both devices, as init placed it.
  for s in jax.tree.leaves(loop.abstract_state(1).agent_state):
    assert len(s.sharding.device_set) == 2, s
  print("ok", c.agent)
"""


@pytest.mark.slow
def test_sebulba_learns_over_two_devices_with_averaged_gradients():
  env = dict(
      os.environ,
      PYTHONPATH=str(ROOT),
      JAX_PLATFORMS="cpu",
      XLA_FLAGS="--xla_force_host_platform_device_count=2",
  )
  proc = subprocess.run(
      [sys.executable, "-c", _TWO_DEVICE_SEBULBA],
      cwd=ROOT,
      env=env,
      capture_output=True,
      text=True,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  done = [line for line in proc.stdout.splitlines() if line.startswith("ok")]
  assert done == ["ok a2c", "ok dqn"], proc.stdout  # (bsuite prints too)


@pytest.mark.slow
def test_sebulba_over_two_processes_learns_one_model(tmp_path):
  # jax.distributed over 2 localhost processes (gloo CPU collectives), each
  # with 2 actor threads on bsuite catch and a learner on its one device:
  # one shard_mapped learn over both processes' devices per trajectory pair.
  from tests.test_loop import _free_port  # pylint: disable=g-import-not-at-top

  port = _free_port()
  env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)  # one device per process
  procs = [
      subprocess.Popen(
          [
              sys.executable,
              "tests/multihost_worker.py",
              str(port),
              str(i),
              str(tmp_path / "run"),
              str(tmp_path / f"p{i}.npz"),
              "sebulba",
          ],
          cwd=ROOT,
          env=env,
          stdout=subprocess.PIPE,
          stderr=subprocess.STDOUT,
          text=True,
      )
      for i in range(2)
  ]
  outs = [p.communicate(timeout=300)[0] for p in procs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]
    assert "devices 2 local 1" in out
  p0, p1 = (dict(np.load(tmp_path / f"p{i}.npz")) for i in range(2))
  local_steps = [p.pop("local_env_steps") for p in (p0, p1)]
  # The same parameters on both processes (gradients averaged over them).
  assert sorted(p0) == sorted(p1) and p0
  for k in p0:
    np.testing.assert_array_equal(p0[k], p1[k])
  # Process 0 wrote the summary; its env steps are both processes' sum, and
  # each process's learner consumed the same number of trajectories.
  summary = json.loads((tmp_path / "run" / "summary.json").read_text())
  assert summary["loop"] == "sebulba" and summary["num_devices"] == 2
  assert local_steps[0] == local_steps[1] > 0
  assert summary["env_steps"] == sum(local_steps)
  rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
  assert len(rows) == 1 + 2  # header + 2 segments, written once


# ---- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(loop="hogwild", num_actors=0), "num_actors=0 is not allowed"),
        (dict(loop="sebulba", num_actors=0), "num_actors=0 is not allowed"),
        (dict(loop="podracer"), "config.loop='podracer' is not allowed"),
        (dict(loop="sebulba", queue_size=0), "queue_size=0 is not allowed"),
        (
            dict(
                loop="sebulba", env="bsuite:catch/0", num_envs=3, num_actors=2
            ),
            "num_envs=3 must be a multiple of config.num_actors=2",
        ),
        (
            dict(
                loop="hogwild", env="bsuite:catch/0", num_envs=2, num_actors=2
            ),
            "'hogwild' steps functional tasks",
        ),
        (dict(loop="hogwild", num_envs=5, num_actors=2), "multiple of"),
        (
            dict(loop="sebulba", num_devices=jax.local_device_count() + 1),
            "device\\(s\\) are visible",
        ),
        (dict(loop="hogwild", num_seeds=2), "one seed"),
    ],
)
def test_bad_loop_input_is_a_user_error(overrides, message, tmp_path):
  with pytest.raises(UserError, match=message):
    train.check_run(_small_a2c(**overrides), str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_hogwild_refuses_an_agent_without_gradients_and_apply(tmp_path):
  from configs import dqn  # pylint: disable=g-import-not-at-top

  c = dqn.get_config("catch")
  c.loop = "hogwild"
  with pytest.raises(UserError, match="gradients separately"):
    train.check_run(c, str(tmp_path / "run"))


# ---- the command line: interrupts and exit codes -----------------------------


def _hogwild_command(workdir, *extra):
  return [
      sys.executable,
      "-m",
      "scripts.train",
      f"--workdir={workdir}",
      "--config=configs/a2c.py:catch",
      "--config.loop=hogwild",
      "--config.num_actors=2",
      "--config.num_envs=4",
      "--config.total_env_steps=5000000",
      "--config.log_every_env_steps=1024",
      "--config.eval_episodes=2",
      *extra,
  ]


@pytest.mark.slow
def test_bad_queue_size_is_one_error_line_and_exit_2(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
  proc = subprocess.run(
      _hogwild_command(
          tmp_path / "run", "--config.loop=sebulba", "--config.queue_size=0"
      ),
      cwd=ROOT,
      env=env,
      capture_output=True,
      text=True,
  )
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.startswith("error: config.queue_size=0 is not allowed")
  assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, code, word",
    [
        (signal.SIGINT, 130, "interrupted:"),
        (signal.SIGTERM, 143, "terminated (SIGTERM):"),
    ],
)
def test_an_interrupted_hogwild_run_joins_its_threads_and_keeps_a_checkpoint(
    tmp_path, sig, code, word
):
  env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
  workdir = tmp_path / "run"
  proc = popen_interruptible(
      _hogwild_command(workdir),
      cwd=ROOT,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )
  ckpts = workdir / "checkpoints"
  deadline = time.time() + 400
  while time.time() < deadline and proc.poll() is None:
    if ckpts.exists() and [p for p in ckpts.iterdir() if p.name.isdigit()]:
      break
    time.sleep(0.05)
  assert proc.poll() is None, proc.communicate()
  proc.send_signal(sig)
  out, err = proc.communicate(timeout=120)
  lines = [l for l in err.splitlines() if l.strip()]
  assert proc.returncode == code, (out, err)
  assert len(lines) == 1 and lines[0].startswith(word), err
  assert "the last checkpoint (segment" in lines[0], err
  assert (workdir / ".lock").read_text() == ""
