"""Blind Cliffwalk (Schaul et al. 2016, "Prioritized Experience Replay",
Fig. 1 and Fig. 2 left): how many replayed Q-learning updates it takes to
learn a value function when the one rewarding transition is rare.

The task. States 0 .. n-1, two actions. In state k one action is "right"
(action k mod 2: the right action alternates, so nothing could generalise
over it) and moves to state k+1, or, from state n-1, ends the episode with
reward 1; the other ("wrong") ends the episode with reward 0. No other
rewards.

The replay memory holds every transition of all 2^n action sequences of
length n, each sequence cut at its first wrong action: the pair (k, right)
and the pair (k, wrong) each occur 2^(n-1-k) times, 2^(n+1) - 2 items in all,
exactly one of which, (n-1, right), sees the reward (`transitions`).

The learner. Tabular Q-learning, gamma = 1 - 1/n, step size eta = 1/4, one
replayed transition per update (paper's Appendix B.1):
  delta = r + gamma * (1 - terminal) * max_b Q(s', b) - Q(s, a)
  Q(s, a) <- Q(s, a) + eta * delta                      (`td_error`, `_apply`)
Q starts at small random values, N(0, INIT_SCALE^2) per entry ("10 random
initializations" in the paper; the scale is ours), and learning stops at the
first update after which the mean squared error of the table to the true
values Q*(k, right) = gamma^(n-1-k), Q*(k, wrong) = 0 (`true_q`) is below
1e-3 (`MSE_THRESHOLD`), or at a cap on the number of updates.

Three ways of choosing the transition to replay (`METHODS`):
  uniform      uniform over the 2^(n+1) - 2 items (Mnih et al. 2015), through
               the project's uniform buffer;
  prioritized  proportional prioritization through the project's prioritized
               buffer (its sum-tree, `agents/replay/prioritized.py`): P(i)
               proportional to (|delta_i| + eps)^alpha, all items entering at
               the maximum priority (so every item is seen once before its
               TD error is known, as in the paper), and the sampled item's
               priority set to the |delta| of its update. Duplicates of one
               transition keep their own (possibly stale) priorities, as in a
               real memory. No importance weights: the paper's tabular Blind
               Cliffwalk has none (beta = 0).
               alpha: the paper's tabular panel (Fig. 2 left) uses GREEDY
               TD-error prioritization, which no alpha in [0, 1] gives (it is
               alpha -> infinity); the default here is alpha = 1, the
               greediest proportional variant our buffer allows; `alpha` is a
               parameter (`--alpha` on the script).
  oracle       the hindsight oracle: greedy on the actual reduction of the
               global loss (the MSE to Q*) that each candidate update would
               give, computed for every candidate (vmap) and the best taken,
               ties broken at random. The candidates are the 2n distinct
               transitions: duplicates in the memory give identical updates,
               so this is the same choice as over all items.

Everything is compiled: one `lax.while_loop` per run (until converged or the
cap), vmapped over seeds (`run`). The paper's result (Fig. 1 right, Fig. 2
left, log-log): uniform replay needs a number of updates exponential in n,
the oracle orders of magnitude fewer, and TD-error prioritization sits in
between, far below uniform.
"""

from __future__ import annotations

import functools
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

METHODS = ("uniform", "prioritized", "oracle")
LEARNING_RATE = 0.25
MSE_THRESHOLD = 1e-3
INIT_SCALE = 0.1
DEFAULT_ALPHA = 1.0
DEFAULT_EPSILON = 1e-4


def gamma_of(n: int) -> float:
  return 1.0 - 1.0 / n


def right_action(state):
  """The action that moves on in `state` (alternating: state mod 2)."""
  return state % 2


def num_items(n: int) -> int:
  return 2 ** (n + 1) - 2


def distinct_transitions(n: int) -> dict[str, np.ndarray]:
  """The 2n distinct transitions, ordered (k, right), (k, wrong) for k < n.

  Fields: state, action, reward, terminal (1. if the episode ends), next_state
  (0 where terminal; never read then), count (copies in the memory).
  """
  states = np.repeat(np.arange(n, dtype=np.int32), 2)
  right = right_action(states)
  is_right = np.tile(np.array([True, False]), n)
  action = np.where(is_right, right, 1 - right).astype(np.int32)
  last = states == n - 1
  reward = (is_right & last).astype(np.float32)
  terminal = (~is_right | last).astype(np.float32)
  next_state = np.where(terminal > 0, 0, states + 1).astype(np.int32)
  count = (2 ** (n - 1 - states)).astype(np.int64)
  return dict(
      state=states,
      action=action,
      reward=reward,
      terminal=terminal,
      next_state=next_state,
      count=count,
  )


def transitions(n: int) -> dict[str, np.ndarray]:
  """The replay memory: every transition of all 2^n action sequences.

  One item per (sequence, step) up to and including the sequence's first
  wrong action (or its n-th step): 2^(n+1) - 2 items, each an index into
  `distinct_transitions(n)` plus its fields.
  """
  distinct = distinct_transitions(n)
  index = np.repeat(np.arange(2 * n, dtype=np.int32), distinct["count"])
  items = {k: v[index] for k, v in distinct.items() if k != "count"}
  items["transition"] = index
  return items


def true_q(n: int) -> np.ndarray:
  """Q*[n, 2]: gamma^(n-1-k) for the right action in state k, 0 for the wrong."""
  gamma = gamma_of(n)
  q = np.zeros((n, 2), np.float64)
  k = np.arange(n)
  q[k, right_action(k)] = gamma ** (n - 1 - k)
  return q


def td_error(
    q: chex.Array, item: dict[str, chex.Array], gamma: float
) -> chex.Array:
  """delta = r + gamma (1 - terminal) max_b Q(s', b) - Q(s, a), one item."""
  bootstrap = jnp.max(q[item["next_state"]])
  target = item["reward"] + gamma * (1.0 - item["terminal"]) * bootstrap
  return target - q[item["state"], item["action"]]


def _apply(q, item, gamma):
  delta = td_error(q, item, gamma)
  return q.at[item["state"], item["action"]].add(LEARNING_RATE * delta), delta


def mse(q: chex.Array, q_star: chex.Array) -> chex.Array:
  return jnp.mean((q - q_star) ** 2)


def _index(tree, i):
  return jax.tree.map(lambda x: x[i], tree)


def make_buffer(method: str, capacity: int, alpha: float, epsilon: float):
  """The project's replay buffer for `method` (None for the oracle)."""
  from agents.replay import prioritized  # pylint: disable=g-import-not-at-top
  from agents.replay import uniform  # pylint: disable=g-import-not-at-top

  if method == "uniform":
    return uniform.UniformReplay(capacity)
  if method == "prioritized":
    # Importance weights are not applied (beta = 0, see the docstring).
    return prioritized.PrioritizedReplay(
        capacity,
        priority_exponent=alpha,
        importance_exponent=0.0,
        priority_eps=epsilon,
    )
  return None


@functools.partial(
    jax.jit, static_argnames=("n", "method", "max_updates", "alpha", "epsilon")
)
def run(
    keys: chex.PRNGKey,
    *,
    n: int,
    method: str,
    max_updates: int,
    alpha: float = DEFAULT_ALPHA,
    epsilon: float = DEFAULT_EPSILON,
) -> dict[str, chex.Array]:
  """Q-learning on the Blind Cliffwalk memory, one run per key (vmapped).

  Returns, per seed: `updates` (updates taken until the MSE fell below
  MSE_THRESHOLD, or `max_updates`), `converged` (bool) and `mse` (final).
  """
  if method not in METHODS:
    raise ValueError(f"unknown method {method!r}; allowed: {METHODS}")
  gamma = gamma_of(n)
  q_star = jnp.asarray(true_q(n), jnp.float32)
  items = {k: jnp.asarray(v) for k, v in transitions(n).items()}
  candidates = {
      k: jnp.asarray(v)
      for k, v in distinct_transitions(n).items()
      if k != "count"
  }
  buffer = make_buffer(method, num_items(n), alpha, epsilon)
  if buffer is not None:
    example = _index(items, 0)
    buffer_state = buffer.add(buffer.init(example), items)

  def one_seed(key):
    init_key, key = jax.random.split(key)
    q = INIT_SCALE * jax.random.normal(init_key, (n, 2), jnp.float32)

    def step(q, state, key):
      if method == "oracle":
        new_qs, _ = jax.vmap(_apply, in_axes=(None, 0, None))(
            q, candidates, gamma
        )
        losses = jax.vmap(mse, in_axes=(0, None))(new_qs, q_star)
        best = losses <= jnp.min(losses)
        tie_break = jax.random.uniform(key, best.shape)
        return new_qs[jnp.argmax(jnp.where(best, tie_break, -1.0))], state
      if method == "uniform":  # never written: one memory shared by all seeds
        sample = buffer.sample(buffer_state, key, 1)
      else:
        sample = buffer.sample(state, key, 1)
      q, delta = _apply(q, _index(sample.items, 0), gamma)
      if method == "prioritized":
        state = buffer.update(state, sample.indices, jnp.abs(delta)[None])
      return q, state

    def cond(carry):
      _, _, _, t, loss = carry
      return (loss >= MSE_THRESHOLD) & (t < max_updates)

    def body(carry):
      q, state, key, t, _ = carry
      key, step_key = jax.random.split(key)
      q, state = step(q, state, step_key)
      return q, state, key, t + 1, mse(q, q_star)

    state = buffer_state if method == "prioritized" else ()
    carry = (q, state, key, jnp.zeros((), jnp.int32), mse(q, q_star))
    q, _, _, t, loss = jax.lax.while_loop(cond, body, carry)
    return dict(updates=t, converged=loss < MSE_THRESHOLD, mse=loss)

  return jax.vmap(one_seed)(keys)


def run_all(
    ns,
    seeds: int,
    max_updates: int,
    alpha: float = DEFAULT_ALPHA,
    epsilon: float = DEFAULT_EPSILON,
    methods=METHODS,
    progress=print,
) -> dict[str, Any]:
  """Every method at every n over `seeds` seeds (keys 0 .. seeds-1)."""
  keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seeds))
  results = {m: {} for m in methods}
  for n in ns:
    for method in methods:
      r = jax.device_get(
          run(
              keys,
              n=n,
              method=method,
              max_updates=max_updates,
              alpha=alpha,
              epsilon=epsilon,
          )
      )
      results[method][n] = {k: np.asarray(v) for k, v in r.items()}
      if progress:
        u = results[method][n]["updates"]
        progress(
            f"n={n:2d} {method:11s} median {np.median(u):12,.0f} "
            f"updates ({int(r['converged'].sum())}/{seeds} converged)"
        )
  return results


def summarize(
    results, *, alpha: float, epsilon: float, max_updates: int
) -> dict[str, Any]:
  """summary.json's content: every seed's updates, median, quartiles, min,
  max per method and n; prioritized and oracle speed-ups over uniform; and
  the issue's goal (prioritized >= 10x fewer updates than uniform at every
  n >= 10, and the ratio at the largest n above the ratio at n = 10)."""
  methods = list(results)
  ns = sorted(next(iter(results.values())))
  out = dict(
      settings=dict(
          learning_rate=LEARNING_RATE,
          gamma="1 - 1/n",
          mse_threshold=MSE_THRESHOLD,
          init_scale=INIT_SCALE,
          alpha=alpha,
          epsilon=epsilon,
          beta=0.0,
          max_updates=max_updates,
          memory_items={str(n): num_items(n) for n in ns},
      ),
      methods={},
  )
  for m in methods:
    out["methods"][m] = {}
    for n in ns:
      u = results[m][n]["updates"].astype(np.float64)
      q25, q50, q75 = np.percentile(u, [25, 50, 75])
      out["methods"][m][str(n)] = dict(
          updates=[int(x) for x in u],
          median=float(q50),
          q25=float(q25),
          q75=float(q75),
          min=float(u.min()),
          max=float(u.max()),
          converged=int(results[m][n]["converged"].sum()),
          seeds=int(u.size),
      )
  ratios = {}
  for m in methods:
    if m != "uniform" and "uniform" in methods:
      ratios[f"uniform_over_{m}"] = {
          str(n): out["methods"]["uniform"][str(n)]["median"]
          / out["methods"][m][str(n)]["median"]
          for n in ns
      }
  out["median_ratios"] = ratios
  big = [n for n in ns if n >= 10]
  key = "uniform_over_prioritized"
  if key not in ratios or not big:
    out["goal"] = dict(
        met=None,
        detail="not tested: needs n >= 10 and both " "uniform and prioritized",
    )
  else:
    r = [ratios[key][str(n)] for n in big]
    all_converged = all(
        out["methods"][m][str(n)]["converged"]
        == out["methods"][m][str(n)]["seeds"]
        for m in ("uniform", "prioritized")
        for n in big
    )
    at_least_10 = min(r) >= 10
    grows = len(r) > 1 and r[-1] > r[0]
    out["goal"] = dict(
        met=bool(at_least_10 and grows and all_converged),
        min_ratio_n_ge_10=float(min(r)),
        ratio_at_10=float(r[0]),
        ratio_at_max_n=float(r[-1]),
        all_converged=bool(all_converged),
        detail=f"uniform/prioritized median updates {min(r):.1f}x at worst "
        f"for n >= 10; {r[0]:.1f}x at n={big[0]} -> {r[-1]:.1f}x at "
        f"n={big[-1]}",
    )
  return out


def table_rows(summary) -> list[tuple[str, ...]]:
  """Printed table: per n, each method's median [q25, q75] updates and the
  uniform/prioritized ratio."""
  methods = list(summary["methods"])
  ns = sorted(int(n) for n in next(iter(summary["methods"].values())))
  rows = [
      (
          "n",
          "items",
          *[f"{m} median [q25, q75]" for m in methods],
          "uniform/prioritized",
      )
  ]
  for n in ns:
    cells = []
    for m in methods:
      s = summary["methods"][m][str(n)]
      flag = (
          ""
          if s["converged"] == s["seeds"]
          else (f" ({s['converged']}/{s['seeds']} conv.)")
      )
      cells.append(
          f"{s['median']:,.0f} [{s['q25']:,.0f}, {s['q75']:,.0f}]" f"{flag}"
      )
    ratio = summary["median_ratios"].get("uniform_over_prioritized", {})
    rows.append(
        (
            str(n),
            f"{num_items(n):,}",
            *cells,
            f"{ratio[str(n)]:.1f}x" if str(n) in ratio else "-",
        )
    )
  return rows


def plot(results, path: str) -> None:
  """Log-log: updates needed vs n, median line and quartile band per method."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  colors = dict(uniform="k", prioritized="C3", oracle="C0")
  fig, ax = plt.subplots(figsize=(5.5, 4.2))
  for m, by_n in results.items():
    ns = sorted(by_n)
    u = np.array([by_n[n]["updates"] for n in ns], np.float64)
    q25, q50, q75 = np.percentile(u, [25, 50, 75], axis=1)
    color = colors.get(m, None)
    ax.plot(ns, q50, "o-", color=color, label=f"{m} (median)", ms=3)
    ax.fill_between(ns, q25, q75, color=color, alpha=0.2, lw=0)
    ax.plot(ns, u.min(1), color=color, alpha=0.3, lw=0.7)
    ax.plot(ns, u.max(1), color=color, alpha=0.3, lw=0.7)
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("n (states); the memory holds 2^(n+1) - 2 transitions")
  ax.set_ylabel("updates until MSE(Q, Q*) < 1e-3")
  ax.set_title("Blind Cliffwalk: band = quartiles, faint = min/max")
  ax.legend(fontsize=8)
  ax.grid(True, which="both", alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
