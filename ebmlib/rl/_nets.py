"""Small multilayer perceptrons with a seeded initialisation, shared by the deep agents."""

from __future__ import annotations

import math

import torch

from .._validation import check_int


def _mlp(n_in: int, hidden: tuple[int, ...], n_out: int) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    w = n_in
    for h in hidden:
        layers += [torch.nn.Linear(w, check_int(h, "hidden", minimum=1)), torch.nn.ReLU()]
        w = h
    layers.append(torch.nn.Linear(w, n_out))
    return torch.nn.Sequential(*layers)


def _seeded_init(module: torch.nn.Module, generator: torch.Generator | None) -> None:
    """torch's default bounds ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` drawn from ``generator``.

    ``generator=None`` draws from torch's global generator, so ``torch.manual_seed`` decides.
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.Linear):
                b = 1.0 / math.sqrt(m.in_features)
                m.weight.copy_((torch.rand(m.weight.shape, generator=generator) * 2 - 1) * b)
                m.bias.copy_((torch.rand(m.bias.shape, generator=generator) * 2 - 1) * b)


class QHeadNet(torch.nn.Module):
    """DQN's network: an MLP ``s -> Q(s, .)`` with one output per action.

    Called as ``(s [B, ds], a [B, K, A]) -> [B, K]`` with one-hot actions ``a`` (the interface
    every Q-network of the deep agents shares), it returns ``Q(s, .) . a``.
    """

    def __init__(
        self,
        n_obs: int,
        n_actions: int,
        hidden: tuple[int, ...] = (64, 64),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        n_obs = check_int(n_obs, "n_obs", minimum=1)
        self.net = _mlp(n_obs, hidden, check_int(n_actions, "n_actions", minimum=1))
        _seeded_init(self.net, generator)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``Q(s, a)`` for ``s`` ``[B, ds]`` and one-hot ``a`` ``[B, K, A]`` -> ``[B, K]``."""
        return (self.net(s)[:, None, :] * a).sum(-1)

    def q_all(self, s: torch.Tensor) -> torch.Tensor:
        """``Q(s, .)`` over all actions, ``[B, ds] -> [B, A]`` (equal to ``forward`` with the
        identity as actions, without the products)."""
        return self.net(s)
