r"""Reproduce Dabney et al. 2020 (distributional code for value in dopamine neurons).

  python -m scripts.reproduce_dabney2020 --workdir=runs/dabney2020
  python -m scripts.reproduce_dabney2020 --workdir=/tmp/d --quick
  python -m scripts.reproduce_dabney2020 --workdir=/tmp/d --data=path/to/variable_magnitude.npz

Writes summary.json, cells.csv (real cells) and the figures to --workdir and prints
the headline numbers. Without the recordings (default path
../shared/data/dabney2020/variable_magnitude.npz beside the repository) the
simulations still run and the real-data part is reported as skipped.
See agents/analysis/dabney2020.py for what each number is.
"""

from pathlib import Path

from absl import app
from absl import flags

from scripts import _cli

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dabney2020" / "variable_magnitude.npz"

_WORKDIR = flags.DEFINE_string("workdir", None, "directory for summary.json, cells.csv and the figures")
_DATA = flags.DEFINE_string("data", str(DEFAULT_DATA), "the recordings (variable_magnitude.npz)")
_NUM_SPLITS = flags.DEFINE_integer("num_splits", 1000,
                                   "random split halves, real and simulated (--quick without it: 100)")
_QUICK = flags.DEFINE_bool("quick", False, "smaller settings (smoke test)")
_SEED = flags.DEFINE_integer("seed", 0, "seed of every random choice")
flags.mark_flags_as_required(["workdir"])


def _fmt(x, spec=".3f"):
  return "n/a" if x is None else format(x, spec)


def _table(summary) -> str:
  real, sim = summary["real"], summary["sim"]
  rows = [("quantity", "real", "sim distributional", "sim classical")]
  if real["skipped"]:
    r = {}
  else:
    r = real
  rows.append(("split-half reversal-point r", _fmt(r.get("reversal_split_half_r")),
               _fmt(sim["distributional"]["reversal_split_half_r"]),
               _fmt(sim["classical"]["reversal_split_half_r"])))
  rows.append(("asymmetry vs reversal r (split halves)", _fmt(r.get("asymmetry_vs_reversal_r")),
               _fmt(sim["distributional"]["asymmetry_vs_reversal_r"]),
               _fmt(sim["classical"]["asymmetry_vs_reversal_r"])))
  rows.append(("  its p (median over splits)", _fmt(r.get("asymmetry_vs_reversal_p"), ".2g"),
               _fmt(sim["distributional"]["asymmetry_vs_reversal_p_median"], ".2g"),
               _fmt(sim["classical"]["asymmetry_vs_reversal_p_median"], ".2g")))
  rows.append(("decoded W1 to true (ul; real: seed mean)", _fmt(r.get("decoded_w1_ul")),
               _fmt(sim["distributional"]["decoded_w1"]), _fmt(sim["classical"]["decoded_w1"])))
  if r:
    spread = r["decoded_w1_ul_over_seeds"]
    rows.append(("  over imputation seeds (min..max)", f"{spread['min']:.3f}..{spread['max']:.3f}", "", ""))
    rows.append(("  39 finite-tau cells instead of all 40", _fmt(r["decoded_w1_ul_finite_cells"]), "", ""))
    tnc = r["decoded_w1_ul_paper_tnc_over_seeds"]
    rows.append(("  cross-check: paper's TNC optimiser", f"{tnc['mean']:.3f} ({tnc['min']:.3f}..{tnc['max']:.3f})",
                 "", ""))
  rows.append(("matched Gaussian W1 (ul)", _fmt(r.get("gaussian_w1_ul")), _fmt(sim["gaussian_w1"]), ""))
  rows.append(("uniform W1 (ul)", _fmt(r.get("uniform_w1_ul")), _fmt(sim["uniform_w1"]), ""))
  rows.append(("point mass W1 (ul)", _fmt(r.get("point_mass_w1_ul")), _fmt(sim["point_mass_w1"]), ""))
  prob = sim["probability_task"]
  rows.append(("50% cue: optimistic / pessimistic", "",
               f"{prob['fraction_optimistic']:.2f} / {prob['fraction_pessimistic']:.2f}",
               f"{prob['classical_fraction_optimistic']:.2f} / {prob['classical_fraction_pessimistic']:.2f}"))
  widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
  lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
  lines.insert(1, "-" * len(lines[0]))
  return "\n".join(lines)


def _run():
  from agents.analysis import dabney2020  # pylint: disable=g-import-not-at-top
  from agents.runtime.errors import UserError  # pylint: disable=g-import-not-at-top

  num_splits = _NUM_SPLITS.value
  if _QUICK.value and not flags.FLAGS["num_splits"].present:
    num_splits = 100
  if num_splits < 1:
    raise UserError(f"--num_splits must be >= 1, got {num_splits}")
  workdir = Path(_WORKDIR.value)
  if workdir.exists() and not workdir.is_dir():
    raise UserError(f"--workdir {workdir} exists and is not a directory")
  summary = dabney2020.run_reproduction(_DATA.value or None, workdir, num_splits=num_splits,
                                        quick=_QUICK.value, seed=_SEED.value)
  real = summary["real"]
  print(f"Dabney et al. 2020 reproduction -> {workdir}")
  if real["skipped"]:
    print(f"real data: SKIPPED ({real['skip_reason']}); simulations only.")
  else:
    spread = real["decoded_w1_ul_over_seeds"]
    print(f"real data: {real['num_cells']} cells, {real['num_trials']} trials, {real['num_splits']} split halves; "
          f"decoded from {real['num_cells_decoded']} cells; decoded beats matched Gaussian: "
          f"{real['decoded_beats_gaussian']} (mean W1 over {len(spread['per_seed'])} imputation seeds; "
          f"below it on {spread['fraction_below_gaussian']:.0%} of seeds)")
  print(_table(summary))
  print(f"total {summary['timings_s']['total']:.1f} s; files: summary.json, " + ", ".join(summary["figures"]))


def main(argv):
  del argv
  _cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=_cli.parse_flags)
