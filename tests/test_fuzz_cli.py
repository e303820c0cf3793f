"""Property-based fuzzing of the scripts' command lines (hypothesis).

Random keys and values (wrong types, NaN, inf, negative, huge, empty) go
through each script's own flag parsing (`_cli.parse_flags`), on a fresh
FlagValues, and its own checks (`run(..., check_only=True)` stops where the
script would start working: for train that is `train.check_run`, the first
call of `train.train`). Each run must end in success or in exactly one
`error:` line with exit code 2, and the run already in the workdir keeps its
sha256. For train, every rejected command line is also given to the real
`train.train`, which must raise the same error before touching anything.

Adding a script (scripts/reproduce_wang2018.py, scripts/gap_distribution.py):
give it a `define_flags(flag_values)` and a `run(flags, check_only=False)`
like scripts/reproduce_dabney2020.py, then a test here like
`test_reproduce_dabney2020_command_line`: draw an argument list, call
`_call(module, argv, check_only=True)`, `_check_outcome(...)`, and compare
`_digest(place)` before and after.
"""

import contextlib
import hashlib
import io
import json
import os
import signal

from absl import flags
import hypothesis
from hypothesis import strategies as st
import numpy as np
import pytest

from agents.runtime import config_schema
from agents.runtime import train as train_lib
from agents.runtime.errors import UserError
from configs import dqn
from scripts import _cli
from scripts import evaluate as evaluate_script
from scripts import reproduce_dabney2020 as dabney_script
from scripts import train as train_script

# Values as a user might type them after `--config.key=` or `--flag=`.
WEIRD = [
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "-0.0",
    "1e308",
    "1e-320",
    "99999999999999999999999",
    "-99999999999999999999",
    "",
    " ",
    "True",
    "False",
    "None",
    "()",
    "(0,)",
    "(1, -2)",
    "(1.5, 2)",
    "'adam'",
    "abc",
    "[1, 2]",
    "{}",
    "1,2",
    "0x10",
    "1_000",
    "\u00e9",
    "../x",
]
PLAUSIBLE = [
    "1",
    "2",
    "8",
    "64",
    "0.5",
    "0.99",
    "1e-3",
    "(64, 64)",
    "'rmsprop'",
    "'catch'",
    "'cartpole'",
    "'a2c'",
]
values = st.one_of(
    st.sampled_from(PLAUSIBLE),
    st.sampled_from(PLAUSIBLE),
    st.sampled_from(WEIRD),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
PRESET_KEYS = {}  # "configs/<agent>.py:<preset>" -> that preset's keys
for _name in config_schema.config_modules():
  _module = __import__(f"configs.{_name}", fromlist=["get_config"])
  for _preset in config_schema.presets_of(_module):
    PRESET_KEYS[f"configs/{_name}.py:{_preset}"] = sorted(
        _module.get_config(_preset).keys()
    )
PRESETS = sorted(PRESET_KEYS)
KEYS = sorted(config_schema.SCHEMA) + [
    "nosuch",
    "learnin_rate",
    "env_kwargs.num_trials",
    "",
]


def _digest(directory) -> dict[str, str]:
  out = {}
  for dirpath, _, files in os.walk(directory):
    for name in files:
      if name == ".lock":
        continue
      path = os.path.join(dirpath, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = hashlib.sha256(
            f.read()
        ).hexdigest()
  return out


@pytest.fixture(scope="module")
def place(tmp_path_factory):
  """A directory with a run already in it (and a file, for bad workdirs)."""
  root = tmp_path_factory.mktemp("fuzz")
  run = root / "run"
  (run / "checkpoints" / "3").mkdir(parents=True)
  (run / "checkpoints" / "3" / "state").write_bytes(b"\x00\x01state")
  (run / "metrics.csv").write_text("env_steps,episode_return_mean\n512,0.5\n")
  config = dqn.get_config("catch")
  (run / "config.json").write_text(
      json.dumps(train_lib.config_to_dict(config), indent=2, sort_keys=True)
  )
  (run / "summary.json").write_text('{"env_steps": 1536}')
  (root / "a_file").write_text("not a directory")
  return root


@contextlib.contextmanager
def _sigterm_kept():
  handler = signal.getsignal(signal.SIGTERM)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, handler)


def _define(module, flag_values, argv):
  if module is train_script:  # its --config.<key> overrides come from argv
    return module.define_flags(flag_values, argv)
  return module.define_flags(flag_values)


def _call(module, argv, **run_kwargs):
  """Runs a script in this process as `python -m` would; (exit code, stdout,
  stderr)."""
  flag_values = flags.FlagValues()
  holders = _define(module, flag_values, ["prog", *argv])
  out, err = io.StringIO(), io.StringIO()
  code = 0
  with (
      _sigterm_kept(),
      contextlib.redirect_stdout(out),
      contextlib.redirect_stderr(err),
  ):
    try:
      _cli.parse_flags(["prog", *argv], flag_values)
      _cli.run_main(lambda: module.run(holders, **run_kwargs))
    except SystemExit as e:
      code = e.code
  return code, out.getvalue(), err.getvalue()


def _check_outcome(code, stdout, stderr):
  errors = [l for l in stderr.splitlines() if l.startswith("error:")]
  assert "Traceback" not in stderr + stdout, stderr
  if code == 0:
    assert not errors, stderr
  else:
    assert code == 2, (code, stdout, stderr)
    assert len(errors) == 1, stderr
  return errors[0][len("error: ") :] if errors else None


def _workdirs(place):
  return st.sampled_from(
      [
          str(place / "run"),
          str(place / "fresh" / "x"),
          str(place / "a_file"),
          str(place / "a_file" / "x"),
          "/proc/fuzz",
          "",
          " ",
      ]
  )


@hypothesis.settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@hypothesis.given(data=st.data())
def test_train_command_line(place, data):
  preset = data.draw(
      st.sampled_from(
          PRESETS
          + [
              "configs/dqn.py:nope",
              "configs/common.py",
              "configs",
              "configs/x.py",
          ]
      )
  )
  keys = st.sampled_from(KEYS)
  if preset in PRESET_KEYS:  # mostly the preset's own keys
    keys = st.one_of(st.sampled_from(PRESET_KEYS[preset]), keys)
  overrides = data.draw(st.lists(st.tuples(keys, values), max_size=3))
  workdir = data.draw(
      st.one_of(st.just(str(place / "fresh" / "x")), _workdirs(place))
  )
  overwrite = data.draw(st.booleans())
  argv = [
      f"--config={preset}",
      f"--workdir={workdir}",
      *(f"--config.{k}={v}" for k, v in overrides),
  ]
  if overwrite:
    argv.append("--overwrite")
  before = _digest(place)
  code, stdout, stderr = _call(train_script, argv, check_only=True)
  message = _check_outcome(code, stdout, stderr)
  assert _digest(place) == before
  if message is None or not preset.startswith("configs/") or ":" not in preset:
    return
  # Rejected after parsing: the real run must fail the same way, untouched.
  flag_values = flags.FlagValues()
  holders = train_script.define_flags(flag_values, ["prog", *argv])
  try:
    flag_values(["prog", *argv])
    config = holders.config.value
  except Exception:  # pylint: disable=broad-except
    return  # rejected by the flag parser: train is never reached
  with pytest.raises(UserError) as raised:
    train_lib.train(config, workdir, overwrite=overwrite, log=lambda _: None)
  assert str(raised.value) == message
  assert _digest(place) == before


@hypothesis.settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@hypothesis.given(data=st.data())
def test_evaluate_command_line(place, data, tmp_path_factory):
  run = tmp_path_factory.mktemp("eval")
  config = train_lib.config_to_dict(dqn.get_config("catch"))
  edits = data.draw(
      st.lists(
          st.tuples(
              st.sampled_from(sorted(config) + ["nosuch"]),
              st.one_of(
                  st.none(),
                  st.booleans(),
                  st.integers(-(2**70), 2**70),
                  st.floats(),
                  st.text(max_size=5),
                  st.lists(st.integers(-3, 3), max_size=3),
              ),
          ),
          max_size=3,
      )
  )
  for key, value in edits:
    config[key] = value
  text = json.dumps(config)
  text = data.draw(
      st.sampled_from([text, text[: len(text) // 2], "[]", "", "null", '"x"'])
  )
  (run / "config.json").write_text(text)
  # Half the draws keep each flag valid, so that the config is reached.
  episodes = data.draw(st.one_of(st.just("5"), st.sampled_from(WEIRD)))
  seed = data.draw(
      st.one_of(st.just("0"), st.sampled_from(["-1", str(2**40), "x", ""]))
  )
  argv = [f"--workdir={run}", f"--episodes={episodes}", f"--seed={seed}"]
  before = _digest(run)
  code, stdout, stderr = _call(evaluate_script, argv)
  _check_outcome(code, stdout, stderr)
  assert code == 2  # there is no checkpoint to evaluate
  assert _digest(run) == before


def _npz_file(directory, kind):
  path = directory / f"{kind}.npz"
  if kind == "good":
    np.savez(
        path,
        responses=np.zeros((2, 3, 4)),
        utility_axis=np.zeros(3),
        magnitudes_ul=np.zeros(3),
    )
  elif kind == "truncated":
    _npz_file(directory, "good")
    path.write_bytes((directory / "good.npz").read_bytes()[:100])
  elif kind == "garbage":
    path.write_bytes(b"\x93NUMPY garbage")
  elif kind == "wrong_keys":
    np.savez(path, responses=np.zeros(3))
  elif kind == "folder":
    path = directory / "folder"
    path.mkdir(exist_ok=True)
  return path


@hypothesis.settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@hypothesis.given(data=st.data())
def test_reproduce_dabney2020_command_line(place, data):
  kind = data.draw(
      st.sampled_from(
          ["good", "truncated", "garbage", "wrong_keys", "folder", "missing"]
      )
  )
  argv = [
      f"--workdir={data.draw(_workdirs(place))}",
      f"--data={_npz_file(place, kind)}",
  ]
  for flag in data.draw(
      st.lists(st.sampled_from(["num_splits", "seed"]), max_size=2, unique=True)
  ):
    argv.append(f"--{flag}={data.draw(values)}")
  if data.draw(st.booleans()):
    argv.append("--quick")
  before = _digest(place)
  code, stdout, stderr = _call(dabney_script, argv, check_only=True)
  _check_outcome(code, stdout, stderr)
  if kind != "good":
    assert code == 2
  assert _digest(place) == before
