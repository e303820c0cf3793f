"""DeepMind Control Suite tasks through MuJoCo Playground (optional package).

Without `playground` (CI): a `dmc:` task is one clear UserError, in process
and as `scripts.train`'s one `error:` line with exit 2; the packaging files
agree. With it (`make control`, or a venv holding requirements-control.lock),
the wrapper is checked against Playground's own environment. MJX compiles
slowly on CPU (tens of seconds per program), so those tests are tiny: one
compiled program of 2 environments, a few steps.
"""

import re
import sys
import tomllib

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.lib import continuous
from agents.runtime import checkpointing
from agents.runtime.errors import UserError
from environments import base
from environments import playground
from environments import registry
from tests.conftest import ROOT, run_script


def _has_playground() -> bool:
  try:
    playground.suite()
  except UserError:
    return False
  return True


needs_playground = pytest.mark.skipif(
    not _has_playground(),
    reason="the optional package playground is not installed (make control)",
)


# ---- without playground (these run everywhere) -------------------------------


def test_missing_playground_is_one_user_error(monkeypatch):
  monkeypatch.setitem(sys.modules, "mujoco_playground", None)  # not importable
  for name in ("dmc:CartpoleSwingup", "dmc:NoSuchTask"):
    with pytest.raises(UserError) as error:
      registry.make(name)
    message = str(error.value)
    assert "'playground'" in message and "make control" in message
    assert f"pip install playground=={playground.VERSION}" in message


@pytest.mark.slow
def test_train_without_playground_prints_one_error_line(tmp_path):
  # A package that fails to import stands in for a missing one, so the test
  # means the same in a venv that has playground.
  stub = tmp_path / "stub" / "mujoco_playground"
  stub.mkdir(parents=True)
  (stub / "__init__.py").write_text("raise ImportError('not installed')\n")
  workdir = tmp_path / "run"
  proc = run_script(
      [
          "-m",
          "scripts.train",
          "--config=configs/dqn.py:catch",
          "--config.env=dmc:CartpoleSwingup",
          f"--workdir={workdir}",
      ],
      env={"PYTHONPATH": f"{stub.parent}:{ROOT}"},
  )
  assert proc.returncode == 2, (proc.stdout, proc.stderr)
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "playground" in errors[0], proc.stderr
  assert "make control" in errors[0]
  assert "Traceback" not in proc.stderr
  assert not workdir.exists()


def test_packaging_pins_the_tested_playground():
  project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
  extra = project["optional-dependencies"]["control"]
  assert extra == [f"playground=={playground.VERSION}"]
  pins = lambda path: dict(
      line.split("==")
      for line in (ROOT / path).read_text().splitlines()
      if line and not line.startswith("#")
  )
  control = pins("requirements-control.lock")
  base_lock = pins("requirements.lock")
  assert control["playground"] == playground.VERSION
  assert {"mujoco", "mujoco-mjx"} <= set(control)
  # The extra adds packages; it never re-pins one of the base lock's
  # (names compared as pip normalises them).
  norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
  assert not {norm(n) for n in control} & {norm(n) for n in base_lock}
  assert "playground" not in (ROOT / "requirements.lock").read_text()
  makefile = (ROOT / "Makefile").read_text()
  assert "-r requirements-control.lock -c requirements.lock" in makefile


# ---- with playground ---------------------------------------------------------


@needs_playground
def test_unknown_task_lists_the_suite():
  with pytest.raises(UserError) as error:
    registry.make("dmc:CartpoleSwingUp")  # wrong case
  message = str(error.value)
  assert "unknown DeepMind Control Suite task 'CartpoleSwingUp'" in message
  for name in ("dmc:CartpoleSwingup", "dmc:ReacherEasy", "dmc:WalkerWalk"):
    assert name in message
  with pytest.raises(UserError, match="impl"):
    registry.make("dmc:CartpoleSwingup", impl="cuda")
  with pytest.raises(UserError, match="bad parameters"):
    registry.make("dmc:CartpoleSwingup", gravity=3.0)


@needs_playground
@pytest.mark.parametrize(
    "name, observation_size, action_size",
    [("dmc:CartpoleSwingup", 5, 1), ("dmc:ReacherEasy", 6, 2)],
)
def test_specs_and_time_limit(name, observation_size, action_size):
  env = registry.make(name)
  assert env.name == name
  assert env.observation_spec().shape == (observation_size,)
  assert env.observation_spec().dtype == np.float32
  low, high = continuous.action_bounds(env.action_spec())
  np.testing.assert_array_equal(low, -np.ones(action_size, np.float32))
  np.testing.assert_array_equal(high, np.ones(action_size, np.float32))
  # Playground's default config: 1000 control steps, action repeat 1.
  assert env.action_repeat == 1 and env.max_episode_steps == 1000


@needs_playground
@pytest.mark.slow
def test_every_suite_task_has_finite_bounds():
  names = playground.known_tasks()
  assert len(names) >= 20 and "CartpoleSwingup" in names
  for name in names:
    env = registry.make(f"dmc:{name}")
    low, high = continuous.action_bounds(env.action_spec())
    assert np.all(low == -1.0) and np.all(high == 1.0), name


@needs_playground
@pytest.mark.slow
def test_wrapper_matches_playground_under_jit_and_vmap(tmp_path):
  env = registry.make("dmc:CartpoleSwingup", max_episode_steps=3)
  inner_env = env.playground_env()
  num_steps = 4
  actions = jnp.asarray(
      [[[0.5], [-3.0]], [[2.0], [0.25]], [[-0.7], [1.0]], [[0.1], [0.1]]],
      jnp.float32,
  )  # [time, env, 1], some beyond the bounds [-1, 1]

  def run(key, actions):
    state, first = env.reset(key)

    def one(state, action):
      state, ts = env.step(state, action)
      return state, ts

    final, timesteps = jax.lax.scan(one, state, actions)
    # Playground itself, from the same initial state, clipped actions.
    _, reset_key = jax.random.split(key)
    reference = inner_env.reset(reset_key)

    def reference_step(state, action):
      state = inner_env.step(state, jnp.clip(action, -1.0, 1.0))
      return state, (state.obs, state.reward)

    _, (obs, reward) = jax.lax.scan(reference_step, reference, actions)
    return first, timesteps, reference.obs, obs, reward, final

  keys = jax.random.split(jax.random.PRNGKey(0), 2)
  first, ts, obs0, obs, reward, final = jax.jit(
      jax.vmap(run, in_axes=(0, 1), out_axes=(0, 1, 0, 1, 1, 0))
  )(keys, actions)
  np.testing.assert_allclose(first.observation, obs0, rtol=1e-6)
  assert ts.observation.shape == (num_steps, 2, 5)
  assert ts.observation.dtype == jnp.float32
  # Steps 1-3 are Playground's, truncated (discount 1) at the limit of 3;
  # step 4 starts a new episode.
  np.testing.assert_allclose(ts.observation[:3], obs[:3], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(ts.reward[:3], reward[:3], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(
      ts.step_type,
      [[base.MID] * 2, [base.MID] * 2, [base.LAST] * 2, [base.FIRST] * 2],
  )
  np.testing.assert_array_equal(ts.discount, np.ones((num_steps, 2)))
  assert not np.array_equal(ts.observation[:, 0], ts.observation[:, 1])
  # The environment state checkpoints like any other (orbax refuses the
  # zero-size arrays of MJX's data, which the wrapper leaves out).
  checkpointer = checkpointing.Checkpointer(str(tmp_path / "checkpoints"))
  checkpointer.save(1, final)
  checkpointer.wait()
  restored = checkpointer.restore(1, jax.eval_shape(lambda: final))
  checkpointer.close()
  assert restored is not None
  jax.tree.map(np.testing.assert_array_equal, restored, final)


@needs_playground
@pytest.mark.slow
def test_as_dm_env():
  from environments import dm_env_adapter

  env = dm_env_adapter.AsDmEnv(
      registry.make("dmc:CartpoleSwingup", max_episode_steps=2), seed=1
  )
  timestep = env.reset()
  assert timestep.first() and timestep.observation.shape == (5,)
  types = []
  for _ in range(3):
    timestep = env.step(np.asarray([0.3], np.float32))
    types.append(timestep.step_type)
    assert np.isfinite(timestep.observation).all()
  assert types == [
      dm_env.StepType.MID,
      dm_env.StepType.LAST,
      dm_env.StepType.FIRST,
  ]
  assert env.action_spec().shape == (1,)
