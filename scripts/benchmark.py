r"""Throughput benchmark: prints a table (measured here, side by side).

  python -m scripts.benchmark            # everything (a few minutes on 2 cores)
  python -m scripts.benchmark --only=a2c_cartpole,gymnax
  python -m scripts.benchmark --only=replay_vs_flashbax,replay_memory,\
      dqn_catch_prioritized,dqn_cartpole_prioritized     # replay (issue 12)
  python -m scripts.benchmark --only=naf_pendulum,ddpg_pendulum  # issue 15

The issue's reference numbers for peers measured on the same 2-core machine
(PureJaxRL PPO CartPole ~160k steps/s, PureJaxRL DQN CartPole ~48k, bsuite's
JAX DQN on catch ~1.9k) are printed beside ours for context; gymnax's
CartPole and a minimal fused DQN at PureJaxRL's DQN workload are measured in
this run, with the same threefry lowering as ours (`--cpu_threefry`); the
minimal fused DQN and QR-DQN are timed in rounds interleaved with ours.
"""

import json

from absl import app
from absl import flags

from scripts import _cli

_ONLY = flags.DEFINE_list("only", None, "rows to run (default: all)")
_SECONDS = flags.DEFINE_float("seconds", 3.0, "timing window per row")
_ROUNDS = flags.DEFINE_integer(
    "rounds",
    3,
    "interleaved rounds of the rows that compare our loop with "
    "a minimal fused program, and of Sebulba against the host loop "
    "(each program runs --seconds per round)",
)
_JSON = flags.DEFINE_string("json", None, "also write the rows to this file")
_CPU_THREEFRY = flags.DEFINE_enum(
    "cpu_threefry",
    "unrolled",
    ["unrolled", "rolled"],
    "how jax.random's threefry is compiled for CPU: unrolled (the project's "
    "default, agents/lib/cpu_threefry.py) or rolled (JAX's own CPU default); "
    "same random bits, to compare speeds",
)


def main(argv):
  del argv
  from agents.runtime import benchmarks as bm  # pylint: disable=g-import-not-at-top
  from agents.lib import cpu_threefry  # pylint: disable=g-import-not-at-top
  from configs import a2c, dqn, qr_dqn  # pylint: disable=g-import-not-at-top

  cpu_threefry.install(unrolled=_CPU_THREEFRY.value == "unrolled")

  def want(name):
    return not _ONLY.value or name in _ONLY.value

  rows = [("benchmark", "ours", "peer / target", "compile s", "notes")]
  results = {}

  def compiled(name, config, target, peer):
    r = bm.compiled_throughput(config, _SECONDS.value)
    results[name] = r
    rows.append(
        (
            name,
            f"{bm.rate(r['env_steps_per_second'])} steps/s",
            f"{peer}; target >= {target}",
            f"{r['compile_seconds']:.1f}",
            f"{config.num_envs} envs x {config.rollout_length} steps",
        )
    )

  if want("a2c_cartpole"):
    compiled(
        "a2c_cartpole",
        a2c.get_config("cartpole"),
        "240k",
        "PureJaxRL PPO ~160k",
    )
  if want("a2c_cartpole_process"):
    r = bm.whole_process(["--config=configs/a2c.py:cartpole"])
    results["a2c_cartpole_process"] = r
    rows.append(
        (
            "a2c_cartpole_process",
            f"{r['process_seconds']:.1f} s",
            "PureJaxRL PPO 12.4 s/500k; target <= 12 s solved",
            f"{r['compile_seconds']:.1f}",
            f"greedy return {r['eval_return_mean']:.1f}, "
            f"{r['env_steps']:,} steps",
        )
    )
  if want("dqn_cartpole"):
    # The preset that solves CartPole: 4 gradient steps on 64 items per 32
    # env steps (8 replayed samples per env step), 128-128 MLP, double Q.
    compiled(
        "dqn_cartpole",
        dqn.get_config("cartpole"),
        "60k",
        "PureJaxRL DQN ~48k (its own workload)",
    )
    rows[-1] = rows[-1][:4] + (
        "the cartpole preset: 8 envs x 4 steps, 4 "
        "updates x 64 items per call, 128-128 MLP",
    )

  def against_minimal(name, config, peer):
    # Ours beside the minimal fused program of the same workload, timed in
    # interleaved rounds; the ratio is the median of the rounds' ratios.
    r = bm.overhead_against_minimal(config, _ROUNDS.value, _SECONDS.value)
    results[name] = r
    per_round = ", ".join(
        f"{bm.rate(o)}/{bm.rate(m)}={x:.2f}x"
        for o, m, x in zip(
            r["rounds"]["ours"]["wall"],
            r["rounds"]["minimal"]["wall"],
            r["ratio_wall"],
        )
    )
    rows.append(
        (
            name,
            f"{bm.rate(r['ours_env_steps_per_second'])} steps/s",
            f"{peer}; target >= 0.9x minimal",
            f"{r['ours_compile_seconds']:.1f}",
            f"PureJaxRL's workload (10 envs, 1 update x 128 items per 10 "
            f"steps, 120-84 MLP); ours / minimal fused "
            f"{r['median_ratio_wall']:.2f}x (median of rounds: "
            f"{per_round}; CPU time "
            f"{r['median_ratio_cpu']:.2f}x)",
        )
    )

  if want("dqn_cartpole_purejaxrl_workload"):
    c = dqn.get_config("cartpole")
    c.update(bm.PUREJAXRL_DQN_WORKLOAD)
    against_minimal("dqn_cartpole_purejaxrl_workload", c, "PureJaxRL DQN ~48k")
  if want("qr_dqn_cartpole_purejaxrl_workload"):
    c = qr_dqn.get_config("cartpole")
    c.update(bm.PUREJAXRL_DQN_WORKLOAD)
    against_minimal(
        "qr_dqn_cartpole_purejaxrl_workload", c, f"QR-DQN, N={c.num_quantiles}"
    )
  if want("dqn_catch"):
    compiled("dqn_catch", dqn.get_config("catch"), "40k", "")

  def dqn_catch_rate():  # the baseline of the QR-DQN rows, measured once
    if "dqn_catch" not in results:
      compiled("dqn_catch", dqn.get_config("catch"), "40k", "")
    return results["dqn_catch"]["env_steps_per_second"]

  if want("qr_dqn_catch"):
    dqn_rate = dqn_catch_rate()
    compiled("qr_dqn_catch", qr_dqn.get_config("catch"), "0.8x DQN", "")
    ratio = results["qr_dqn_catch"]["env_steps_per_second"] / dqn_rate
    results["qr_dqn_catch"]["ratio_to_dqn"] = ratio
    rows[-1] = rows[-1][:4] + (f"{ratio:.2f}x DQN's steps/s, same settings",)
  if want("qr_dqn_catch_by_quantiles"):
    # How the ratio depends on N (the head has N x num_actions outputs and
    # the loss N x N pairs per transition); the preset's N is the row above,
    # reused when that row ran.
    dqn_rate = dqn_catch_rate()
    preset_n = qr_dqn.get_config("catch").num_quantiles
    ratios = {}
    for n in sorted({1, 11, 25, preset_n, 200}):
      if n == preset_n and "qr_dqn_catch" in results:
        ratios[n] = results["qr_dqn_catch"]["ratio_to_dqn"]
        continue
      c = qr_dqn.get_config("catch")
      c.num_quantiles = n
      ratios[n] = (
          bm.compiled_throughput(c, _SECONDS.value)["env_steps_per_second"]
          / dqn_rate
      )
    results["qr_dqn_catch_by_quantiles"] = {
        str(n): r for n, r in ratios.items()
    }
    rows.append(
        (
            "qr_dqn_catch_by_quantiles",
            ", ".join(f"N={n}: {r:.2f}x" for n, r in ratios.items()),
            "target >= 0.8x DQN (at the preset's N)",
            "-",
            "QR-DQN's steps/s over DQN's on Catch, same settings",
        )
    )
  if want("population_td"):
    r = bm.population_td_seconds()
    results["population_td"] = r
    rows.append(
        (
            "population_td",
            f"{r['seconds']:.3f} s",
            "target <= 1 s",
            f"{r['compile_seconds']:.1f}",
            "1,000 expectile units x 100,000 trials",
        )
    )
  if want("decode_cells"):
    r = bm.decode_cells_seconds()
    results["decode_cells"] = r
    rows.append(
        (
            "decode_cells",
            f"{r['seconds']:.2f} s",
            "target <= 5 s",
            f"{r['first_call_seconds']:.1f} (first call)",
            f"decoding {r['num_cells']} cells as reproduce_dabney2020 "
            f"does: {r['num_restarts']} pooled Adam runs x 100 samples, "
            f"{r['steps']} steps, best of {r['num_candidates']} starts",
        )
    )
  if want("host_bsuite_catch"):
    c = dqn.get_config("catch")
    c.env, c.num_envs, c.log_every_env_steps = "bsuite:catch/0", 1, 1000
    r = bm.host_loop_throughput(c, _SECONDS.value)
    from environments import registry  # pylint: disable=g-import-not-at-top

    alone = bm.dm_env_alone_throughput(
        registry.make_host("bsuite:catch/0"), _SECONDS.value
    )
    r["env_alone_steps_per_second"] = alone
    results["host_bsuite_catch"] = r
    rows.append(
        (
            "host_bsuite_catch",
            f"{bm.rate(r['env_steps_per_second'])} steps/s",
            "bsuite JAX DQN ~1.9k; target >= 3k",
            "-",
            f"DQN, host loop, 1 env; the bsuite env alone (random "
            f"actions, no agent) {bm.rate(alone)} steps/s in this run",
        )
    )
  if want("async_loops"):
    # Env steps/s against K (issue 14): A2C on Catch with one environment
    # per actor thread and t_max = 5 (the paper's setting), the compiled
    # loop with K vmapped environments beside it; 2 cores bound every
    # wall-clock speed-up here.
    for k in (1, 2, 4):
      for loop in ("anakin", "hogwild", "sebulba"):
        c = a2c.get_config("catch")
        c.update(
            dict(
                loop=loop,
                num_actors=k,
                num_envs=k,
                rollout_length=5,
                log_every_env_steps=500 * k,
            )
        )
        name = f"{loop}_a2c_catch_k{k}"
        r = bm.loop_throughput(c, _SECONDS.value)
        results[name] = r
        base = results.get(f"{loop}_a2c_catch_k1", r)["env_steps_per_second"]
        rows.append(
            (
                name,
                f"{bm.rate(r['env_steps_per_second'])} steps/s",
                f"{r['env_steps_per_second'] / base:.2f}x K=1",
                f"{r['compile_seconds']:.1f}",
                f"{k} env(s) x 5 steps per update"
                + "".join(
                    f", {key} {r[key]:.1f}"
                    for key in ("cas_retries", "staleness", "queue_length")
                    if key in r
                ),
            )
        )
  if want("sebulba_bsuite_catch"):
    # Sebulba's actor threads against the host loop on bsuite catch (DQN,
    # rollout_length 4 as host_bsuite_catch), timed in interleaved rounds.
    # The host loop steps 1 environment (one jitted act per env step, one
    # learn call per [T+1, 1]); each Sebulba actor thread steps B (one act
    # per step of all B, one learn call per [T+1, B]: B times fewer
    # gradient steps per env step; DQN's catch preset has num_envs = 8);
    # the _b1 row is Sebulba with the host loop's layout, 1 environment per
    # thread.
    configs = {}
    for name, loop, k, envs_per_actor in (
        ("host", "host", 1, 1),
        ("sebulba_bsuite_catch_k1_b8", "sebulba", 1, 8),
        ("sebulba_bsuite_catch_k2_b8", "sebulba", 2, 8),
        ("sebulba_bsuite_catch_k2_b4", "sebulba", 2, 4),
        ("sebulba_bsuite_catch_k2_b1", "sebulba", 2, 1),
    ):
      c = dqn.get_config("catch")
      c.update(
          dict(
              env="bsuite:catch/0",
              loop=loop,
              num_actors=k,
              num_envs=k * envs_per_actor,
              log_every_env_steps=1000,
          )
      )
      configs[name] = c
    r = bm.interleaved_loop_throughput(configs, _SECONDS.value, _ROUNDS.value)
    results.update({f"sebulba_vs_{name}": v for name, v in r.items()})
    for name in list(configs)[1:]:
      c = configs[name]
      b = c.num_envs // c.num_actors
      rows.append(
          (
              name,
              f"{bm.rate(r[name]['env_steps_per_second'])} steps/s",
              f"{bm.median_ratio(r[name], r['host']):.2f}x host loop "
              f"({bm.rate(r['host']['env_steps_per_second'])}); "
              "target >= 2x (K=2)",
              f"{r[name]['compile_seconds']:.1f}",
              f"DQN, {c.num_actors} actor thread(s) x {b} bsuite env(s); "
              f"median of {_ROUNDS.value} interleaved rounds",
          )
      )
  if want("async_algorithms"):
    # Issue 14: the four algorithms of Mnih et al. 2016 against K in the
    # synchronous and hogwild loops; asynchronous A3C vs synchronous A2C.
    new_rows, new_results = bm.async_algorithm_rows(_SECONDS.value)
    rows.extend(new_rows)
    results.update(new_results)
  if want("continuous_a3c"):
    # Issue 15: A3C with the Gaussian policy on Pendulum (anakin, hogwild
    # K=2) beside discrete A3C on CartPole.
    new_rows, new_results = bm.continuous_a3c_rows(_SECONDS.value)
    rows.extend(new_rows)
    results.update(new_results)
  if want("gymnax"):
    r = bm.cartpole_vs_gymnax()
    results["cartpole_env_step"] = r
    rows.append(
        (
            "cartpole_env_step",
            f"{bm.rate(r['ours'])} steps/s",
            (
                f"gymnax {bm.rate(r['gymnax'])} steps/s "
                f"(ours/gymnax {r['ours'] / r['gymnax']:.2f}x)"
            )
            if "gymnax" in r
            else "gymnax not installed",
            "-",
            "random actions, 1024 envs x 1000 steps",
        )
    )
  _continuous_rows(want, rows, results, bm)
  _replay_rows(want, rows, results, bm)
  print(f"threefry on CPU: {_CPU_THREEFRY.value}")
  print(bm.format_table(rows))
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(results, f, indent=2)


def _continuous_rows(want, rows, results, bm):
  """Issue 15's rows: NAF and DDPG on Pendulum, their presets (4 seeds
  vmapped, as reproduce_naf runs them), side by side."""
  from configs import ddpg, naf  # pylint: disable=g-import-not-at-top

  for name, module in (("naf_pendulum", naf), ("ddpg_pendulum", ddpg)):
    if not want(name):
      continue
    c = module.get_config("pendulum")
    c.num_seeds = 4
    r = bm.compiled_throughput(c, _SECONDS.value)
    results[name] = r
    naf_rate = results.get("naf_pendulum", {}).get("env_steps_per_second")
    rows.append(
        (
            name,
            f"{bm.rate(r['env_steps_per_second'])} steps/s",
            f"{r['env_steps_per_second'] / naf_rate:.2f}x NAF"
            if naf_rate and name != "naf_pendulum"
            else "-",
            f"{r['compile_seconds']:.1f}",
            f"the pendulum preset, 4 seeds vmapped (steps of all seeds): "
            f"{c.num_envs} envs x {c.rollout_length} steps, "
            f"{c.num_updates} updates x {c.batch_size} items per call, "
            f"{'-'.join(map(str, c.hidden_sizes))} MLP",
        )
    )


def _replay_rows(want, rows, results, bm):
  """Issue 12's replay rows: prioritized buffer vs flashbax, the 1e6-item
  buffer's memory, DQN with prioritized vs uniform replay."""
  from agents.runtime import replay_benchmarks as rb  # pylint: disable=g-import-not-at-top
  from configs import dqn  # pylint: disable=g-import-not-at-top

  if want("replay_vs_flashbax"):
    r = rb.prioritized_vs_flashbax(rounds=_ROUNDS.value)
    results["replay_vs_flashbax"] = r
    for size, by in r.items():
      capacity, batch = size.split("/")
      if by["flashbax"] is None:
        peer = "flashbax not installed: no comparison"
      else:
        peer = ", ".join(
            f"{op} {by['ours'][op] / by['flashbax'][op]:.2f}x"
            for op in ("add", "sample", "update")
        )
      rows.append(
          (
              f"replay_vs_flashbax C={int(capacity):.0e} B={batch}",
              ", ".join(f"{op} {bm.rate(v)}/s" for op, v in by["ours"].items()),
              f"ours/flashbax: {peer}; target >= 1.0x",
              "-",
              "prioritized buffer, items per CPU second, one core",
          )
      )
  if want("replay_memory"):
    r = rb.replay_memory()
    results["replay_memory"] = r
    large = r["large"]
    rows.append(
        (
            "replay_memory",
            f"{large['peak_rss_bytes'] / 2**20:,.0f} MiB peak",
            f"1e3-item buffer: {r['small']['peak_rss_bytes'] / 2**20:,.0f} MiB "
            f"peak (growth {r['rss_growth_over_buffer']:.2f}x the buffer); "
            f"RSS over the training segments +"
            f"{(large['rss_after_training_bytes'] - large['rss_after_compile_bytes']) / 2**20:,.1f}"
            f" MiB (1e3-item: +"
            f"{(r['small']['rss_after_training_bytes'] - r['small']['rss_after_compile_bytes']) / 2**20:,.1f}"
            f" MiB); target: no second copy",
            "-",
            f"DQN CartPole, {large['capacity']:,}-item {large['replay']} buffer "
            f"{large['replay_bytes'] / 2**20:,.0f} MiB; XLA aliases "
            f"{large['alias_bytes'] / 2**20:,.0f} MiB of the state in place, "
            f"temporaries {large['temp_bytes'] / 2**20:,.1f} MiB",
        )
    )
  for task in ("catch", "cartpole"):
    name = f"dqn_{task}_prioritized"
    if not want(name):
      continue
    rates = {}
    for kind in ("uniform", "prioritized"):
      c = dqn.get_config(task)
      c.replay = kind
      rates[kind] = bm.compiled_throughput(c, _SECONDS.value)
    ratio = (
        rates["prioritized"]["env_steps_per_second"]
        / rates["uniform"]["env_steps_per_second"]
    )
    results[name] = dict(rates, ratio=ratio)
    rows.append(
        (
            name,
            f"{bm.rate(rates['prioritized']['env_steps_per_second'])} "
            f"steps/s",
            f"{ratio:.2f}x uniform "
            f"({bm.rate(rates['uniform']['env_steps_per_second'])}); "
            f"target >= 0.7x",
            f"{rates['prioritized']['compile_seconds']:.1f}",
            f"DQN {task} preset, replay=prioritized vs uniform",
        )
    )


if __name__ == "__main__":
  app.run(
      lambda argv: _cli.run_main(lambda: main(argv)),
      flags_parser=_cli.parse_flags,
  )
