"""Temporally delayed linear modelling (TDLM): sequenceness of a state stream.

Liu, Dolan, Kurth-Nelson & Behrens 2019, "Human replay spontaneously
reorganizes experience" (Cell), Methods "Sequenceness measure"; Liu et al.
2021, "Temporally delayed linear modelling (TDLM) measures replay in both
animals and humans" (eLife), whose equations these are.

Input: X [T, n], the time course of each of n states (decoded reactivation
probabilities in MEG; here a one-hot replayed-state stream, optionally with
Gaussian noise added to mimic decoding, see `noisy_one_hot`), and a
hypothesised transition matrix T_F [n, n] (T_F[i, j] = 1 when j follows i).

1. First level, one regression per lag dt (`empirical_transitions`):
     X(t) = X(t - dt) B(dt) + c + noise,
   solved by least squares over all n lagged states at once plus a constant
   (Liu et al.'s code regresses each lag separately like this), giving the
   empirical transition matrix B(dt) [n, n]: how much state i at t - dt
   predicts state j at t.
2. Second level (`sequenceness`): vec(B(dt)) = Z beta(dt) + noise with the
   design Z = [vec(T_F), vec(T_B), vec(I), vec(1)], T_B = T_F^T. The first
   two coefficients are forward and backward sequenceness S_F(dt), S_B(dt);
   the self-transition and constant regressors absorb auto-correlation and
   mean. "Forward minus backward" is S_F - S_B (positive: forward replay).
3. Significance (`permutation_test`, `group_permutation_test` for the mean
   over several streams, e.g. seeds as Liu et al.'s subjects): the same
   second level with the state
   labels of T_F permuted (only permutations whose transitions share none
   with T_F or T_B, i.e. not the true order in either direction); for each
   permutation the maximum over lags of |S(dt)|; the threshold is the 95th
   percentile of those maxima (Liu et al. 2019's peak-level permutation
   threshold, which controls for multiple comparisons over lags). A lag is
   significant when |S(dt)| exceeds it.

Everything here is numpy (an analysis of recorded streams, not part of a
compiled learner). Randomness comes from an explicit numpy Generator seed.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np


def transition_matrix(
    sequences: list[list[int]], num_states: int
) -> np.ndarray:
  """T_F [n, n] with T_F[i, j] = 1 for every consecutive (i, j) of a sequence."""
  matrix = np.zeros((num_states, num_states))
  for sequence in sequences:
    for state, next_state in zip(sequence[:-1], sequence[1:]):
      matrix[state, next_state] = 1.0
  return matrix


def noisy_one_hot(
    states: np.ndarray, num_states: int, noise_std: float, seed: int
) -> np.ndarray:
  """One-hot stream [T, n] of `states` (-1 = no state), plus N(0, std^2).

  The additive Gaussian noise mimics the imperfect state decoding of MEG
  (Liu et al. decode each picture with a lasso classifier); with std 0 the
  stream is the exact one-hot replayed-state sequence.
  """
  states = np.asarray(states)
  stream = np.zeros((states.shape[0], num_states))
  rows = np.nonzero(states >= 0)[0]
  stream[rows, states[rows]] = 1.0
  if noise_std > 0:
    rng = np.random.default_rng(seed)
    stream = stream + noise_std * rng.standard_normal(stream.shape)
  return stream


def empirical_transitions(stream: np.ndarray, max_lag: int) -> np.ndarray:
  """First level: B [max_lag, n, n], B[dt-1][i, j] = effect of i at t-dt on j at t."""
  stream = np.asarray(stream, dtype=np.float64)
  num_steps, num_states = stream.shape
  if max_lag < 1 or max_lag >= num_steps - 1:
    raise ValueError(f"max_lag must be in [1, {num_steps - 2}], got {max_lag}")
  betas = np.zeros((max_lag, num_states, num_states))
  for lag in range(1, max_lag + 1):
    design = np.concatenate(
        [stream[:-lag], np.ones((num_steps - lag, 1))], axis=1
    )
    coefficients = np.linalg.pinv(design) @ stream[lag:]
    betas[lag - 1] = coefficients[:-1]
  return betas


def _second_level_design(forward: np.ndarray) -> np.ndarray:
  num_states = forward.shape[0]
  return np.stack(
      [
          forward.ravel(),
          forward.T.ravel(),
          np.eye(num_states).ravel(),
          np.ones(num_states * num_states),
      ],
      axis=1,
  )


def sequenceness_from_betas(
    betas: np.ndarray, forward: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
  """Second level: (S_F, S_B), each [max_lag], of first-level `betas`."""
  design = _second_level_design(np.asarray(forward, dtype=np.float64))
  flat = betas.reshape(betas.shape[0], -1).T  # [n^2, max_lag]
  coefficients = np.linalg.pinv(design) @ flat  # [4, max_lag]
  return coefficients[0], coefficients[1]


@dataclasses.dataclass(frozen=True)
class Sequenceness:
  """Sequenceness at lags 1..max_lag and its permutation thresholds."""

  lags: np.ndarray  # [max_lag] in time bins
  forward: np.ndarray  # S_F
  backward: np.ndarray  # S_B
  difference: np.ndarray  # S_F - S_B
  threshold_forward: float  # 95th pct of permutation max_lag |S_F|
  threshold_backward: float
  threshold_difference: float

  def peak_lag(self) -> int:
    """The lag (bins) of the largest |S_F - S_B|."""
    return int(self.lags[np.argmax(np.abs(self.difference))])

  def significant(self, which: str = "difference") -> np.ndarray:
    """Boolean [max_lag]: |S(dt)| above its permutation threshold."""
    values = getattr(self, which)
    return np.abs(values) > getattr(self, f"threshold_{which}")

  def direction(self) -> str:
    """'forward', 'backward' or 'none' from the significant S_F - S_B lags."""
    significant = self.significant("difference")
    if not significant.any():
      return "none"
    peak = np.argmax(np.where(significant, np.abs(self.difference), -1.0))
    return "forward" if self.difference[peak] > 0 else "backward"

  def as_dict(self) -> dict:
    return {
        "lags": self.lags.tolist(),
        "forward": self.forward.tolist(),
        "backward": self.backward.tolist(),
        "difference": self.difference.tolist(),
        "threshold_forward": self.threshold_forward,
        "threshold_backward": self.threshold_backward,
        "threshold_difference": self.threshold_difference,
        "peak_lag": self.peak_lag(),
        "direction": self.direction(),
    }


def control_permutations(
    hypotheses: list[np.ndarray], num_permutations: int, seed: int
) -> list[np.ndarray]:
  """State-label permutations sharing no transition with any T_F or T_B.

  A permutation p relabels a hypothesis as T_F[p][:, p]; it is a control
  when, for every hypothesis given, the relabelled matrix has none of the
  hypothesis's forward or backward transitions (it is not the true order in
  either direction). All such permutations when there are at most
  `num_permutations` (enumerated for n <= 8), otherwise that many drawn
  uniformly at random.
  """
  forwards = [np.asarray(h) > 0 for h in hypotheses]
  num_states = forwards[0].shape[0]

  def controls_among(candidates):
    ok = np.ones(len(candidates), bool)
    for forward in forwards:
      either = forward | forward.T
      permuted = forward[candidates[:, :, None], candidates[:, None, :]]
      ok &= ~(permuted & either).any(axis=(1, 2))
    return candidates[ok]

  rng = np.random.default_rng(seed)
  if num_states <= 8:
    controls = controls_among(
        np.asarray(list(itertools.permutations(range(num_states))))
    )
  else:
    controls = controls_among(
        np.stack(
            [rng.permutation(num_states) for _ in range(100 * num_permutations)]
        )
    )
  if len(controls) > num_permutations:
    controls = controls[
        rng.choice(len(controls), num_permutations, replace=False)
    ]
  return list(controls)


def group_permutation_test(
    streams: list[np.ndarray],
    hypotheses: list[np.ndarray],
    max_lag: int,
    num_permutations: int = 200,
    seed: int = 0,
    percentile: float = 95.0,
) -> tuple[Sequenceness, list[Sequenceness]]:
  """Sequenceness averaged over streams (subjects, seeds), with thresholds.

  Each stream has its own hypothesis (e.g. its own experienced order). As in
  Liu et al., the threshold is the `percentile` of, over control
  permutations, the maximum over lags of the |group-mean| sequenceness
  obtained when every hypothesis is relabelled by the same permutation.
  Returns the group result and each stream's own (without thresholds).
  """
  if len(streams) != len(hypotheses) or not streams:
    raise ValueError("give one hypothesis per stream (and >= 1 stream)")
  betas = [empirical_transitions(x, max_lag) for x in streams]
  for x, h in zip(streams, hypotheses):
    if np.shape(h) != (x.shape[1], x.shape[1]):
      raise ValueError(
          f"hypothesis shape {np.shape(h)} does not match "
          f"{x.shape[1]} states"
      )

  flat = np.stack([b.reshape(max_lag, -1).T for b in betas])  # [N, n^2, lag]
  base = np.stack([np.asarray(h, np.float64) for h in hypotheses])

  def sequenceness_per_stream(permutations):
    """[P, N, lag] S_F and S_B with every hypothesis relabelled by p."""
    permuted = base[:, permutations[:, :, None], permutations[:, None, :]]
    permuted = np.moveaxis(permuted, 1, 0)  # [P, N, n, n]
    designs = np.stack(
        [
            permuted.reshape(*permuted.shape[:2], -1),
            np.swapaxes(permuted, -1, -2).reshape(*permuted.shape[:2], -1),
            np.broadcast_to(
                np.eye(num_states).ravel(),
                permuted.shape[:2] + (num_states**2,),
            ),
            np.ones(permuted.shape[:2] + (num_states**2,)),
        ],
        axis=-1,
    )
    coefficients = np.einsum("pnkq,nql->pnkl", np.linalg.pinv(designs), flat)
    return coefficients[:, :, 0], coefficients[:, :, 1]

  num_states = base.shape[-1]
  identity = np.arange(num_states)[None]
  s_forward, s_backward = (x[0] for x in sequenceness_per_stream(identity))
  controls = control_permutations(hypotheses, num_permutations, seed)
  if controls:
    p_forward, p_backward = sequenceness_per_stream(np.stack(controls))
    p_forward, p_backward = p_forward.mean(1), p_backward.mean(1)  # [P, lag]
    maxima = {
        "forward": np.abs(p_forward).max(-1),
        "backward": np.abs(p_backward).max(-1),
        "difference": np.abs(p_forward - p_backward).max(-1),
    }
    thresholds = {
        k: float(np.percentile(v, percentile)) for k, v in maxima.items()
    }
  else:
    thresholds = {k: np.inf for k in ("forward", "backward", "difference")}
  lags = np.arange(1, max_lag + 1)
  group = Sequenceness(
      lags=lags,
      forward=s_forward.mean(0),
      backward=s_backward.mean(0),
      difference=(s_forward - s_backward).mean(0),
      threshold_forward=thresholds["forward"],
      threshold_backward=thresholds["backward"],
      threshold_difference=thresholds["difference"],
  )
  each = [
      Sequenceness(
          lags=lags,
          forward=f,
          backward=r,
          difference=f - r,
          threshold_forward=np.inf,
          threshold_backward=np.inf,
          threshold_difference=np.inf,
      )
      for f, r in zip(s_forward, s_backward)
  ]
  return group, each


def permutation_test(
    stream: np.ndarray,
    forward: np.ndarray,
    max_lag: int,
    num_permutations: int = 200,
    seed: int = 0,
    percentile: float = 95.0,
) -> Sequenceness:
  """Sequenceness of one `stream` under hypothesis `forward`, thresholded."""
  group, _ = group_permutation_test(
      [stream], [forward], max_lag, num_permutations, seed, percentile
  )
  return group
