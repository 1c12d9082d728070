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
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.Linear):
                b = 1.0 / math.sqrt(m.in_features)
                m.weight.copy_((torch.rand(m.weight.shape, generator=generator) * 2 - 1) * b)
                m.bias.copy_((torch.rand(m.bias.shape, generator=generator) * 2 - 1) * b)
