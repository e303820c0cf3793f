"""Models of the task that imagination replay (Dyna, Sutton 1991) learns from
its own replay and draws synthetic transitions from. Pure functions over
state pytrees, like the buffers.

`TabularCountsModel` (discrete tabular tasks; Sutton 1991's Dyna with a
stochastic, count-based model, as in Sutton & Barto 2018 Section 8.2):
  counts  n(s, a, s', z)  of observed transitions, z = 1 when s' ended the
          episode (discount 0), and the sums of their rewards R(s, a, s', z);
  sample  (s', z) ~ n(s, a, ., .) / n(s, a)   (the learned counts, exactly)
          r = R(s, a, s', z) / n(s, a, s', z) (that outcome's mean reward:
          the reward itself for a deterministic reward of (s, a, s')),
          discount = gamma (1 - z); `known` = n(s, a) > 0.
  States are indices: the task's observation is the index itself (an
  integer scalar) or a one-hot vector (read by argmax), see
  `StateEncoding`.

`NeuralModel` (deep agents): a small MLP f(s, a) on [flatten(s), onehot(a)]
  (or [flatten(s), a] for continuous actions, `action_size` > 0) predicts the next observation as s + Delta(s, a) (squared error), the
  reward (squared error) and the probability that s' ended the episode
  (sigmoid cross-entropy on z = [discount == 0]); all three losses are
  averaged over the valid items of a batch drawn from the same replay, one
  Adam step (its own optax optimizer and learning rate) per learn call.
  A generated item: s' = s + Delta(s, a) (rounded for integer
  observations), r = the predicted reward, discount = gamma (1 - z) with
  z ~ Bernoulli(predicted probability), valid = the valid flag of the real
  item its s came from.
  For continuous actions the model also serves the multi-step rollouts of
  `imagination` (Gu et al. 2016's neural-network model, their Section 5.1):
  `learn` (one Adam step on real items) and `predict` (s', r, z ~ its
  Bernoulli) share the interface of `linear_gaussian.LinearGaussianModel`.

`EnsembleModel` (continuous actions): K such networks side by side (Chua et
  al. 2018; MBPO, Janner et al. 2019), each imagined row from one random
  member, and `trust`: the members' spread within a bound, where
  `imagination.rollout` stops a rollout.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from agents.runtime.errors import UserError

# ---- tabular -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StateEncoding:
  """How a tabular task's observations name its states.

  `one_hot=False`: the observation is the state index (an integer scalar);
  `one_hot=True`: it is a vector of `num_states` entries with a 1 at the
  state's index.
  """

  num_states: int
  one_hot: bool
  dtype: Any

  @classmethod
  def from_spec(cls, observation_spec) -> "StateEncoding":
    """Reads the encoding from a task's observation spec; UserError when the
    observation names no discrete state."""
    shape = tuple(observation_spec.shape)
    dtype = jnp.dtype(observation_spec.dtype)
    if shape == () and jnp.issubdtype(dtype, jnp.integer):
      if hasattr(observation_spec, "num_values"):
        return cls(int(observation_spec.num_values), False, dtype)
      if hasattr(observation_spec, "maximum"):
        return cls(int(observation_spec.maximum) + 1, False, dtype)
    if len(shape) == 1 and shape[0] >= 1:
      return cls(int(shape[0]), True, dtype)
    raise UserError(
        f"the tabular imagination model needs a task whose observation is a "
        f"state index (an integer scalar) or a one-hot vector; this task's "
        f"is {observation_spec}. Use --config.imagination_model=neural"
    )

  def index(self, observation: chex.Array) -> chex.Array:
    """[n, ...] observations -> [n] int32 state indices."""
    if self.one_hot:
      return jnp.argmax(observation, axis=-1).astype(jnp.int32)
    return observation.astype(jnp.int32)

  def observation(self, index: chex.Array) -> chex.Array:
    """[n] state indices -> [n, ...] observations."""
    if self.one_hot:
      return jax.nn.one_hot(index, self.num_states, dtype=self.dtype)
    return index.astype(self.dtype)


@struct.dataclass
class CountsState:
  counts: chex.Array  # float32 [S, A, S, 2]: n(s, a, s', z)
  reward_sums: chex.Array  # float32 [S, A, S, 2]: R(s, a, s', z)


@dataclasses.dataclass(frozen=True)
class TabularCountsModel:
  num_states: int
  num_actions: int

  def init(self) -> CountsState:
    shape = (self.num_states, self.num_actions, self.num_states, 2)
    return CountsState(
        counts=jnp.zeros(shape, jnp.float32),
        reward_sums=jnp.zeros(shape, jnp.float32),
    )

  def update(
      self,
      state: CountsState,
      s: chex.Array,
      a: chex.Array,
      r: chex.Array,
      s_next: chex.Array,
      terminal: chex.Array,
      weight: chex.Array,
  ) -> CountsState:
    """Counts a batch [n] of transitions, each with `weight` (1 = real,
    0 = ignore: the learner's invalid items)."""
    chex.assert_equal_shape([s, a, r, s_next, terminal, weight])
    cell = (s, a, s_next, terminal.astype(jnp.int32))
    weight = weight.astype(jnp.float32)
    return CountsState(
        counts=state.counts.at[cell].add(weight),
        reward_sums=state.reward_sums.at[cell].add(weight * r),
    )

  def probabilities(
      self, state: CountsState, s: chex.Array, a: chex.Array
  ) -> chex.Array:
    """[n, S, 2]: the learned P(s', z | s, a) (zeros where (s, a) is unseen)."""
    n = state.counts[s, a]
    total = jnp.sum(n, axis=(-2, -1), keepdims=True)
    return n / jnp.where(total > 0, total, 1.0)

  def sample(
      self, state: CountsState, key: chex.PRNGKey, s: chex.Array, a: chex.Array
  ):
    """Draws (s', r, z, known) [n] for pairs (s, a) [n] from the counts."""
    chex.assert_equal_shape([s, a])
    n = state.counts[s, a].reshape(s.shape[0], -1)  # [n, S * 2]
    known = jnp.sum(n, axis=-1) > 0
    logits = jnp.where(n > 0, jnp.log(jnp.where(n > 0, n, 1.0)), -jnp.inf)
    logits = jnp.where(known[:, None], logits, 0.0)  # unseen: any, invalid
    flat = jax.random.categorical(key, logits, axis=-1)
    s_next, z = flat // 2, flat % 2
    count = n[jnp.arange(s.shape[0]), flat]
    reward = state.reward_sums[s, a, s_next, z] / jnp.where(
        count > 0, count, 1.0
    )
    return s_next.astype(jnp.int32), reward, z.astype(jnp.int32), known


# ---- neural ------------------------------------------------------------------


class TransitionNetwork(nn.Module):
  """(observation [n, ...], action one-hot [n, A] or continuous action
  [n, d]) -> (Delta s [n, ...], reward [n], terminal logit [n])."""

  observation_shape: tuple[int, ...]
  hidden_sizes: tuple[int, ...]

  @nn.compact
  def __call__(self, observation, action_one_hot):
    n = observation.shape[0]
    x = jnp.concatenate(
        [observation.reshape(n, -1).astype(jnp.float32), action_one_hot],
        axis=-1,
    )
    for size in self.hidden_sizes:
      x = nn.relu(nn.Dense(size)(x))
    obs_size = 1
    for d in self.observation_shape:
      obs_size *= d
    delta = nn.Dense(obs_size)(x).reshape(n, *self.observation_shape)
    reward = nn.Dense(1)(x)[:, 0]
    terminal_logit = nn.Dense(1)(x)[:, 0]
    return delta, reward, terminal_logit


@struct.dataclass
class NeuralModelState:
  params: Any
  opt_state: Any


class _LearnsFromBatches:
  """`observe` of the rollout interface for models that count nothing as
  items arrive (they learn from replayed batches in `learn`)."""

  def observe(
      self, state: NeuralModelState, items: dict[str, chex.Array]
  ) -> NeuralModelState:
    del items
    return state


@dataclasses.dataclass(frozen=True)
class NeuralModel(_LearnsFromBatches):
  """Attributes:
  num_actions: the discrete actions (one-hot input); ignored when
    `action_size` > 0.
  observation_shape: one observation's shape.
  hidden_sizes: the MLP's layers.
  learning_rate: its own Adam's.
  action_size: 0 for discrete actions; d for continuous actions of shape
    [d], fed to the network as they are.
  """

  num_actions: int
  observation_shape: tuple[int, ...]
  hidden_sizes: tuple[int, ...] = (64, 64)
  learning_rate: float = 1e-3
  action_size: int = 0

  def encode_action(self, action: chex.Array) -> chex.Array:
    """[n] discrete actions -> one-hot [n, A]; [n, d] continuous -> float."""
    if self.action_size:
      return action.astype(jnp.float32).reshape(action.shape[0], -1)
    return jax.nn.one_hot(action, self.num_actions)

  @property
  def network(self) -> TransitionNetwork:
    return TransitionNetwork(
        tuple(self.observation_shape), tuple(self.hidden_sizes)
    )

  @property
  def optimizer(self) -> optax.GradientTransformation:
    return optax.adam(self.learning_rate)

  def init(self, key: chex.PRNGKey) -> NeuralModelState:
    params = self.network.init(
        key,
        jnp.zeros((1, *self.observation_shape), jnp.float32),
        jnp.zeros((1, self.action_size or self.num_actions), jnp.float32),
    )
    return NeuralModelState(
        params=params, opt_state=self.optimizer.init(params)
    )

  def loss(self, params, items: dict[str, chex.Array]) -> chex.Array:
    """Mean over valid items of |s' - s - Delta|^2 / dim(s) + (r - r_hat)^2
    + CE(z, sigmoid(logit))."""
    delta, reward, logit = self.network.apply(
        params, items["observation"], self.encode_action(items["action"])
    )
    obs = items["observation"].astype(jnp.float32)
    target_delta = items["next_observation"].astype(jnp.float32) - obs
    n = obs.shape[0]
    obs_error = jnp.mean(((target_delta - delta) ** 2).reshape(n, -1), -1)
    reward_error = (items["reward"] - reward) ** 2
    terminal = (items["discount"] == 0).astype(jnp.float32)
    terminal_error = optax.sigmoid_binary_cross_entropy(logit, terminal)
    valid = items["valid"]
    per_item = obs_error + reward_error + terminal_error
    return jnp.sum(valid * per_item) / jnp.maximum(jnp.sum(valid), 1.0)

  def train_step(
      self, state: NeuralModelState, items: dict[str, chex.Array]
  ) -> tuple[NeuralModelState, chex.Array]:
    """One optimizer step on a batch of real items; returns the loss."""
    value, grads = jax.value_and_grad(self.loss)(state.params, items)
    updates, opt_state = self.optimizer.update(
        grads, state.opt_state, state.params
    )
    return (
        NeuralModelState(optax.apply_updates(state.params, updates), opt_state),
        value,
    )

  def generate(
      self,
      state: NeuralModelState,
      key: chex.PRNGKey,
      observation: chex.Array,
      action: chex.Array,
      gamma: float,
  ):
    """(s' [n, ...], r [n], discount [n]) for (s, a) from the model."""
    delta, reward, logit = self.network.apply(
        state.params, observation, self.encode_action(action)
    )
    next_obs = observation.astype(jnp.float32) + delta
    if jnp.issubdtype(observation.dtype, jnp.integer):
      next_obs = jnp.round(next_obs)
    terminal = jax.random.bernoulli(key, jax.nn.sigmoid(logit))
    discount = gamma * (1.0 - terminal.astype(jnp.float32))
    return next_obs.astype(observation.dtype), reward, discount

  # ---- the rollout interface (continuous actions; see `imagination`) ------

  def learn(
      self, state: NeuralModelState, items: dict[str, chex.Array]
  ) -> tuple[NeuralModelState, dict[str, chex.Array]]:
    """One Adam step on a batch of real items."""
    state, loss = self.train_step(state, items)
    return state, dict(model_loss=loss)

  def predict(
      self,
      state: NeuralModelState,
      key: chex.PRNGKey,
      observation: chex.Array,
      action: chex.Array,
      time: chex.Array,
  ):
    """(s' [n, ...], r [n], terminal bool [n]) from the model; time-invariant
    (`time` is ignored)."""
    del time
    delta, reward, logit = self.network.apply(
        state.params, observation, self.encode_action(action)
    )
    next_obs = observation.astype(jnp.float32) + delta
    terminal = jax.random.bernoulli(key, jax.nn.sigmoid(logit))
    return next_obs.astype(observation.dtype), reward, terminal


# ---- ensemble (continuous actions) -------------------------------------------


@dataclasses.dataclass(frozen=True)
class EnsembleModel(_LearnsFromBatches):
  """`size` continuous `NeuralModel`s trained side by side, for imagination
  rollouts (the probabilistic-ensemble idea of Chua et al. 2018, "Deep
  reinforcement learning in a handful of trials using probabilistic dynamics
  models", NeurIPS, as used by MBPO, Janner et al. 2019, "When to trust your
  model", NeurIPS, and ME-TRPO, Kurutach et al. 2018; their members are
  deterministic here).

  Every member predicts the DELTA of the observation, the reward and the
  terminal logit (`TransitionNetwork`); members differ by their
  initialisation and learn on the same batches (one Adam step each per
  learn call, vmapped over the member axis).

    predict   each row's outcome comes from one member drawn uniformly at
              random per step (MBPO);
    trust     disagreement(x, u) = sqrt(mean_j Var_k [s'_k, r_k]_j), the
              members' spread over the predicted next observation and
              reward (in their units); a row is trusted while it is
              <= `disagreement_bound` (0: always trusted). Rollouts
              (`imagination.rollout`) end where a row is not trusted: that
              step and the later ones are invalid.

  Nothing about the task's geometry is built in: the model sees flat
  observations and continuous actions.

  Attributes:
    member: the one member's settings (`action_size` > 0).
    size: K members.
    disagreement_bound: the largest trusted disagreement (0: no bound).
  """

  member: NeuralModel
  size: int = 5
  disagreement_bound: float = 0.0

  def init(self, key: chex.PRNGKey) -> NeuralModelState:
    """Every leaf of the members' NeuralModelState with a leading [K]."""
    return jax.vmap(self.member.init)(jax.random.split(key, self.size))

  def learn(
      self, state: NeuralModelState, items: dict[str, chex.Array]
  ) -> tuple[NeuralModelState, dict[str, chex.Array]]:
    """One Adam step of every member on the batch; their mean loss."""
    state, loss = jax.vmap(self.member.train_step, in_axes=(0, None))(
        state, items
    )
    return state, dict(model_loss=jnp.mean(loss))

  def members(
      self, state: NeuralModelState, observation: chex.Array, action
  ) -> tuple[chex.Array, chex.Array, chex.Array]:
    """Every member's (s' [K, n, ...], r [K, n], terminal logit [K, n])."""
    network = self.member.network
    encoded = self.member.encode_action(action)

    def one(params):
      delta, reward, logit = network.apply(params, observation, encoded)
      return observation.astype(jnp.float32) + delta, reward, logit

    return jax.vmap(one)(state.params)

  def disagreement(
      self, state: NeuralModelState, observation: chex.Array, action
  ) -> chex.Array:
    """[n] the members' spread (see the class docstring)."""
    next_obs, reward, _ = self.members(state, observation, action)
    k, n = reward.shape
    joint = jnp.concatenate([next_obs.reshape(k, n, -1), reward[..., None]], -1)
    return jnp.sqrt(jnp.mean(jnp.var(joint, axis=0), axis=-1))

  def trust(
      self, state: NeuralModelState, observation: chex.Array, action
  ) -> chex.Array:
    """[n] bool: the disagreement is within the bound."""
    if not self.disagreement_bound:
      return jnp.ones((observation.shape[0],), bool)
    return self.disagreement(state, observation, action) <= (
        self.disagreement_bound
    )

  def predict(
      self,
      state: NeuralModelState,
      key: chex.PRNGKey,
      observation: chex.Array,
      action: chex.Array,
      time: chex.Array,
  ):
    """(s' [n, ...], r [n], terminal bool [n]) from one random member per
    row; time-invariant (`time` is ignored)."""
    del time
    member_key, terminal_key = jax.random.split(key)
    next_obs, reward, logit = self.members(state, observation, action)
    n = reward.shape[1]
    pick = jax.random.randint(member_key, (n,), 0, self.size)
    rows = jnp.arange(n)
    terminal = jax.random.bernoulli(
        terminal_key, jax.nn.sigmoid(logit[pick, rows])
    )
    return (
        next_obs[pick, rows].astype(observation.dtype),
        reward[pick, rows],
        terminal,
    )
