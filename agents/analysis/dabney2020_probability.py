"""The variable-probability task of the Dabney et al. 2020 reproduction
(part 4 of :mod:`agents.analysis.dabney2020`; the paper's Fig. 4 and Extended
Data Fig. 7): optimistic and pessimistic coding of the 50% cue by simulated
distributional and classical populations.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from agents import distributional_td as dtd
from agents.analysis import dopamine as da
from environments import dopamine_tasks as dt

if TYPE_CHECKING:
  from agents.analysis.dabney2020 import Settings  # pylint: disable=g-bad-import-order


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _independent_histories(task, population, num_trials, every, keys):
  """(num_trials // every, N, S) value snapshots, unit i trained on trials
  drawn with keys[i] (vmapped one-unit populations)."""

  def one_unit(alpha_plus, alpha_minus, offset, key):
    unit = dtd.Population(
        alpha_plus[None], alpha_minus[None], offset[None], population.rule
    )
    trials = dtd.trials_from_task(task, num_trials, key)
    _, history = dtd.simulate(
        unit, trials, task.num_states, history_every=every
    )
    return history[:, 0]

  return jax.vmap(one_unit, out_axes=1)(
      population.alpha_plus,
      population.alpha_minus,
      population.value_offset,
      keys,
  )


def simulate_probability_cue_responses(
    kind: str, key: jax.Array, settings: Settings
) -> tuple[dtd.Population, np.ndarray]:
  """(population, (N, 3, T) responses to the 10%, 50%, 90% cues).

  Each unit learns the task
  (:class:`environments.dopamine_tasks.VariableProbability`) by TD over its
  own sequence of trials (cues and rewards drawn independently per unit, as
  cells recorded in different sessions; a population sharing one sequence
  shares its value fluctuations, so the classical control's 50%-cue values
  drift together and on some seeds many units test optimistic, or
  pessimistic, at once); after ``probability_burn_in_trials`` trials its value table is read
  every ``probability_snapshot_every`` trials, ``probability_trials_per_cue``
  times.  Trial k's response to cue c is the cue prediction error at snapshot k,
  scaled by the unit's asymmetry, plus noise -- so the responses carry the
  values' own learning fluctuations, as responses recorded over a session would.
  """
  task = dt.VariableProbability()
  n = settings.probability_units
  if kind == "distributional":
    population = dtd.make_population(
        n, "expectile", step_size=settings.probability_step_size
    )
  elif kind == "classical":
    population = dtd.make_population(
        n,
        "classical",
        jax.random.fold_in(key, 1),
        step_size=settings.probability_step_size,
        step_size_noise=settings.classical_step_size_noise,
    )
  else:
    raise ValueError(
        f"kind must be 'distributional' or 'classical', got {kind!r}"
    )
  every = settings.probability_snapshot_every
  num_snapshots = settings.probability_trials_per_cue + -(
      -settings.probability_burn_in_trials // every
  )
  history = _independent_histories(
      task,
      population,
      num_snapshots * every,
      every,
      jax.random.split(jax.random.fold_in(key, 2), n),
  )
  history = history[-settings.probability_trials_per_cue :]  # (T, N, S)
  cues = [task.cue_state(c) for c in range(task.num_lines)]
  errors = jax.vmap(lambda v: dtd.cue_prediction_errors(v, cues))(
      history
  )  # (T, N, 3)
  errors = jnp.transpose(errors, (1, 2, 0)).reshape(n, -1)  # (N, 3 T)
  noise = settings.probability_response_noise * task.reward_magnitude
  responses = dtd.trial_responses(
      population, errors, 1, jax.random.fold_in(key, 3), response_noise=noise
  )
  return population, np.asarray(responses, np.float64).reshape(
      n, task.num_lines, -1
  )


def run_probability_task(
    key: jax.Array, settings: Settings
) -> tuple[dict[str, Any], dict[str, Any]]:
  """Fractions of optimistic / pessimistic / interpolating units, both
  populations, over ``probability_experiments`` independent simulated
  recordings (the first one's are plotted).

  ``fraction_*`` / ``classical_fraction_*``: means over the recordings;
  ``per_experiment``: every recording's; ``classical_max_fraction_*``: the
  classical control's worst recording (it should find no optimistic and no
  pessimistic units beyond the test's false positives, on every one).
  """
  task = dt.VariableProbability()
  order = np.argsort(task.reward_probabilities)  # 10%, 50%, 90% -> lines
  labels = ("optimistic", "pessimistic", "interpolating", "undetermined")
  per: dict[str, list[float]] = {}
  plot: dict[str, Any] = {}
  for e in range(settings.probability_experiments):
    experiment_key = key if e == 0 else jax.random.fold_in(key, 1000 + e)
    for i, kind in enumerate(("distributional", "classical")):
      population, responses = simulate_probability_cue_responses(
          kind, jax.random.fold_in(experiment_key, i), settings
      )
      r10, r50, r90 = (responses[:, order[j]] for j in range(3))
      result = da.classify_probability_cue_units(r50, r10, r90)
      prefix = "" if kind == "distributional" else "classical_"
      for label in labels:
        per.setdefault(f"{prefix}fraction_{label}", []).append(
            float(np.mean(result.labels == label))
        )
      if e == 0:
        plot[kind] = dict(
            responses=np.stack([r10, r50, r90], axis=1),
            labels=result.labels,
            contrast=result.contrast,
            taus=np.asarray(population.taus),
        )
  summary: dict[str, Any] = {
      "cue_probabilities": [task.reward_probabilities[i] for i in order]
  }
  summary.update({name: float(np.mean(v)) for name, v in per.items()})
  for label in ("optimistic", "pessimistic"):
    summary[f"classical_max_fraction_{label}"] = float(
        np.max(per[f"classical_fraction_{label}"])
    )
    summary[f"min_fraction_{label}"] = float(np.min(per[f"fraction_{label}"]))
  summary["per_experiment"] = per
  summary["num_experiments"] = settings.probability_experiments
  summary["num_units"] = settings.probability_units
  summary["trials_per_cue"] = settings.probability_trials_per_cue
  summary["notes"] = (
      "every unit learns from its own trial sequence (independent cues and "
      "rewards per unit); one response per cue at each of trials_per_cue "
      "value snapshots, probability_snapshot_every learning trials apart. "
      "A unit is optimistic (pessimistic) if its 50%-cue response exceeds "
      "(falls below) the mean of its 10% and 90% responses, Welch t test, "
      "p < 0.05 two-sided: the classical control's expected rate is 2.5% "
      "per side."
  )
  return summary, plot
