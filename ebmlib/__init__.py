"""ebmlib: energy-based models in torch, the library of the book *Energy, Attention and Reward*.

One module per concept, mirroring the chapters (see the API reference in the book's appendix).
The most used names are re-exported here, so ``import ebmlib`` is enough for most work.

Conventions: patterns are stored as **rows** (``patterns`` has shape ``[N, d]``, a batch of
states ``[B, d]``). The book writes ``X = (x_1, ..., x_N)`` as a ``d x N`` matrix, so the book's
``X^T xi`` is ``states @ patterns.T`` in code. ``beta`` is always the raw inverse temperature.
Functions follow the device and dtype of their inputs and take an explicit ``generator`` where
they draw random numbers.

``import ebmlib`` needs only torch and numpy. The reinforcement-learning package ``ebmlib.rl``
(which needs gymnasium, the ``rl`` extra) is imported on first use, and plotting helpers import
matplotlib only when they draw.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import (
    attention,
    attention_bm,
    boltzmann,
    data,
    dense,
    device,
    distributed,
    hopfield,
    ising,
    modern,
    rbm,
    tasks,
    viz,
)
from ._version import __version__
from .attention import Hopfield, HopfieldLayer, HopfieldPooling, hopfield_attention
from .attention_bm import AttentionBM
from .boltzmann import BoltzmannMachine
from .data import bars_and_stripes, digits, glyphs, random_patterns
from .dense import DenseAssociativeMemory
from .device import default_device, describe_device, seed_everything
from .hopfield import HopfieldNetwork, hebbian, overlap, pseudoinverse, storkey
from .ising import (
    IsingModel,
    critical_temperature,
    exact_enumeration,
    onsager_energy,
    onsager_magnetization,
)
from .rbm import RBM

__all__ = [
    "__version__",
    "data",
    "device",
    "viz",
    "default_device",
    "describe_device",
    "seed_everything",
    "random_patterns",
    "bars_and_stripes",
    "digits",
    "glyphs",
    "ising",
    "IsingModel",
    "critical_temperature",
    "onsager_energy",
    "onsager_magnetization",
    "exact_enumeration",
    "hopfield",
    "HopfieldNetwork",
    "hebbian",
    "storkey",
    "pseudoinverse",
    "overlap",
    "dense",
    "DenseAssociativeMemory",
    "modern",
    "boltzmann",
    "BoltzmannMachine",
    "rbm",
    "RBM",
    "attention",
    "hopfield_attention",
    "Hopfield",
    "HopfieldPooling",
    "HopfieldLayer",
    "tasks",
    "distributed",
    "attention_bm",
    "AttentionBM",
    "rl",
]

# Submodules imported on first attribute access (PEP 562), so that ``import ebmlib`` does not
# import gymnasium.
_LAZY_SUBMODULES = {"rl"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if (err.name or "").split(".")[0] != "gymnasium":
                raise
            raise ImportError(
                f"ebmlib.{name} needs the optional package 'gymnasium', which is not installed; "
                'install it with: pip install "ebmlib[rl]"'
            ) from err
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_SUBMODULES)
