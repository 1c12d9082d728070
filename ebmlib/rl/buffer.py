r"""The replay buffer of the deep agents (chapter 9, "experience replay").

A ring buffer of transitions :math:`(s, a, r, s', \text{terminated})` held in preallocated
tensors on one device, from which minibatches are drawn uniformly with replacement (Mnih et al.
2015). :class:`~ebmlib.rl.agents.DQN`, :class:`~ebmlib.rl.energy_agents.SoftQ` and
:class:`~ebmlib.rl.energy_agents.HopfieldQ` share it; it knows nothing about the agents.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from .._validation import _as_real, check_generator, check_int
from ..utils import Result

__all__ = ["ReplayBuffer", "Transitions"]


@dataclasses.dataclass(frozen=True)
class Transitions(Result):
    """A minibatch of transitions, each field with a leading batch dimension ``B``."""

    obs: torch.Tensor
    """States :math:`s`, ``[B, *obs_shape]``."""
    actions: torch.Tensor
    """Actions :math:`a`, ``[B, *action_shape]``."""
    rewards: torch.Tensor
    """Rewards :math:`r`, ``[B]``."""
    next_obs: torch.Tensor
    """Successor states :math:`s'`, ``[B, *obs_shape]``."""
    terminated: torch.Tensor
    """1.0 where the episode terminated at :math:`s'` (no successor value), else 0.0, ``[B]``."""


def _shape(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, tuple | list | torch.Size):
        raise TypeError(f"{name} must be an int or a tuple of ints, got {type(value).__name__}")
    return tuple(check_int(v, name, minimum=1) for v in value)


class ReplayBuffer:
    r"""A ring buffer of transitions with uniform minibatch sampling.

    Parameters
    ----------
    capacity : int
        Number of transitions kept; the oldest is overwritten once it is full.
    obs_shape : int or tuple of int
        Shape of one state (an int ``n`` means ``(n,)``).
    action_shape : int or tuple of int
        Shape of one action; ``()`` for a scalar (an action index).
    action_dtype : torch.dtype
        dtype of the stored actions (``torch.long`` for indices).
    dtype : torch.dtype
        dtype of states and rewards.
    device : torch.device or str, optional
        Where the transitions live (and minibatches are returned).

    Examples
    --------
    >>> buf = ReplayBuffer(1000, obs_shape=4, action_shape=2)
    >>> buf.add(torch.zeros(4), torch.tensor([1.0, 0.0]), 1.0, torch.ones(4), False)
    >>> batch = buf.sample(32, generator=torch.Generator().manual_seed(0))
    >>> batch.obs.shape
    torch.Size([32, 4])
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: int | tuple[int, ...],
        action_shape: int | tuple[int, ...] = (),
        *,
        action_dtype: torch.dtype = torch.float32,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        self.capacity = check_int(capacity, "capacity", minimum=1)
        self.obs_shape = _shape(obs_shape, "obs_shape")
        self.action_shape = () if action_shape == () else _shape(action_shape, "action_shape")
        for name, dt in (("action_dtype", action_dtype), ("dtype", dtype)):
            if not isinstance(dt, torch.dtype):
                raise TypeError(f"{name} must be a torch.dtype, got {type(dt).__name__}")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        if action_dtype.is_complex:
            raise TypeError(f"action_dtype must be a real dtype, got {action_dtype}")
        dev = torch.device("cpu") if device is None else torch.device(device)
        n = self.capacity
        self.obs = torch.zeros((n, *self.obs_shape), dtype=dtype, device=dev)
        self.next_obs = torch.zeros((n, *self.obs_shape), dtype=dtype, device=dev)
        self.actions = torch.zeros((n, *self.action_shape), dtype=action_dtype, device=dev)
        self.rewards = torch.zeros(n, dtype=dtype, device=dev)
        self.terminated = torch.zeros(n, dtype=dtype, device=dev)
        self.pos = 0
        self.size = 0

    @property
    def device(self) -> torch.device:
        """Device of the stored transitions."""
        return self.obs.device

    def __len__(self) -> int:
        return self.size

    def _as(self, x: Any, shape: tuple[int, ...], dtype: torch.dtype, name: str) -> torch.Tensor:
        try:
            t = torch.as_tensor(x, device=self.device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from err
        if t.is_complex():
            raise TypeError(f"{name} must be real, got {t.dtype}")
        if t.is_floating_point():
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"{name} must contain only finite values")
            if not dtype.is_floating_point and not bool((t == t.round()).all()):
                raise TypeError(f"{name} must hold integers (the buffer stores {dtype})")
        t = t.to(dtype)
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
        return t

    def add(self, obs: Any, action: Any, reward: float, next_obs: Any, terminated: bool) -> None:
        """Store one transition (overwriting the oldest when full).

        Raises
        ------
        ValueError
            If ``reward`` is NaN or infinite (it would poison every later target), or a shape
            does not match the buffer.
        """
        r = _as_real(reward, "reward")  # NaN or inf would poison every later target
        o = self._as(obs, self.obs_shape, self.obs.dtype, "obs")
        o2 = self._as(next_obs, self.obs_shape, self.obs.dtype, "next_obs")
        a = self._as(action, self.action_shape, self.actions.dtype, "action")
        i = self.pos  # checked all before writing, so a refused transition changes nothing
        self.obs[i], self.next_obs[i], self.actions[i] = o, o2, a
        self.rewards[i] = r
        self.terminated[i] = 1.0 if bool(terminated) else 0.0
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Transitions:
        """``batch_size`` transitions drawn uniformly with replacement.

        ``generator=None`` draws from torch's global generator.
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        check_generator(generator)
        if self.size == 0:
            raise ValueError("cannot sample from an empty ReplayBuffer")
        dev = generator.device if generator is not None else torch.device("cpu")
        idx = torch.randint(self.size, (batch_size,), generator=generator, device=dev)
        idx = idx.to(self.device)
        return Transitions(
            obs=self.obs[idx],
            actions=self.actions[idx],
            rewards=self.rewards[idx],
            next_obs=self.next_obs[idx],
            terminated=self.terminated[idx],
        )

    def state_dict(self) -> dict[str, Any]:
        """The stored transitions and write position (for checkpoints)."""
        return {
            "obs": self.obs[: self.size].clone(),
            "actions": self.actions[: self.size].clone(),
            "rewards": self.rewards[: self.size].clone(),
            "next_obs": self.next_obs[: self.size].clone(),
            "terminated": self.terminated[: self.size].clone(),
            "pos": self.pos,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (into a buffer of the same shapes)."""
        n = int(state["obs"].shape[0])
        if n > self.capacity:
            raise ValueError(f"state holds {n} transitions, more than capacity={self.capacity}")
        for k in ("obs", "actions", "rewards", "next_obs", "terminated"):
            getattr(self, k)[:n] = state[k].to(self.device)
        self.size = n
        self.pos = int(state["pos"]) % self.capacity
