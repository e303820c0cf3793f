"""Figures of the Dabney et al. 2020 reproduction (:mod:`agents.analysis.dabney2020`).

Each ``plot_*`` function draws one PNG from the plot data and summary that
:func:`agents.analysis.dabney2020.run_reproduction` computes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from agents.analysis import dopamine as da

# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  return plt


def plot_learned_vs_true(plot: dict[str, Any], path: Path) -> None:
  plt = _pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
  taus = plot["taus"]
  for ax, rule in zip(axes, ("expectile", "quantile")):
    learned, true = plot[rule]
    ax.plot(taus, learned, ".", ms=4, label=f"learned ({len(taus)} units)")
    ax.plot(taus, true, "k-", lw=1.5, label=f"true {rule}s")
    ax.set_xlabel("asymmetry tau = alpha+ / (alpha+ + alpha-)")
    ax.set_ylabel("value / reversal point (ul)")
    ax.set_title(f"{rule} units vs the reward distribution's {rule}s")
    ax.legend(frameon=False)
  fig.savefig(path, dpi=120)
  plt.close(fig)


def asymmetry_reversal_panel(
    label: str,
    split: da.SplitHalfResult,
    to_ul: Callable[[np.ndarray], np.ndarray] | None = None,
    true_pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
  """One panel of :func:`plot_asymmetry_vs_reversal`: the split-half test on
  exactly the points drawn.

  The split shown is the one whose r(tau_A, reversal_B) lies closest to the
  median over the splits (the headline statistic); the panel holds that
  split's tau_A (x) and reversal_B in microlitres (y, through ``to_ul`` from
  utility; None: already microlitres) for the cells with both finite, and the
  Pearson r and p of those very points, in those units.

  Returns {label, split_index, num_splits, tau, reversal_ul, n, r, p,
  true_tau, true_reversal_ul, title}.
  """
  r_all = np.asarray(split.asymmetry_reversal_r)
  finite = np.isfinite(r_all)
  if not finite.any():
    raise ValueError(f"{label}: no split has a finite r(tau_A, reversal_B)")
  distance = np.where(finite, np.abs(r_all - np.nanmedian(r_all)), np.inf)
  index = int(np.argmin(distance))
  tau = np.asarray(split.tau_a[index], np.float64)
  reversal = np.asarray(split.reversal_b[index], np.float64)
  reversal_ul = reversal if to_ul is None else np.asarray(to_ul(reversal))
  ok = np.isfinite(tau) & np.isfinite(reversal_ul)
  tau, reversal_ul = tau[ok], reversal_ul[ok]
  r, p, n = (float(v) for v in da.pearson_with_pvalue(tau, reversal_ul))
  title = (
      f"{label}\n{int(n)} cells; split {index + 1} of {r_all.size} (the"
      f" median r)\nr(tau half A, reversal half B) = {r:.2f}, p = {p:.2g}"
  )
  return {
      "label": label,
      "split_index": index,
      "num_splits": int(r_all.size),
      "tau": tau,
      "reversal_ul": reversal_ul,
      "n": int(n),
      "r": r,
      "p": p,
      "true_tau": None if true_pairs is None else true_pairs[0],
      "true_reversal_ul": None if true_pairs is None else true_pairs[1],
      "title": title,
  }


def plot_asymmetry_vs_reversal(
    panels: list[dict[str, Any] | None], path: Path
) -> list[dict[str, Any] | None]:
  """Asymmetry (half A) vs reversal point (half B), one panel per
  :func:`asymmetry_reversal_panel` (None: real data skipped).

  Every panel is in microlitres and quotes the r, p and cell count of the
  points it draws.  Returns the panels (the test checks titles vs data).
  """
  plt = _pyplot()
  fig, axes = plt.subplots(
      1,
      len(panels),
      figsize=(5 * len(panels), 4.7),
      constrained_layout=True,
      squeeze=False,
  )
  for ax, panel in zip(axes[0], panels):
    if panel is None:
      ax.text(
          0.5,
          0.5,
          "real data skipped\n(no recordings file)",
          ha="center",
          va="center",
          transform=ax.transAxes,
      )
      ax.set_axis_off()
      continue
    ax.plot(
        panel["tau"],
        panel["reversal_ul"],
        "o",
        ms=4,
        label="estimated (tau: half A; reversal: half B)",
    )
    if panel["true_tau"] is not None:
      ax.plot(
          panel["true_tau"],
          panel["true_reversal_ul"],
          "x",
          ms=4,
          color="0.5",
          label="model's true tau, value (not in r)",
      )
    ax.set_xlabel("asymmetry tau (half A of the trials)")
    ax.set_ylabel("reversal point (ul; half B)")
    ax.set_title(panel["title"], fontsize=9)
    ax.legend(frameon=False, fontsize=7)
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return panels


def _cdf_on(grid, samples, weights=None):
  v, w = np.asarray(
      samples, np.float64
  ), None if weights is None else np.asarray(weights, np.float64)
  order = np.argsort(v)
  v = v[order]
  w = np.full(v.size, 1.0 / v.size) if w is None else w[order] / w.sum()
  return np.concatenate([[0.0], np.cumsum(w)])[
      np.searchsorted(v, grid, side="right")
  ]


def plot_decoded_distribution(
    real, real_summary, sim_plot, true_distribution, path: Path
) -> None:
  """Decoded vs true reward distribution (real and simulated).

  ``true_distribution``: (values, probabilities) of the simulated task's
  rewards.
  """
  import scipy.stats  # pylint: disable=g-import-not-at-top

  plt = _pyplot()
  grid = np.linspace(-6.0, 24.0, 1201)
  panels = [
      (
          "simulated distributional (40 units)",
          sim_plot["distributional"]["decoded_samples"],
          true_distribution,
      )
  ]
  if real is not None:
    panels.insert(
        0,
        (
            f"real ({real_summary['num_cells_decoded']} cells; W1 over "
            "imputation seeds "
            f"{real_summary['decoded_w1_ul_over_seeds']['min']:.2f}-"
            f"{real_summary['decoded_w1_ul_over_seeds']['max']:.2f})",
            real.decoded_samples,
            (real.true_values, real.true_probs),
        ),
    )
  fig, axes = plt.subplots(
      2,
      len(panels),
      figsize=(6.5 * len(panels), 8),
      constrained_layout=True,
      squeeze=False,
  )
  for j, (title, samples, (values, probs)) in enumerate(panels):
    baselines = da.baseline_distributions(values, probs)
    w1_base = da.baseline_wasserstein_distances(values, probs)
    top, bottom = axes[0, j], axes[1, j]
    w1 = da.wasserstein1(samples, None, values, probs)
    top.bar(values, probs, width=0.35, color="0.6", label="true (probability)")
    kde = scipy.stats.gaussian_kde(samples, bw_method=0.15)
    top.plot(grid, kde(grid), lw=2, label="decoded (KDE of samples)")
    top.plot(samples, np.full(samples.shape, -0.01), "|", color="C0", ms=8)
    top.plot(
        grid,
        scipy.stats.norm.pdf(
            grid,
            np.dot(values, probs),
            np.sqrt(np.dot(probs, (values - np.dot(values, probs)) ** 2)),
        ),
        "--",
        color="C1",
        label="matched Gaussian",
    )
    top.set_title(
        f"{title}\none decoding ({samples.size} pooled samples) vs the true"
        " distribution",
        fontsize=10,
    )
    top.set_xlabel("reward (ul)")
    top.legend(frameon=False, fontsize=8)
    bottom.step(
        grid,
        _cdf_on(grid, values, probs),
        where="post",
        color="k",
        lw=2,
        label="true",
    )
    bottom.step(
        grid,
        _cdf_on(grid, samples),
        where="post",
        lw=2,
        label=f"decoded, W1 = {w1:.2f} ul",
    )
    for (name, (bv, bw)), style in zip(baselines.items(), ("--", ":", "-.")):
      bottom.plot(
          grid,
          _cdf_on(grid, bv, bw),
          style,
          label=f"{name.replace('_', ' ')}, W1 = {w1_base[name]:.2f}",
      )
    bottom.set_xlabel("reward (ul)")
    bottom.set_ylabel("cumulative probability")
    bottom.legend(frameon=False, fontsize=8, loc="lower right")
  fig.savefig(path, dpi=120)
  plt.close(fig)


def plot_probability_cues(
    plot: dict[str, Any], summary: dict[str, Any], path: Path
) -> None:
  plt = _pyplot()
  colours = {
      "optimistic": "C3",
      "pessimistic": "C0",
      "interpolating": "0.6",
      "undetermined": "0.85",
  }
  fig, axes = plt.subplots(
      1, 2, figsize=(11, 4.5), constrained_layout=True, sharey=True
  )
  x = np.asarray(summary["cue_probabilities"]) * 100
  for ax, kind in zip(axes, ("distributional", "classical")):
    p = plot[kind]
    means = np.nanmean(p["responses"], axis=-1)  # (N, 3)
    z = (means - means.mean(1, keepdims=True)) / np.maximum(
        means.std(1, keepdims=True), 1e-12
    )
    for row, label in zip(z, p["labels"]):
      ax.plot(x, row, "-", color=colours[str(label)], alpha=0.8, lw=1)
    counts = {
        k: int(np.sum(p["labels"] == k))
        for k in ("optimistic", "pessimistic", "interpolating")
    }
    ax.set_title(
        f"{kind}: " + ", ".join(f"{v} {k}" for k, v in counts.items()),
        fontsize=10,
    )
    ax.set_xticks(x)
    ax.set_xlabel("cue reward probability (%)")
  axes[0].set_ylabel("mean cue response (z-scored per unit)")
  for label, colour in colours.items():
    if label != "undetermined":
      axes[1].plot([], [], color=colour, label=label)
  axes[1].legend(frameon=False)
  fig.savefig(path, dpi=120)
  plt.close(fig)
