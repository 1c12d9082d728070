"""Drawing functions for chapters 9 and 10 (pure: parameters in, a figure out).

They follow the demo pattern of :mod:`ebmlib.viz`: each takes ``ax=None`` and keyword
parameters with defaults, so it can be wrapped by :func:`ebmlib.viz.interactive` and drawn over a
grid by :func:`ebmlib.viz.demo_grid`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._optional import require
from .._validation import check_positive, check_probability
from ..utils import renamed_argument

__all__ = ["draw_frozenlake", "draw_frozenlake_gamma", "draw_gibbs_temperature", "draw_blocker"]

_ARROWS = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}  # FrozenLake: left, down, right, up


def _ax(ax: Any, figsize: tuple[float, float] = (4.0, 4.0)) -> Any:
    if ax is None:
        plt = require("matplotlib.pyplot", "viz")

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def draw_frozenlake(
    values: Any = None,
    policy: Any = None,
    desc: Any = None,
    ax: Any = None,
    title: str | None = None,
    vmax: float | None = None,
) -> Any:
    """Draw a FrozenLake map with state values as colours and the policy as arrows.

    Parameters
    ----------
    values : tensor or array ``[S]``, optional
        Value of each cell (row-major), shown as colour and number.
    policy : tensor or array ``[S]`` of int, optional
        Action per cell (0 left, 1 down, 2 right, 3 up); no arrow on holes and the goal.
    desc : sequence of str, optional
        The map (default the 4x4 map of ``FrozenLake-v1``).
    ax : matplotlib Axes, optional
    title : str, optional
    vmax : float, optional
        Upper end of the colour scale.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if desc is None:
        desc = ["SFFF", "FHFH", "FFFH", "HFFG"]
    desc = [
        row.decode()
        if isinstance(row, bytes)
        else "".join(c.decode() if isinstance(c, bytes) else str(c) for c in row)
        for row in desc
    ]
    mpatches = require("matplotlib.patches", "viz")

    n_r, n_c = len(desc), len(desc[0])
    ax = _ax(ax)
    grid = np.zeros((n_r, n_c))
    if values is not None:
        v = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values
        v = np.asarray(v, dtype=float)
        if v.size != n_r * n_c:
            raise ValueError(f"values must have {n_r * n_c} entries, got {v.size}")
        grid = v.reshape(n_r, n_c)
    ax.imshow(grid, cmap="Blues", vmin=0.0, vmax=vmax or max(grid.max(), 1e-9))
    for r in range(n_r):
        for c in range(n_c):
            ch = desc[r][c]
            if ch in "HG":
                ax.add_patch(
                    mpatches.Rectangle(
                        (c - 0.5, r - 0.5), 1, 1, color="0.25" if ch == "H" else "gold"
                    )
                )
                ax.text(
                    c,
                    r,
                    "hole" if ch == "H" else "goal",
                    ha="center",
                    va="center",
                    color="white" if ch == "H" else "black",
                    fontsize=8,
                )
                continue
            if values is not None:
                ax.text(c, r + 0.32, f"{grid[r, c]:.3f}", ha="center", va="center", fontsize=7)
            if ch == "S":
                ax.text(c - 0.32, r - 0.3, "S", ha="center", va="center", fontsize=8)
            if policy is not None:
                p = policy.detach().cpu().numpy() if isinstance(policy, torch.Tensor) else policy
                dx, dy = _ARROWS[int(np.asarray(p).reshape(-1)[r * n_c + c])]
                ax.arrow(
                    c - 0.2 * dx,
                    r - 0.2 * dy - 0.08,
                    0.3 * dx,
                    0.3 * dy,
                    head_width=0.12,
                    color="crimson",
                    length_includes_head=True,
                )
    ax.set_xticks(range(n_c))
    ax.set_yticks(range(n_r))
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def draw_frozenlake_gamma(gamma: float = 0.99, slippery: bool = True, ax: Any = None) -> Any:
    """Demo of chapter 9: optimal values and policy of FrozenLake for a discount ``gamma``.

    Solves the MDP by value iteration and titles the panel with ``V*(start)`` and the exact
    success probability of the greedy policy.
    """
    gym = require("gymnasium", "rl", feature="ebmlib.rl")

    from .exact import success_probability, value_iteration

    gamma = check_probability(gamma, "gamma")
    env = gym.make("FrozenLake-v1", is_slippery=bool(slippery))
    sol = value_iteration(env, min(gamma, 0.99999))
    p = success_probability(env, sol.policy)
    return draw_frozenlake(
        sol.V,
        sol.policy,
        ax=ax,
        vmax=1.0,
        title=f"gamma={gamma:g}: V*(start)={float(sol.V[0]):.4f}, P(goal)={p:.4f}",
    )


@renamed_argument("temperature", "T", since="0.2")
def draw_gibbs_temperature(
    T: float = 1.0, n_samples: int = 4000, seed: int = 0, ax: Any = None
) -> Any:
    """Demo of chapter 10: Gibbs action sampling at temperature ``T`` versus ``softmax(Q/T)``.

    A small free-energy agent (3 binary action units, 8 actions, random weights) is sampled by
    Gibbs sampling at a fixed ``T`` with the state clamped. Bars: the sampled frequencies;
    markers: the exact Gibbs marginal ``exp(-F_T/T)`` and the Boltzmann policy
    ``softmax(Q/T)``. They coincide only at ``T = 1`` (chapter 10,
    :math:numref:`eq-free-energy-rl-temperature`).
    """
    spaces = require("gymnasium", "rl", feature="ebmlib.rl").spaces

    from .agents import FreeEnergyQ

    t = check_positive(T, "T")
    ag = FreeEnergyQ(
        spaces.Discrete(2),
        spaces.MultiBinary(3),
        n_hidden=3,
        init_std=1.5,
        action_selection="gibbs",
        generator=torch.Generator().manual_seed(1),
        dtype=torch.float64,
    )
    g = torch.Generator().manual_seed(int(seed))
    units = ag.gibbs_actions(0, n_chains=int(n_samples), sweeps=40, T=t, T0=t, generator=g)
    idx = [ag.act_codec.to_index(ag.act_codec.units_to_value(u), "a") for u in units]
    freq = np.bincount(idx, minlength=8) / len(idx)
    p_gibbs = torch.softmax(ag.gibbs_log_weights(0, t), 0).numpy()
    p_soft = ag.action_probabilities(0, t).numpy()
    ax = _ax(ax, (5.0, 3.2))
    x = np.arange(8)
    ax.bar(x, freq, color="0.75", label="Gibbs samples")
    ax.plot(x, p_gibbs, "o", color="C0", label=r"exact $\propto e^{-F_T/T}$")
    ax.plot(x, p_soft, "x", color="C3", ms=8, label=r"softmax$(Q/T)$")
    ax.set_xticks(x, [format(i, "03b")[::-1] for i in x], fontsize=7)
    ax.set_xlabel("action (bits a1 a2 a3)")
    ax.set_ylabel("probability")
    ax.set_title(f"T = {t:g}", fontsize=9)
    ax.legend(fontsize=7)
    return ax


def draw_blocker(
    obs: Any,
    width: int = 4,
    length: int = 7,
    n_agents: int = 2,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Draw a Blocker state: agents (numbered circles), blockers (squares), the end zone."""
    mpatches = require("matplotlib.patches", "viz")

    o = np.asarray(obs).reshape(-1)
    ax = _ax(ax, (2.2, 3.4))
    ax.add_patch(mpatches.Rectangle((-0.5, length - 1.5), width, 1, color="palegreen"))
    ax.add_patch(mpatches.Rectangle((-0.5, length - 2.5), width, 1, color="mistyrose"))
    for k, cell in enumerate(o):
        r, c = divmod(int(cell), width)
        if k < n_agents:
            ax.add_patch(mpatches.Circle((c, r), 0.35, color=f"C{k}"))
            ax.text(c, r, str(k), ha="center", va="center", color="white", fontsize=8)
        else:
            ax.add_patch(mpatches.Rectangle((c - 0.4, r - 0.4), 0.8, 0.8, color="black"))
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(length - 0.5, -0.5)
    ax.set_xticks(range(width))
    ax.set_yticks(range(length))
    ax.set_aspect("equal")
    ax.set_xlabel("column")
    ax.set_ylabel("row (end zone at the bottom)")
    ax.grid(True, lw=0.3)
    if title:
        ax.set_title(title, fontsize=8)
    return ax
