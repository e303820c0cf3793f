"""The optimizer a config names, built once for every agent."""

from __future__ import annotations

import optax


def make_optimizer(
    name: str,
    learning_rate: float,
    *,
    max_grad_norm: float = 0.0,
    rmsprop_decay: float = 0.99,
    eps: float = 1e-5,
    anneal_steps: int = 0,
) -> optax.GradientTransformation:
  """`name` is "adam" or "rmsprop" (A3C's shared RMSProp: decay 0.99).

  `anneal_steps` > 0 decays the learning rate linearly to 0 over that many
  updates (A3C anneals its learning rate to 0 over training).
  """
  if anneal_steps > 0:
    learning_rate = optax.linear_schedule(learning_rate, 0.0, anneal_steps)
  if name == "adam":
    opt = optax.adam(learning_rate, eps=eps)
  elif name == "rmsprop":
    opt = optax.rmsprop(learning_rate, decay=rmsprop_decay, eps=eps)
  else:
    raise ValueError(f"unknown optimizer {name!r}; allowed: adam, rmsprop")
  if max_grad_norm > 0:
    opt = optax.chain(optax.clip_by_global_norm(max_grad_norm), opt)
  return opt
