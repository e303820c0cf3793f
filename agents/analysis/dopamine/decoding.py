"""Decoding a reward distribution from cells' (tau, reversal point) pairs by
expectile imputation (Rowland et al. 2019, as Dabney et al. 2020 did), and
the utility <-> microlitre maps it needs (items 4 and 5 of the package
docstring). The imputation objective is
`agents.lib.distributional.expectile_imputation_loss`, the one ER-DQN's
imputer minimises too.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize

from agents.lib import distributional

# Decoding from all cells (``analyse_recordings(decode_all_cells=True)``):
# taus are clipped into [eps, 1 - eps] with eps = 0, the paper's clip to
# [0, 1].
DECODING_TAU_CLIP = 0.0

# ---------------------------------------------------------------------------
# 4. Utility <-> microlitres
# ---------------------------------------------------------------------------


def _piecewise_linear(
    x: distributional.ArrayLike,
    xp: np.ndarray,
    fp: np.ndarray,
    extrapolate: bool,
) -> np.ndarray:
  xp = np.asarray(xp, dtype=np.float64)
  fp = np.asarray(fp, dtype=np.float64)
  if xp.ndim != 1 or xp.shape != fp.shape or xp.size < 2:
    raise ValueError("axes must be 1-D of equal length >= 2")
  order = np.argsort(xp)
  xp, fp = xp[order], fp[order]
  if np.any(np.diff(xp) <= 0) or np.any(np.diff(fp) <= 0):
    raise ValueError("the mapping must be strictly monotone increasing")
  x = np.asarray(x, dtype=np.float64)
  y = np.interp(x, xp, fp)
  if extrapolate:
    lo_slope = (fp[1] - fp[0]) / (xp[1] - xp[0])
    hi_slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    y = np.where(x < xp[0], fp[0] + lo_slope * (x - xp[0]), y)
    y = np.where(x > xp[-1], fp[-1] + hi_slope * (x - xp[-1]), y)
  return y


def utility_to_microlitres(
    u: distributional.ArrayLike,
    utility_axis: distributional.ArrayLike,
    magnitudes_ul: distributional.ArrayLike,
    extrapolate: bool = True,
) -> np.ndarray:
  """Map utility-space values to microlitres, piecewise-linearly between the
  levels.

  ``utility_axis[j]`` is the utility of ``magnitudes_ul[j]``; both must increase
  together.  Beyond the ends the first / last segment is extended linearly
  (``extrapolate=True``; the result can then fall below 0 microlitres) or the
  value is clipped to the end magnitude (``extrapolate=False``).  NaN stays NaN.
  """
  return _piecewise_linear(
      u, np.asarray(utility_axis), np.asarray(magnitudes_ul), extrapolate
  )


def microlitres_to_utility(
    ul: distributional.ArrayLike,
    utility_axis: distributional.ArrayLike,
    magnitudes_ul: distributional.ArrayLike,
    extrapolate: bool = True,
) -> np.ndarray:
  """Inverse of :func:`utility_to_microlitres` (same piecewise-linear map, same
  ends)."""
  return _piecewise_linear(
      ul, np.asarray(magnitudes_ul), np.asarray(utility_axis), extrapolate
  )


# ---------------------------------------------------------------------------
# 5. Expectile imputation (Rowland et al. 2019)
# ---------------------------------------------------------------------------


class ImputedSamples(NamedTuple):
  """Imputed samples (best restart, or all runs pooled) and their
  :func:`expectile_imputation_loss` (in the units of the expectiles squared)."""

  samples: np.ndarray
  loss: float


@functools.partial(
    jax.jit,
    static_argnames=("num_samples", "num_restarts", "num_candidates", "steps"),
)
def _impute_normalised(
    key,
    taus,
    expectiles,
    lo,
    hi,
    init_lo,
    init_hi,
    learning_rate,
    *,
    num_samples,
    num_restarts,
    num_candidates,
    steps,
):
  """Projected Adam on the imputation loss, runs vmapped; expectiles already
  normalised.

  ``lo`` / ``hi``: the box (-inf / inf for an open end); initial sample sets are
  uniform on [init_lo, init_hi], the best of ``num_candidates`` starts each run.
  Returns every run's samples (R, N) and final loss (R,).
  """
  schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.01)
  optimiser = optax.adam(schedule)

  def loss_fn(z):
    return distributional.expectile_imputation_loss(z, taus, expectiles)

  def run_one(k):
    candidates = jax.random.uniform(
        k, (num_candidates, num_samples), minval=init_lo, maxval=init_hi
    )
    candidate_losses = jax.lax.map(
        loss_fn, candidates, batch_size=min(num_candidates, 100)
    )
    z0 = candidates[jnp.argmin(candidate_losses)]

    def step(carry, _):
      z, state = carry
      updates, state = optimiser.update(jax.grad(loss_fn)(z), state, z)
      z = optax.projections.projection_box(
          optax.apply_updates(z, updates), lo, hi
      )
      return (z, state), None

    (z, _), _ = jax.lax.scan(step, (z0, optimiser.init(z0)), None, length=steps)
    return z, loss_fn(z)

  return jax.vmap(run_one)(jax.random.split(key, num_restarts))


@functools.partial(
    jax.jit,
    static_argnames=("num_samples", "num_restarts", "num_candidates", "steps"),
)
def _impute_normalised_batch(
    keys,
    taus,
    expectiles,
    lo,
    hi,
    init_lo,
    init_hi,
    learning_rate,
    *,
    num_samples,
    num_restarts,
    num_candidates,
    steps,
):
  """:func:`_impute_normalised` vmapped over problems (leading axis of every
  argument but ``learning_rate``)."""
  one = functools.partial(
      _impute_normalised,
      num_samples=num_samples,
      num_restarts=num_restarts,
      num_candidates=num_candidates,
      steps=steps,
  )
  return jax.vmap(one, in_axes=(0, 0, 0, 0, 0, 0, 0, None))(
      keys, taus, expectiles, lo, hi, init_lo, init_hi, learning_rate
  )


def impute_expectile_samples_batch(
    taus: distributional.ArrayLike,
    expectiles: distributional.ArrayLike,
    keys: jax.Array,
    bounds: tuple[float, float],
    num_samples: int = 100,
    num_restarts: int = 10,
    num_candidates: int = 1000,
    steps: int = 2000,
    learning_rate: float = 0.05,
    chunk_size: int = 8,
) -> np.ndarray:
  """Pooled bounded imputation of many problems at once (vmapped).

  Row p of ``taus`` / ``expectiles`` (P, I) is decoded as
  :func:`impute_expectile_samples` does with ``key=keys[p]``, ``bounds``,
  ``pool=True`` (same normalisation, same random draws), ``chunk_size``
  problems per vmapped call (memory ~ chunk * restarts * 100 * samples * I
  floats).  For null distributions of a decoding: hundreds of populations.

  Returns:
    (P, num_restarts * num_samples) pooled samples per row, sorted.
  """
  taus = np.asarray(taus, dtype=np.float64)
  expectiles = np.asarray(expectiles, dtype=np.float64)
  if taus.ndim != 2 or taus.shape != expectiles.shape or taus.size == 0:
    raise ValueError("taus and expectiles must be non-empty (P, I) arrays")
  if not (np.all(np.isfinite(taus)) and np.all(np.isfinite(expectiles))):
    raise ValueError("taus and expectiles must be finite")
  if np.any((taus < 0) | (taus > 1)):
    raise ValueError("taus must lie in [0, 1]")
  lo, hi = float(bounds[0]), float(bounds[1])
  if not hi > lo:
    raise ValueError("bounds must satisfy lo < hi")
  if len(keys) != taus.shape[0]:
    raise ValueError("one key per row of taus")
  center = expectiles.mean(axis=1)
  scale = expectiles.std(axis=1)
  scale = np.where(scale > 0, scale, np.maximum(np.abs(center), 1.0))
  e_n = (expectiles - center[:, None]) / scale[:, None]
  lo_n, hi_n = (lo - center) / scale, (hi - center) / scale
  out = []
  for start in range(0, taus.shape[0], chunk_size):
    part = slice(start, start + chunk_size)
    samples, _ = _impute_normalised_batch(
        keys[part],
        jnp.asarray(taus[part], jnp.float32),
        jnp.asarray(e_n[part], jnp.float32),
        jnp.asarray(lo_n[part], jnp.float32),
        jnp.asarray(hi_n[part], jnp.float32),
        jnp.asarray(lo_n[part], jnp.float32),
        jnp.asarray(hi_n[part], jnp.float32),
        jnp.float32(learning_rate),
        num_samples=int(num_samples),
        num_restarts=int(num_restarts),
        num_candidates=int(num_candidates),
        steps=int(steps),
    )
    samples = np.asarray(samples, dtype=np.float64)  # (p, R, N)
    samples = samples * scale[part, None, None] + center[part, None, None]
    out.append(np.sort(np.clip(samples, lo, hi).reshape(len(samples), -1)))
  return np.concatenate(out, axis=0)


def impute_expectile_samples(
    taus: distributional.ArrayLike,
    expectiles: distributional.ArrayLike,
    num_samples: int = 100,
    key: jax.Array | int = 0,
    num_restarts: int = 16,
    bounds: tuple[float | None, float | None] | None = None,
    steps: int = 2000,
    learning_rate: float = 0.05,
    pool: bool = False,
    num_candidates: int = 1,
) -> ImputedSamples:
  """Samples whose expectiles at ``taus`` match ``expectiles`` (expectile
  imputation).

  Minimises :func:`expectile_imputation_loss` over z_1..z_N with Adam (optax;
  cosine-decayed learning rate, ``steps`` steps, jit-compiled ``lax.scan``) in
  ``num_restarts`` independent runs in parallel (``vmap``).  Each run starts
  from the best (lowest loss) of ``num_candidates`` random sample sets, drawn
  uniformly over ``bounds`` when both ends are given, else over the range of the
  expectiles widened by a quarter of it on each open side.  Bounds are a box on
  every sample: after each Adam step the samples are projected onto it
  (``optax.projections.projection_box``), the first-order analogue of the
  paper's box-constrained TNC.

  ``pool=False`` returns the run with the smallest final loss (N samples).
  ``pool=True`` returns the samples of all runs pooled (``num_restarts * N``,
  sorted), as the paper's decoding code does (``run_decoding``: 10 runs of 100
  samples, each from the best of 1000 random sets drawn over the bounds, pooled;
  that is ``num_restarts=10, num_candidates=1000, pool=True``, which
  :func:`decode_reward_distribution` uses).  With noisy expectiles (neurons) no
  sample set satisfies every condition and many different sets come close to the
  loss's floor; pooling averages over them instead of keeping whichever run
  happened to end lowest (see :func:`analyse_recordings` for what this does on
  the recordings).

  The problem is solved in normalised units (expectiles centred on their mean
  and divided by their standard deviation), so ``learning_rate`` does not depend
  on the units; the returned loss is in the original units (squared).

  Args:
    taus: (I,) asymmetries in [0, 1] (0 and 1: the minimum and the maximum).
    expectiles: (I,) the corresponding expectiles.
    num_samples: N, samples per run.
    key: a JAX PRNG key or an int seed.
    num_restarts: independent runs (vmapped).
    bounds: None (unbounded) or (lo, hi), either end may be None.
    steps: Adam steps per run.
    learning_rate: initial Adam learning rate in normalised units.
    pool: pool all runs' samples instead of keeping the best run.
    num_candidates: random initial sample sets per run; the best one starts the
      run.

  Returns:
    ImputedSamples(sorted samples, their :func:`expectile_imputation_loss`): the
    best run's, or (``pool``) the pool's.
  """
  taus = np.asarray(taus, dtype=np.float64).ravel()
  expectiles = np.asarray(expectiles, dtype=np.float64).ravel()
  if taus.shape != expectiles.shape or taus.size == 0:
    raise ValueError(
        "taus and expectiles must be non-empty and of equal length"
    )
  if not (np.all(np.isfinite(taus)) and np.all(np.isfinite(expectiles))):
    raise ValueError("taus and expectiles must be finite")
  if np.any((taus < 0) | (taus > 1)):
    raise ValueError("taus must lie in [0, 1]")
  if min(num_samples, num_restarts, num_candidates, steps) < 1:
    raise ValueError(
        "num_samples, num_restarts, num_candidates and steps must be >= 1"
    )
  if isinstance(key, (int, np.integer)):
    key = jax.random.key(int(key))
  center = float(expectiles.mean())
  scale = float(expectiles.std())
  if not scale > 0:
    scale = max(abs(center), 1.0)
  lo, hi = (None, None) if bounds is None else bounds
  if lo is not None and hi is not None and not hi > lo:
    raise ValueError("bounds must satisfy lo < hi")
  lo_n = -np.inf if lo is None else (lo - center) / scale
  hi_n = np.inf if hi is None else (hi - center) / scale
  e_n = (expectiles - center) / scale
  width = max(float(e_n.max() - e_n.min()), 1.0)
  init_lo = lo_n if lo is not None else float(e_n.min()) - 0.25 * width
  init_hi = hi_n if hi is not None else float(e_n.max()) + 0.25 * width
  if (
      hi is None
  ):  # an open top above a lower bound that lies over every expectile
    init_hi = max(init_hi, init_lo + width)
  if lo is None:
    init_lo = min(init_lo, init_hi - width)
  samples, losses = _impute_normalised(
      key,
      jnp.asarray(taus, jnp.float32),
      jnp.asarray(e_n, jnp.float32),
      jnp.float32(lo_n),
      jnp.float32(hi_n),
      jnp.float32(init_lo),
      jnp.float32(init_hi),
      jnp.float32(learning_rate),
      num_samples=int(num_samples),
      num_restarts=int(num_restarts),
      num_candidates=int(num_candidates),
      steps=int(steps),
  )
  samples = np.asarray(samples, dtype=np.float64) * scale + center
  if lo is not None or hi is not None:  # float round-off of the normalisation
    samples = np.clip(
        samples, -np.inf if lo is None else lo, np.inf if hi is None else hi
    )
  if pool:
    pooled = np.sort(samples.ravel())
    loss = float(
        distributional.expectile_imputation_loss(
            jnp.asarray(pooled), jnp.asarray(taus), jnp.asarray(expectiles)
        )
    )
    return ImputedSamples(pooled, loss)
  best = int(np.argmin(np.asarray(losses)))
  return ImputedSamples(np.sort(samples[best]), float(losses[best]) * scale**2)


def _numpy_generator(key: jax.Array | int) -> np.random.Generator:
  """A numpy Generator seeded from an int or a JAX PRNG key (same key, same
  draws)."""
  if isinstance(key, (int, np.integer)):
    return np.random.default_rng(int(key))
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  return np.random.default_rng(np.asarray(key, dtype=np.uint32).ravel())


def _paper_imputation_loss(
    samples: np.ndarray, taus: np.ndarray, expectiles: np.ndarray
) -> np.ndarray:
  """The paper's objective ``mean_i (mean_j 0.5 |tau_i - 1{z_j <= e_i}| (z_j -
  e_i))^2``.

  samples: (..., M) -> (...).  :func:`expectile_imputation_loss` / (4 I): same
  minimisers, but TNC's stopping tolerances are absolute, so the paper's scale
  is kept.
  """
  delta = samples[..., None, :] - expectiles[:, None]
  weight = np.where(delta <= 0.0, 1.0 - taus[:, None], taus[:, None])
  return np.mean((0.5 * np.mean(weight * delta, axis=-1)) ** 2, axis=-1)


def _paper_imputation_loss_and_grad(
    samples: np.ndarray, taus: np.ndarray, expectiles: np.ndarray
):
  """:func:`_paper_imputation_loss` of one sample set (M,) and its exact
  gradient."""
  delta = samples[None, :] - expectiles[:, None]
  weight = np.where(delta <= 0.0, 1.0 - taus[:, None], taus[:, None])
  condition = 0.5 * np.mean(weight * delta, axis=1)  # (I,)
  grad = np.mean(condition[:, None] * weight, axis=0) / samples.size
  return float(np.mean(condition**2)), grad


def impute_expectile_samples_tnc(
    taus: distributional.ArrayLike,
    expectiles: distributional.ArrayLike,
    num_samples: int = 100,
    key: jax.Array | int = 0,
    num_restarts: int = 10,
    num_candidates: int = 1000,
    bounds: tuple[float | None, float | None] | None = None,
) -> ImputedSamples:
  """The paper's decoding procedure, ported literally (numpy + scipy TNC): a
  cross-check.

  The reproduction decodes with :func:`impute_expectile_samples` (JAX + optax,
  runs pooled); this port of the paper's own optimiser checks that the choice of
  optimiser does not drive the result (summary key ``decoded_w1_ul_paper_tnc``
  of :mod:`agents.analysis.dabney2020`).

  Port of the decoding function of the paper's published analysis code
  (``run_decoding(reversal_points, taus, minv, maxv, method='TNC', max_samples,
  max_epochs, M)``): for each of ``num_restarts`` ("epochs") independent runs,
  ``num_candidates`` sets of ``num_samples`` samples are drawn uniformly over
  the bounds (``max_samples`` random initialisations), the set with the smallest
  objective starts a bounded truncated-Newton minimisation (``scipy.optimize``
  ``TNC``, box constraints on every sample), and the samples of all runs are
  pooled: ``num_restarts * num_samples`` samples.  The objective is the paper's
  scaling of :func:`expectile_imputation_loss` (see
  :func:`_paper_imputation_loss`). Defaults are the paper function's defaults
  (10 runs, 1000 candidates, 100 samples).

  TNC runs with scipy's default tolerances, as in the paper's call.  Differences
  from that call: the gradient is the exact one, and the random draws come from
  ``key`` (numpy, so not the draws of :func:`impute_expectile_samples`).
  The paper passed no gradient, so scipy used finite differences (step 1e-8);
  TNC's Hessian-vector products, themselves differences of gradients, are then
  dominated by the gradients' rounding error and each run stops nearer its
  random start. That decodes the recordings to W1 ~1.45 ul instead of ~1.70, and
  the simulated population to ~1.0 instead of ~1.4: lower, but hinging on
  rounding noise, so the exact gradient (same objective, same optimiser) is
  used.  An open end of ``bounds`` is not constrained in the minimisation; its
  initial draws then start at the extreme expectile.

  Args:
    taus: (I,) asymmetries in [0, 1] (the paper clips them to [0, 1]).
    expectiles: (I,) the corresponding expectiles.
    num_samples: M, samples per run.
    key: a JAX PRNG key or an int seed.
    num_restarts: runs whose samples are pooled (the paper's ``max_epochs``).
    num_candidates: random initial sample sets per run (the paper's
      ``max_samples``).
    bounds: None or (lo, hi), either end may be None.

  Returns:
    ImputedSamples(sorted pooled samples, :func:`expectile_imputation_loss` of
    the pool).
  """
  taus = np.asarray(taus, dtype=np.float64).ravel()
  expectiles = np.asarray(expectiles, dtype=np.float64).ravel()
  if taus.shape != expectiles.shape or taus.size == 0:
    raise ValueError(
        "taus and expectiles must be non-empty and of equal length"
    )
  if not (np.all(np.isfinite(taus)) and np.all(np.isfinite(expectiles))):
    raise ValueError("taus and expectiles must be finite")
  if np.any((taus < 0) | (taus > 1)):
    raise ValueError("taus must lie in [0, 1]")
  if num_samples < 1 or num_restarts < 1 or num_candidates < 1:
    raise ValueError(
        "num_samples, num_restarts and num_candidates must be >= 1"
    )
  lo, hi = (None, None) if bounds is None else bounds
  if lo is not None and hi is not None and not hi > lo:
    raise ValueError("bounds must satisfy lo < hi")
  init_lo = float(expectiles.min()) if lo is None else float(lo)
  init_hi = float(expectiles.max()) if hi is None else float(hi)
  if not init_hi > init_lo:
    init_lo, init_hi = init_lo - 0.5, init_hi + 0.5
  order = np.argsort(
      expectiles, kind="stable"
  )  # as the paper's code (no effect on the objective)
  taus, expectiles = taus[order], expectiles[order]
  rng = _numpy_generator(key)
  box = None if bounds is None else [(lo, hi)] * int(num_samples)
  pooled = []
  for _ in range(int(num_restarts)):
    best_loss, best = np.inf, None
    for start in range(
        0, int(num_candidates), 256
    ):  # chunks: same draws, bounded memory
      candidates = rng.uniform(
          init_lo,
          init_hi,
          size=(min(256, int(num_candidates) - start), int(num_samples)),
      )
      losses = _paper_imputation_loss(candidates, taus, expectiles)
      if losses.min() < best_loss:
        best_loss, best = float(losses.min()), candidates[np.argmin(losses)]
    result = scipy.optimize.minimize(
        _paper_imputation_loss_and_grad,
        np.sort(best),
        args=(taus, expectiles),
        jac=True,
        method="TNC",
        bounds=box,
    )
    samples = result.x
    if bounds is not None:  # TNC keeps the box; clip float round-off
      samples = np.clip(
          samples, -np.inf if lo is None else lo, np.inf if hi is None else hi
      )
    pooled.append(samples)
  pooled = np.sort(np.concatenate(pooled))
  loss = (
      4.0 * taus.size * float(_paper_imputation_loss(pooled, taus, expectiles))
  )
  return ImputedSamples(pooled, loss)


def decode_reward_distribution(
    taus: np.ndarray,
    reversals_ul: np.ndarray,
    num_samples: int = 100,
    key: jax.Array | int = 0,
    num_restarts: int = 10,
    num_candidates: int = 1000,
    bounds: tuple[float | None, float | None] | None = None,
    tau_clip: float | None = None,
    steps: int = 2000,
    method: str = "adam",
) -> tuple[ImputedSamples, np.ndarray]:
  """Expectile imputation from cells' (tau, reversal point in microlitres)
  pairs.

  The paper's decoding procedure: ``num_restarts`` runs of ``num_samples``
  samples, each started from the best of ``num_candidates`` random sample sets
  drawn over the bounds, the samples of all runs pooled.  ``method="adam"`` (the
  reproduction's): :func:`impute_expectile_samples` with ``pool=True`` (JAX +
  optax, projected Adam, ``steps`` steps); ``method="tnc"``:
  :func:`impute_expectile_samples_tnc`, the literal port of the paper's code
  (scipy's bounded TNC), kept as a cross-check. Cells with a non-finite tau or
  reversal, or a tau outside [0, 1] (a negative slope), cannot be read as
  expectiles and are left out; returns the imputation and the boolean mask of
  the cells used.  ``bounds``: None or (lo, hi), either end may be None.
  ``tau_clip=eps`` first clips finite taus into [eps, 1 - eps], so a cell whose
  tau left [0, 1] enters at the nearest end instead of being dropped; the
  paper's decoding code clips the asymmetries to [0, 1], i.e. ``tau_clip=0``
  (:data:`DECODING_TAU_CLIP`).
  """
  if method not in ("adam", "tnc"):
    raise ValueError(f"method must be 'adam' or 'tnc', got {method!r}")
  taus = np.asarray(taus, dtype=np.float64)
  reversals_ul = np.asarray(reversals_ul, dtype=np.float64)
  if tau_clip is not None:
    if not 0.0 <= tau_clip < 0.5:
      raise ValueError(f"tau_clip must lie in [0, 0.5), got {tau_clip}")
    taus = np.where(
        np.isfinite(taus), np.clip(taus, tau_clip, 1.0 - tau_clip), taus
    )
  used = (
      np.isfinite(taus) & np.isfinite(reversals_ul) & (taus >= 0) & (taus <= 1)
  )
  if method == "tnc":
    result = impute_expectile_samples_tnc(
        taus[used],
        reversals_ul[used],
        num_samples,
        key,
        num_restarts=num_restarts,
        num_candidates=num_candidates,
        bounds=bounds,
    )
  else:
    result = impute_expectile_samples(
        taus[used],
        reversals_ul[used],
        num_samples,
        key,
        num_restarts=num_restarts,
        bounds=bounds,
        steps=steps,
        pool=True,
        num_candidates=num_candidates,
    )
  return result, used
