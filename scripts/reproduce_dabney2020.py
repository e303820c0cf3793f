r"""Reproduce Dabney et al. 2020 (distributional code for value in dopamine neurons).

  python -m scripts.reproduce_dabney2020 --workdir=runs/dabney2020
  python -m scripts.reproduce_dabney2020 --workdir=/tmp/d --quick
  python -m scripts.reproduce_dabney2020 --workdir=/tmp/d --data=path/to/variable_magnitude.npz

Writes summary.json, cells.csv (real cells) and the figures to --workdir and prints
the headline numbers. --data takes the recordings' file or the folder holding
variable_magnitude.npz; a path that does not exist or does not hold the
recordings is an error. Without --data, the default path
(../shared/data/dabney2020/variable_magnitude.npz beside the repository) is
used if it exists; otherwise, or with --data= (empty), only the simulations
run and the real-data part is reported as skipped.
See agents/analysis/dabney2020.py for what each number is.
"""

import types
from pathlib import Path

from absl import app
from absl import flags

from scripts import _cli

DEFAULT_DATA = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "dabney2020"
    / "variable_magnitude.npz"
)

# Arrays the analysis reads, with their number of dimensions.
_DATA_KEYS = {"responses": 3, "utility_axis": 1, "magnitudes_ul": 1}


def define_flags(fv: flags.FlagValues = flags.FLAGS):
  """This script's flags, defined on `fv` (tests pass a fresh one)."""
  holders = types.SimpleNamespace(
      workdir=flags.DEFINE_string(
          "workdir",
          None,
          "directory for summary.json, cells.csv and the figures",
          flag_values=fv,
      ),
      data=flags.DEFINE_string(
          "data",
          str(DEFAULT_DATA),
          "the recordings (variable_magnitude.npz, or its folder); empty: simulations only",
          flag_values=fv,
      ),
      num_splits=flags.DEFINE_integer(
          "num_splits",
          1000,
          "random split halves, real and simulated (--quick without it: 100)",
          flag_values=fv,
      ),
      quick=flags.DEFINE_bool(
          "quick", False, "smaller settings (smoke test)", flag_values=fv
      ),
      seed=flags.DEFINE_integer(
          "seed", 0, "seed of every random choice", flag_values=fv
      ),
      flag_values=fv,
  )
  flags.mark_flags_as_required(["workdir"], flag_values=fv)
  return holders


def _fmt(x, spec=".3f"):
  return "n/a" if x is None else format(x, spec)


def _cells(real) -> str:
  return ",".join(str(i) for i in real["excluded_cells"]) or "none"


def _table(summary) -> str:
  real, sim = summary["real"], summary["sim"]
  rows = [("quantity", "real", "sim distributional", "sim classical")]
  if real["skipped"]:
    r = {}
  else:
    r = real
  cells = f" ({r['num_cells_split_half']} cells)" if r else ""
  rows.append(
      (
          f"split-half reversal-point r{cells}",
          _fmt(r.get("reversal_split_half_r")),
          _fmt(sim["distributional"]["reversal_split_half_r"]),
          _fmt(sim["classical"]["reversal_split_half_r"]),
      )
  )
  if r:
    rows.append(
        (
            f"  with cell(s) {_cells(r)} (paper's caps)",
            _fmt(r["reversal_split_half_r_with_end_cells"]),
            "",
            "",
        )
    )
  rows.append(
      (
          f"asymmetry vs reversal r (split halves){cells}",
          _fmt(r.get("asymmetry_vs_reversal_r")),
          _fmt(sim["distributional"]["asymmetry_vs_reversal_r"]),
          _fmt(sim["classical"]["asymmetry_vs_reversal_r"]),
      )
  )
  rows.append(
      (
          "  its p (median over splits)",
          _fmt(r.get("asymmetry_vs_reversal_p"), ".2g"),
          _fmt(sim["distributional"]["asymmetry_vs_reversal_p_median"], ".2g"),
          _fmt(sim["classical"]["asymmetry_vs_reversal_p_median"], ".2g"),
      )
  )
  if r:
    rows.append(
        (
            f"  with cell(s) {_cells(r)} (paper's caps): r, p",
            f"{r['asymmetry_vs_reversal_r_with_end_cells']:.3f}, "
            f"{r['asymmetry_vs_reversal_p_with_end_cells']:.2g}",
            "",
            "",
        )
    )
    se = r["tau_standard_errors"]
    rows.append(
        (
            "tau SE median: delta method / 7-fold SEM",
            f"{se['delta_method_median']:.3f} / {se['sem_7fold_median']:.3f}",
            "",
            "",
        )
    )
    rows.append(
        (
            "  7-fold SEM / delta SE (median over cells)",
            f"{se['sem_7fold_over_delta_median']:.2f} (fixed reversal: "
            f"{se['sem_7fold_fixed_reversal_over_delta_median']:.2f})",
            "",
            "",
        )
    )
  rows.append(
      (
          "decoded W1 to true (ul; real: seed mean)",
          _fmt(r.get("decoded_w1_ul")),
          _fmt(sim["distributional"]["decoded_w1"]),
          _fmt(sim["classical"]["decoded_w1"]),
      )
  )
  if r:
    spread = r["decoded_w1_ul_over_seeds"]
    rows.append(
        (
            "  over imputation seeds (min..max)",
            f"{spread['min']:.3f}..{spread['max']:.3f}",
            "",
            "",
        )
    )
    rows.append(
        (
            "  39 finite-tau cells instead of all 40",
            _fmt(r["decoded_w1_ul_finite_cells"]),
            "",
            "",
        )
    )
    tnc = r["decoded_w1_ul_paper_tnc_over_seeds"]
    rows.append(
        (
            "  cross-check: paper's TNC optimiser",
            f"{tnc['mean']:.3f} ({tnc['min']:.3f}..{tnc['max']:.3f})",
            "",
            "",
        )
    )
  nulls = [
      None if not r else r["decoding_vs_classical_null"],
      sim["distributional"]["decoding_vs_classical_null"],
      sim["classical"]["decoding_vs_classical_null"],
  ]
  rows.append(
      (
          "decoded W1, as the real cells (caps, clip)",
          *(_fmt(n and n["observed_w1_ul"]) for n in nulls),
      )
  )
  rows.append(
      (
          "  classical null with its noise: mean W1",
          *(
              ""
              if n is None
              else f"{n['null_w1_ul_mean']:.3f} "
              f"({n['num_populations']} populations)"
              for n in nulls
          ),
      )
  )
  rows.append(
      (
          "  null at or below it; p (one-sided)",
          *(
              ""
              if n is None
              else f"{n['fraction_of_null_at_or_below']:.0%}; {n['p_value']:.2g}"
              for n in nulls
          ),
      )
  )
  rows.append(
      (
          "matched Gaussian W1 (ul)",
          _fmt(r.get("gaussian_w1_ul")),
          _fmt(sim["gaussian_w1"]),
          "",
      )
  )
  rows.append(
      (
          "uniform W1 (ul)",
          _fmt(r.get("uniform_w1_ul")),
          _fmt(sim["uniform_w1"]),
          "",
      )
  )
  rows.append(
      (
          "point mass W1 (ul)",
          _fmt(r.get("point_mass_w1_ul")),
          _fmt(sim["point_mass_w1"]),
          "",
      )
  )
  prob = sim["probability_task"]
  rows.append(
      (
          f"50% cue: optimistic / pessimistic (mean of {prob['num_experiments']})",
          "",
          f"{prob['fraction_optimistic']:.2f} / {prob['fraction_pessimistic']:.2f}",
          f"{prob['classical_fraction_optimistic']:.2f} / {prob['classical_fraction_pessimistic']:.2f}",
      )
  )
  rows.append(
      (
          "  classical: worst recording; distributional: fewest",
          "",
          f"{prob['min_fraction_optimistic']:.2f} / {prob['min_fraction_pessimistic']:.2f}",
          f"{prob['classical_max_fraction_optimistic']:.2f} / {prob['classical_max_fraction_pessimistic']:.2f}",
      )
  )
  widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
  lines = [
      "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
      for row in rows
  ]
  lines.insert(1, "-" * len(lines[0]))
  return "\n".join(lines)


def recordings_path(value: str, given: bool):
  """The recordings file to analyse, or None to skip the real data; UserError
  for a path that does not hold them."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from agents.runtime.errors import UserError  # pylint: disable=g-import-not-at-top

  if not value:
    return None
  path = Path(value)
  if path.is_dir():
    path = path / DEFAULT_DATA.name
    if not path.is_file():
      raise UserError(f"--data={value} is a folder without {DEFAULT_DATA.name}")
  elif not path.exists():
    if not given:  # the default location, absent on this machine
      return None
    raise UserError(
        f"--data={value} does not exist; give the recordings ({DEFAULT_DATA.name}) or their "
        "folder, or --data= for the simulations only"
    )
  try:
    data = np.load(path)
    arrays = {k: data[k] for k in getattr(data, "files", ()) if k in _DATA_KEYS}
  except Exception as e:  # pylint: disable=broad-except
    # np.load's errors on a truncated or foreign file vary (BadZipFile, EOFError, ValueError, pickle errors).
    detail = (
        "not an .npz archive"
        if "pickled" in str(e)
        else f"{type(e).__name__}: {' '.join(str(e).split())[:120]}"
    )
    raise UserError(
        f"--data={value} is not a readable .npz of the recordings ({detail})"
    ) from None
  problems = [
      f"{k} (missing)"
      if k not in arrays
      else f"{k} ({arrays[k].ndim}-d, want {ndim}-d)"
      for k, ndim in _DATA_KEYS.items()
      if k not in arrays or arrays[k].ndim != ndim
  ]
  if (
      not problems
      and arrays["responses"].shape[1] != arrays["utility_axis"].shape[0]
  ):
    problems = [
        "responses and utility_axis (disagree on the number of magnitudes)"
    ]
  if problems:
    raise UserError(
        f"--data={value} is not the recordings: bad arrays {', '.join(problems)}; "
        f"expected {', '.join(_DATA_KEYS)}"
    )
  return path


def check_inputs(flag: types.SimpleNamespace):
  """(workdir, recordings or None, num_splits) from the flags; UserError for
  a bad one. Writes nothing."""
  from agents.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from agents.runtime.errors import UserError  # pylint: disable=g-import-not-at-top

  num_splits = flag.num_splits.value
  if flag.quick.value and not flag.flag_values["num_splits"].present:
    num_splits = 100
  if not 1 <= num_splits <= 1_000_000:
    raise UserError(
        f"--num_splits={num_splits} is not allowed: it must be an integer in [1, 1000000]"
    )
  if not 0 <= flag.seed.value < 2**31:
    raise UserError(
        f"--seed={flag.seed.value} is not allowed: it must be an integer in [0, 2147483647]"
    )
  workdir_lib.ensure_writable_dir(flag.workdir.value)
  return (
      Path(flag.workdir.value),
      recordings_path(flag.data.value, flag.flag_values["data"].present),
      num_splits,
  )


def run(flag: types.SimpleNamespace, *, check_only: bool = False):
  """The reproduction; `check_only` stops after `check_inputs` (tests)."""
  workdir, data, num_splits = check_inputs(flag)
  if check_only:
    return
  from agents.analysis import dabney2020  # pylint: disable=g-import-not-at-top

  summary = dabney2020.run_reproduction(
      data,
      workdir,
      num_splits=num_splits,
      quick=flag.quick.value,
      seed=flag.seed.value,
  )
  real = summary["real"]
  print(f"Dabney et al. 2020 reproduction -> {workdir}")
  if real["skipped"]:
    print(f"real data: SKIPPED ({real['skip_reason']}); simulations only.")
  else:
    print(
        f"real data, split halves: {real['num_cells_split_half']} cells; "
        f"left out: cell(s) {_cells(real)} (no reversal point inside the "
        "reward range, as in the paper's Figure 5 data); with them (paper's "
        "caps) in the rows below"
    )
    print(
        f"real data: {real['num_cells']} cells, {real['num_trials']} trials, "
        f"{real['num_splits']} split halves; decoded from "
        f"{real['num_cells_decoded']} cells"
    )
    print(f"decoding: {real['decoding_vs_classical_null']['finding']}")
  print(_table(summary))
  print(
      f"total {summary['timings_s']['total']:.1f} s; files: summary.json, "
      + ", ".join(summary["figures"])
  )


if __name__ == "__main__":
  _FLAGS = define_flags()
  app.run(
      lambda argv: _cli.run_main(lambda: run(_FLAGS)),
      flags_parser=_cli.parse_flags,
  )
