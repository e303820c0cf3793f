"""Iteratively refitted time-varying linear-Gaussian dynamics, the model of
Gu et al. 2016 ("Continuous deep Q-learning with model-based acceleration",
ICML, Section 5.2), after Levine & Abbeel 2014 ("Learning neural network
policies with guided policy search under unknown dynamics", NIPS).

Per time step t of an episode (t < `num_time_steps`; later steps share the
last slice):

  x_{t+1} ~ N(A_t x_t + B_t u_t + c_t, Sigma_t)                      (GPS eq.)

fitted by conditioning a joint Gaussian over z = [x_t, u_t, x_{t+1}] whose
parameters have a normal-inverse-Wishart prior centred on the POOLED fit
(all time steps together):

  mu_t    = (w_t m_t + n0 mu_0) / (w_t + n0)
  S_t     = (w_t C_t + n0 S_0 + w_t n0 / (w_t + n0) (m_t - mu_0)(m_t - mu_0)^T)
            / (w_t + n0)
  [A_t B_t] = S_t[y, xu] S_t[xu, xu]^-1,   c_t = mu_t[y] - [A_t B_t] mu_t[xu],
  Sigma_t = S_t[y, y] - [A_t B_t] S_t[xu, y]                 (y = x_{t+1})

where (w_t, m_t, C_t) are the weight, mean and covariance of the data at
step t and (mu_0, S_0) those of all the data; n0 = `prior_strength`
pseudo-transitions. Levine & Abbeel's prior is a Gaussian mixture over
(x, u, x') fitted to all the data; we use its one-component case, the
pooled Gaussian: a slice with little data falls back to the one global
linear model, a slice with much data is its own local fit, and no EM is
needed inside the compiled learner (a mixture would localise the prior in
state space too, which matters for tasks whose episodes start far apart).

"Recent real episodes": the data enter as exponentially forgotten
sufficient statistics (sum w, sum w z, sum w z z^T per step), updated as
real transitions are added: every added item scales the old statistics by
exp(-1 / memory_steps), so the fit weighs about the last `memory_steps`
real transitions (the paper refits from the last episodes' buffer). The fit
is recomputed from the statistics at every learn call ("iteratively
refitted").

Rewards: a ridge regression on quadratic features of (x, u) (the local
quadratic cost model of iLQG-style methods), pooled over time steps and
forgotten the same way; the paper used the task's true reward function,
which the replay package, task-agnostic, does not see. Terminals: the
forgotten per-step frequency of discount-0 transitions (with the pooled
frequency as prior, same n0), drawn as a Bernoulli.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
from flax import struct

# Added to every covariance before it is inverted or factored.
_COVARIANCE_FLOOR = 1e-6


@struct.dataclass
class LinearGaussianStatistics:
  weight: chex.Array  # [K] sum of weights per time step
  first: chex.Array  # [K, dz] sum w z
  second: chex.Array  # [K, dz, dz] sum w z z^T
  terminal: chex.Array  # [K] sum w [discount == 0]
  feature_second: chex.Array  # [F, F] sum w phi phi^T (reward regression)
  feature_reward: chex.Array  # [F] sum w phi r


@struct.dataclass
class LinearGaussianFit:
  a: chex.Array  # [K, dx, dx]
  b: chex.Array  # [K, dx, du]
  c: chex.Array  # [K, dx]
  covariance: chex.Array  # [K, dx, dx] Sigma_t
  terminal_probability: chex.Array  # [K]
  reward_weights: chex.Array  # [F]


@struct.dataclass
class LinearGaussianState:
  statistics: LinearGaussianStatistics
  fit: LinearGaussianFit


def quadratic_features(x: chex.Array, u: chex.Array) -> chex.Array:
  """[n, dx], [n, du] -> [n, F]: 1, v and the upper triangle of v v^T with
  v = [x, u]."""
  v = jnp.concatenate([x, u], axis=-1)
  rows, cols = jnp.triu_indices(v.shape[-1])
  outer = v[:, rows] * v[:, cols]
  return jnp.concatenate([jnp.ones_like(v[:, :1]), v, outer], axis=-1)


def _num_features(size: int) -> int:
  return 1 + size + size * (size + 1) // 2


@dataclasses.dataclass(frozen=True)
class LinearGaussianModel:
  """Attributes:
  observation_size: dx (observations are flattened).
  action_size: du.
  num_time_steps: K, the time-varying slices (steps t >= K use slice K-1).
  memory_steps: real transitions the statistics remember (1/e forgetting).
  prior_strength: n0, pseudo-transitions of the pooled prior in each slice.
  reward_ridge: the reward regression's ridge penalty (on features scaled
    to unit second moment).
  sample_noise: draw x' ~ N(mean, Sigma_t) (the fitted model); False: the
    mean A_t x + B_t u + c_t.
  """

  observation_size: int
  action_size: int
  num_time_steps: int = 200
  memory_steps: float = 20_000.0
  prior_strength: float = 10.0
  reward_ridge: float = 1e-3
  sample_noise: bool = True

  @property
  def joint_size(self) -> int:
    return 2 * self.observation_size + self.action_size

  @property
  def num_features(self) -> int:
    return _num_features(self.observation_size + self.action_size)

  def init(self, key: chex.PRNGKey | None = None) -> LinearGaussianState:
    del key  # nothing random
    k, dz, f = self.num_time_steps, self.joint_size, self.num_features
    dx, du = self.observation_size, self.action_size
    statistics = LinearGaussianStatistics(
        weight=jnp.zeros((k,), jnp.float32),
        first=jnp.zeros((k, dz), jnp.float32),
        second=jnp.zeros((k, dz, dz), jnp.float32),
        terminal=jnp.zeros((k,), jnp.float32),
        feature_second=jnp.zeros((f, f), jnp.float32),
        feature_reward=jnp.zeros((f,), jnp.float32),
    )
    fit = LinearGaussianFit(
        a=jnp.broadcast_to(jnp.eye(dx, dtype=jnp.float32), (k, dx, dx)),
        b=jnp.zeros((k, dx, du), jnp.float32),
        c=jnp.zeros((k, dx), jnp.float32),
        covariance=jnp.broadcast_to(
            _COVARIANCE_FLOOR * jnp.eye(dx, dtype=jnp.float32), (k, dx, dx)
        ),
        terminal_probability=jnp.zeros((k,), jnp.float32),
        reward_weights=jnp.zeros((f,), jnp.float32),
    )
    return LinearGaussianState(statistics=statistics, fit=fit)

  def _slice(self, time: chex.Array) -> chex.Array:
    return jnp.clip(time, 0, self.num_time_steps - 1).astype(jnp.int32)

  def observe(
      self, state: LinearGaussianState, items: dict[str, chex.Array]
  ) -> LinearGaussianState:
    """Forgets, then adds a batch [n] of real items (with their `time`)."""
    x = _flat(items["observation"])
    y = _flat(items["next_observation"])
    u = items["action"].astype(jnp.float32).reshape(x.shape[0], -1)
    chex.assert_shape(u, (x.shape[0], self.action_size))
    w = items["valid"].astype(jnp.float32)
    z = jnp.concatenate([x, u, y], axis=-1)
    slot = self._slice(items["time"])
    k = self.num_time_steps
    one_hot = jax.nn.one_hot(slot, k, dtype=jnp.float32) * w[:, None]  # [n,K]
    terminal = (items["discount"] == 0).astype(jnp.float32)
    phi = quadratic_features(x, u)
    s = state.statistics
    keep = jnp.exp(-x.shape[0] / self.memory_steps)
    statistics = LinearGaussianStatistics(
        weight=keep * s.weight + jnp.sum(one_hot, 0),
        first=keep * s.first + one_hot.T @ z,
        second=keep * s.second + jnp.einsum("nk,ni,nj->kij", one_hot, z, z),
        terminal=keep * s.terminal + one_hot.T @ terminal,
        feature_second=keep * s.feature_second + (phi * w[:, None]).T @ phi,
        feature_reward=keep * s.feature_reward
        + (phi * w[:, None]).T @ items["reward"].astype(jnp.float32),
    )
    return state.replace(statistics=statistics)

  def fit(self, statistics: LinearGaussianStatistics) -> LinearGaussianFit:
    """The per-step posterior fit (module docstring) from the statistics."""
    dx, du = self.observation_size, self.action_size
    dxu = dx + du
    eye = jnp.eye(self.joint_size, dtype=jnp.float32)
    total = jnp.sum(statistics.weight)
    safe_total = jnp.maximum(total, 1e-8)
    mu0 = jnp.sum(statistics.first, 0) / safe_total
    s0 = jnp.sum(statistics.second, 0) / safe_total - jnp.outer(mu0, mu0)
    s0 = 0.5 * (s0 + s0.T) + _COVARIANCE_FLOOR * eye
    p0 = jnp.sum(statistics.terminal) / safe_total
    n0 = self.prior_strength

    def one_slice(w, first, second, terminal):
      safe_w = jnp.maximum(w, 1e-8)
      m = first / safe_w
      cov = second / safe_w - jnp.outer(m, m)
      d = m - mu0
      mu = (w * m + n0 * mu0) / (w + n0)
      sigma = (w * cov + n0 * s0 + (w * n0 / (w + n0)) * jnp.outer(d, d)) / (
          w + n0
      )
      sigma = 0.5 * (sigma + sigma.T) + _COVARIANCE_FLOOR * eye
      s_xx, s_xy = sigma[:dxu, :dxu], sigma[:dxu, dxu:]
      gain = jax.scipy.linalg.solve(s_xx, s_xy, assume_a="pos").T  # [dx,dxu]
      c = mu[dxu:] - gain @ mu[:dxu]
      dyn = sigma[dxu:, dxu:] - gain @ s_xy
      dyn = 0.5 * (dyn + dyn.T)
      # float32 cancellation can leave tiny negative eigenvalues
      eigenvalues, vectors = jnp.linalg.eigh(dyn)
      dyn = (vectors * jnp.maximum(eigenvalues, _COVARIANCE_FLOOR)) @ vectors.T
      p = (terminal + n0 * p0) / (w + n0)
      return gain[:, :dx], gain[:, dx:], c, dyn, p

    a, b, c, covariance, p = jax.vmap(one_slice)(
        statistics.weight,
        statistics.first,
        statistics.second,
        statistics.terminal,
    )
    # Jacobi-scaled ridge solve: the quartic features span ~8 orders of
    # magnitude (Pendulum's thdot^4 ~ 4e3 against 1), which float32 cannot
    # solve unscaled.
    f = self.num_features
    scale = jnp.sqrt(jnp.maximum(jnp.diagonal(statistics.feature_second), 1e-8))
    scaled = statistics.feature_second / jnp.outer(scale, scale)
    reward_weights = (
        jax.scipy.linalg.solve(
            scaled + self.reward_ridge * jnp.eye(f, dtype=jnp.float32),
            statistics.feature_reward / scale,
            assume_a="pos",
        )
        / scale
    )
    return LinearGaussianFit(
        a=a,
        b=b,
        c=c,
        covariance=covariance,
        terminal_probability=p,
        reward_weights=reward_weights,
    )

  def learn(
      self, state: LinearGaussianState, items: dict[str, chex.Array]
  ) -> tuple[LinearGaussianState, dict[str, chex.Array]]:
    """Refits from the statistics (the items were observed in `add`; they
    are only used to measure the refitted model's one-step error)."""
    state = state.replace(fit=self.fit(state.statistics))
    return state, dict(model_error=self.one_step_error(state, items))

  def one_step_error(
      self, state: LinearGaussianState, items: dict[str, chex.Array]
  ) -> chex.Array:
    """Mean over valid items of |x' - E[x'|x, u, t]|^2 / dx."""
    x = _flat(items["observation"])
    u = items["action"].astype(jnp.float32).reshape(x.shape[0], -1)
    mean = self.mean(state, x, u, items["time"])
    error = jnp.mean((_flat(items["next_observation"]) - mean) ** 2, -1)
    valid = items["valid"]
    return jnp.sum(valid * error) / jnp.maximum(jnp.sum(valid), 1.0)

  def mean(self, state: LinearGaussianState, x, u, time) -> chex.Array:
    """E[x_{t+1} | x_t, u_t] = A_t x + B_t u + c_t, for [n] items."""
    slot = self._slice(time)
    fit = state.fit
    return (
        jnp.einsum("nij,nj->ni", fit.a[slot], x)
        + jnp.einsum("nij,nj->ni", fit.b[slot], u)
        + fit.c[slot]
    )

  def predict(
      self,
      state: LinearGaussianState,
      key: chex.PRNGKey,
      observation: chex.Array,
      action: chex.Array,
      time: chex.Array,
  ):
    """(x' [n, ...], r [n], terminal bool [n]) drawn from the fitted model."""
    noise_key, terminal_key = jax.random.split(key)
    x = _flat(observation)
    u = action.astype(jnp.float32).reshape(x.shape[0], -1)
    slot = self._slice(time)
    scale = jnp.linalg.cholesky(state.fit.covariance[slot])  # [n, dx, dx]
    eps = jax.random.normal(noise_key, x.shape, jnp.float32)
    next_x = self.mean(state, x, u, time) + jnp.einsum("nij,nj->ni", scale, eps)
    reward = quadratic_features(x, u) @ state.fit.reward_weights
    terminal = jax.random.bernoulli(
        terminal_key, state.fit.terminal_probability[slot]
    )
    return next_x.reshape(observation.shape), reward, terminal


def _flat(x: chex.Array) -> chex.Array:
  return x.reshape(x.shape[0], -1).astype(jnp.float32)
