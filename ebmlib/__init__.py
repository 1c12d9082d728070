"""ebmlib: energy-based models in torch, the library of the book *Energy, Attention and Reward*.

One module per concept, mirroring the chapters (see the API reference in the book's appendix).
The most used names are re-exported here, so ``import ebmlib`` is enough for most work.

Conventions: patterns are stored as **rows** (``patterns`` has shape ``[N, d]``, a batch of
states ``[B, d]``). The book writes ``X = (x_1, ..., x_N)`` as a ``d x N`` matrix, so the book's
``X^T xi`` is ``states @ patterns.T`` in code. ``beta`` is always the raw inverse temperature.
Functions follow the device and dtype of their inputs and take an explicit ``generator`` where
they draw random numbers.
"""

from __future__ import annotations

from . import (
    attention,
    attention_bm,
    boltzmann,
    data,
    dense,
    device,
    hopfield,
    ising,
    modern,
    rbm,
    rl,
    viz,
)
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

__version__ = "0.1.0"

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
    "attention_bm",
    "AttentionBM",
    "rl",
]
