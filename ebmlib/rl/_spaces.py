"""Encoding of gymnasium spaces as unit vectors and table indices (private).

* ``Discrete(n)``: one one-hot group of ``n`` units; table index = the value.
* ``MultiDiscrete(nvec)``: one one-hot group per component (``sum(nvec)`` units); table index
  = the mixed-radix number of the components.
* ``MultiBinary(n)``: ``n`` binary units; table index = the binary number.
* ``Box``: the raw float values (only for neural agents such as DQN).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from gymnasium import spaces


class SpaceCodec:
    """Translate between values of a gymnasium space and unit vectors / indices."""

    def __init__(self, space: Any, name: str):
        if not isinstance(space, spaces.Space):
            raise TypeError(f"{name} must be a gymnasium space, got {type(space).__name__}")
        self.space = space
        self.name = name
        if isinstance(space, spaces.Discrete):
            self.kind = "discrete"
            self.groups = [int(space.n)]
            self.n_units = int(space.n)
            self.n_values = int(space.n)
            self.start = int(space.start)
        elif isinstance(space, spaces.MultiDiscrete):
            if space.nvec.ndim != 1:
                raise ValueError(f"{name}: only 1-d MultiDiscrete spaces are supported")
            self.kind = "multidiscrete"
            self.groups = [int(n) for n in space.nvec]
            self.n_units = int(sum(self.groups))
            self.n_values = int(np.prod([float(n) for n in self.groups]))
            self.start_vec = np.asarray(space.start, dtype=np.int64)
        elif isinstance(space, spaces.MultiBinary):
            if len(space.shape) != 1:
                raise ValueError(f"{name}: only 1-d MultiBinary spaces are supported")
            self.kind = "multibinary"
            self.groups = []
            self.n_units = int(space.shape[0])
            self.n_values = 2**self.n_units if self.n_units < 63 else -1
        elif isinstance(space, spaces.Box):
            self.kind = "box"
            self.groups = []
            self.n_units = int(np.prod(space.shape))
            self.n_values = -1
        else:
            raise TypeError(
                f"{name}: unsupported space {type(space).__name__}; use Discrete, MultiDiscrete, "
                "MultiBinary or Box"
            )
        self.offsets = np.concatenate([[0], np.cumsum(self.groups)]).astype(np.int64)

    # -- checks --------------------------------------------------------------------------------
    def check(self, value: Any, what: str) -> Any:
        """Return ``value`` in canonical form, or raise a clear error naming ``what``."""
        if self.kind == "discrete":
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    raise ValueError(f"{what} must be a single integer, got shape {value.shape}")
                value = value.item()
            if isinstance(value, np.ndarray):
                if value.size != 1:
                    raise ValueError(f"{what} must be a single integer, got shape {value.shape}")
                value = value.reshape(()).item()
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{what} must be an integer, got {type(value).__name__}")
            v = int(value) - self.start
            if not 0 <= v < self.n_units:
                raise ValueError(
                    f"{what} must lie in [{self.start}, {self.start + self.n_units - 1}], "
                    f"got {int(value)}"
                )
            return v
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        arr = np.asarray(arr)
        if self.kind == "box":
            if arr.shape != self.space.shape:
                raise ValueError(f"{what} must have shape {self.space.shape}, got {arr.shape}")
            return arr.astype(np.float32)
        n = len(self.groups) if self.kind == "multidiscrete" else self.n_units
        if arr.shape != (n,):
            raise ValueError(f"{what} must have shape ({n},), got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.bool_):
            if not np.all(arr == np.round(arr)):
                raise ValueError(f"{what} must hold integers, got {arr}")
        arr = arr.astype(np.int64)
        if self.kind == "multidiscrete":
            rel = arr - self.start_vec
            if np.any(rel < 0) or np.any(rel >= np.asarray(self.groups)):
                raise ValueError(
                    f"{what} out of range: component i must lie in [start_i, start_i + nvec_i - 1] "
                    f"with nvec = {self.groups}, got {arr.tolist()}"
                )
            return rel
        if np.any((arr != 0) & (arr != 1)):
            raise ValueError(f"{what} must hold only 0 and 1 entries, got {arr.tolist()}")
        return arr

    # -- conversions ---------------------------------------------------------------------------
    def to_units(self, value: Any, what: str, dtype: torch.dtype, device: Any) -> torch.Tensor:
        """Unit vector ``[n_units]`` of a value (one-hot groups, binary units or raw floats)."""
        v = self.check(value, what)
        out = torch.zeros(self.n_units, dtype=dtype, device=device)
        if self.kind == "discrete":
            out[v] = 1.0
        elif self.kind == "multidiscrete":
            out[torch.as_tensor(self.offsets[:-1] + v, device=device)] = 1.0
        else:
            out = torch.as_tensor(v, dtype=dtype, device=device).reshape(-1)
        return out

    def active(self, value: Any, what: str) -> np.ndarray:
        """Indices of the units that are 1 in the unit vector of ``value`` (int64 array)."""
        v = self.check(value, what)
        if self.kind == "discrete":
            return np.asarray([v], dtype=np.int64)
        if self.kind == "multidiscrete":
            return self.offsets[:-1] + v
        if self.kind == "multibinary":
            return np.flatnonzero(v)
        raise TypeError(f"{self.name}: a Box space has no binary units")

    def to_index(self, value: Any, what: str) -> int:
        """Integer index of a value (tables)."""
        v = self.check(value, what)
        if self.kind == "discrete":
            return v
        if self.kind == "multidiscrete":
            return int(np.ravel_multi_index(tuple(v), tuple(self.groups)))
        if self.kind == "multibinary":
            return int(sum(int(b) << i for i, b in enumerate(v)))
        raise TypeError(f"{self.name}: a Box space has no table index")

    def from_index(self, index: int) -> Any:
        """Value of the space with table index ``index`` (inverse of :meth:`to_index`)."""
        if self.kind == "discrete":
            return int(index) + self.start
        if self.kind == "multidiscrete":
            return np.asarray(np.unravel_index(int(index), tuple(self.groups))) + self.start_vec
        if self.kind == "multibinary":
            return np.asarray([(int(index) >> i) & 1 for i in range(self.n_units)], dtype=np.int8)
        raise TypeError(f"{self.name}: a Box space has no table index")

    def units_to_value(self, units: torch.Tensor) -> Any:
        """Space value of a unit vector ``[n_units]`` (inverse of :meth:`to_units`)."""
        u = units.detach().cpu()
        if self.kind == "discrete":
            return int(u.argmax()) + self.start
        if self.kind == "multidiscrete":
            vals = [int(u[a:b].argmax()) for a, b in itertools.pairwise(self.offsets)]
            return np.asarray(vals, dtype=np.int64) + self.start_vec
        if self.kind == "multibinary":
            return u.round().to(torch.int8).numpy()
        raise TypeError(f"{self.name}: a Box space has no unit vectors")

    def all_units(self, dtype: torch.dtype, device: Any) -> torch.Tensor:
        """Unit vectors of every value, ``[n_values, n_units]``, in table-index order."""
        if self.kind == "discrete":
            return torch.eye(self.n_units, dtype=dtype, device=device)
        if self.kind == "multidiscrete":
            rows = []
            for combo in itertools.product(*[range(n) for n in self.groups]):
                r = torch.zeros(self.n_units, dtype=dtype)
                r[torch.as_tensor(self.offsets[:-1] + np.asarray(combo))] = 1.0
                rows.append(r)
            return torch.stack(rows).to(device)
        if self.kind == "multibinary":
            idx = torch.arange(2**self.n_units)
            bits = (idx[:, None] >> torch.arange(self.n_units)[None, :]) & 1
            return bits.to(dtype=dtype, device=device)
        raise TypeError(f"{self.name}: a Box space has no unit vectors")
