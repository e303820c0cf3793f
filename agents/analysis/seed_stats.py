"""Numbers and curves over training seeds: the aggregation every
reproduction's summary.json uses (`per_seed` -> `across_seeds`).

`seed_stats` is {mean, sd, values} with the sample sd (ddof 1) over seeds;
`reached_stats` the same for a quantity some seeds may never reach (steps to
a return threshold: None), over the seeds that reached it, with the count
(`format_reached` prints it);
`across_seeds` applies it to every number of a list of per-seed dicts (and
mean/sd per entry to equal-length curves, counts to booleans); `split_seeds`
turns a pytree with a leading seed axis (the compiled loop's vmapped seeds)
into one pytree per seed.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def split_seeds(tree, num_seeds: int) -> list[Any]:
  """[S, ...] leaves -> S pytrees, one per training seed."""
  return [jax.tree.map(lambda x, i=i: x[i], tree) for i in range(num_seeds)]


def _is_number(x) -> bool:
  return isinstance(x, (int, float, np.integer, np.floating)) and not (
      isinstance(x, (bool, np.bool_))
  )


def _is_curve(x) -> bool:
  if isinstance(x, np.ndarray):
    return x.ndim == 1 and np.issubdtype(x.dtype, np.number)
  return isinstance(x, (list, tuple)) and bool(x) and all(map(_is_number, x))


def seed_stats(values) -> dict[str, Any]:
  """{mean, sd, values}: sd is the sample sd over seeds (0 for one seed)."""
  v = np.asarray(values, np.float64)
  return dict(
      mean=float(np.mean(v)),
      sd=float(np.std(v, ddof=1)) if v.size > 1 else 0.0,
      values=[float(x) for x in v],
  )


def across_seeds(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
  """Every seed's dicts (same keys) -> mean/sd: numbers -> `seed_stats`,
  equal-length curves -> {mean, sd} per entry, dicts recursively, booleans ->
  {count, of}; anything else is left out (it stays in `per_seed`)."""
  out = {}
  for key, first in per_seed[0].items():
    values = [s.get(key) for s in per_seed]
    if isinstance(first, (bool, np.bool_)):
      if all(isinstance(v, (bool, np.bool_)) for v in values):
        out[key] = dict(count=int(sum(values)), of=len(values))
    elif _is_number(first):
      if all(map(_is_number, values)):
        out[key] = seed_stats(values)
    elif isinstance(first, dict):
      if all(isinstance(v, dict) for v in values):
        nested = across_seeds(values)
        if nested:
          out[key] = nested
    elif _is_curve(first):
      if all(_is_curve(v) and len(v) == len(first) for v in values):
        stacked = np.asarray(values, np.float64)
        out[key] = dict(
            mean=stacked.mean(0).tolist(),
            sd=(
                stacked.std(0, ddof=1)
                if len(values) > 1
                else np.zeros(len(first))
            ).tolist(),
        )
  return out


def mean_sd(stats) -> str:
  """'m +- sd' of a `seed_stats` dict."""
  return f"{stats['mean']:.3f} +- {stats['sd']:.3f}"


def reached_stats(values: list[float | None]) -> dict[str, Any]:
  """{mean, sd, reached, seeds, per_seed} over the seeds whose value is not
  None (mean and sd None when none is); sd is the population sd (ddof 0),
  as the A3C and NAF tables have always reported it."""
  reached = [v for v in values if v is not None]
  return dict(
      mean=float(np.mean(reached)) if reached else None,
      sd=float(np.std(reached)) if reached else None,
      reached=len(reached),
      seeds=len(values),
      per_seed=values,
  )


def format_reached(stat: dict[str, Any], digits: int = 0) -> str:
  """'mean +- sd', with '(reached/seeds)' when some seed never got there."""
  if stat["mean"] is None:
    return f"never (0/{stat['seeds']})"
  text = f"{stat['mean']:,.{digits}f} +- {stat['sd']:,.{digits}f}"
  if stat["reached"] < stat["seeds"]:
    text += f" ({stat['reached']}/{stat['seeds']})"
  return text
