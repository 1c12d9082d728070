"""Exact dynamic programming for gymnasium's tabular environments (chapter 9).

Gymnasium's toy-text environments (``FrozenLake-v1``, ``CliffWalking-v1``, ``Taxi-v4``) carry
their full transition table in ``env.unwrapped.P``: ``P[s][a]`` is a list of tuples
``(probability, next_state, reward, terminated)``. This module turns that table into dense
float64 tensors and solves the Markov decision process exactly:

* :func:`value_iteration` iterates the Bellman optimality operator
  ``V(s) <- max_a sum_{s'} p(s'|s,a) [r + gamma (1 - done) V(s')]`` (chapter 9,
  eq. (9.4)) to a fixed point and returns ``V*``, ``Q*`` and the greedy policy;
* :func:`policy_evaluation` solves the linear Bellman equation ``V = r_pi + gamma P_pi V``
  of a fixed policy (eq. (9.2));
* :func:`success_probability` gives the exact probability that a policy ends an episode with a
  positive reward (reaching the goal of FrozenLake), optionally within a step limit.

Everything is computed in float64; a transition flagged ``terminated`` ends the episode, so its
successor value is not bootstrapped.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .._validation import check_int, check_probability, check_tensor

__all__ = [
    "TabularMDP",
    "MDPSolution",
    "tabular_mdp",
    "value_iteration",
    "policy_evaluation",
    "success_probability",
    "greedy_policy",
]


class TabularMDP(NamedTuple):
    """Dense tensors of a finite MDP.

    Attributes
    ----------
    P : torch.Tensor, shape ``[S, A, S]``
        Probability of moving to ``s'`` **without** the episode terminating.
    R : torch.Tensor, shape ``[S, A]``
        Expected immediate reward of taking ``a`` in ``s``.
    G : torch.Tensor, shape ``[S, A]``
        Probability that the step terminates with a positive reward (a success).
    T : torch.Tensor, shape ``[S, A]``
        Probability that the step terminates at all.
    initial : torch.Tensor, shape ``[S]``
        Distribution of the state returned by ``reset``.
    """

    P: torch.Tensor
    R: torch.Tensor
    G: torch.Tensor
    T: torch.Tensor
    initial: torch.Tensor


class MDPSolution(NamedTuple):
    """Result of :func:`value_iteration`: ``V`` ``[S]``, ``Q`` ``[S, A]``, ``policy`` ``[S]``."""

    V: torch.Tensor
    Q: torch.Tensor
    policy: torch.Tensor
    iterations: int


def tabular_mdp(env: Any) -> TabularMDP:
    """Read the transition table of a gymnasium toy-text environment into dense tensors.

    Parameters
    ----------
    env : gymnasium.Env or TabularMDP
        An environment whose ``unwrapped`` has ``P`` (``P[s][a] = [(p, s', r, done), ...]``)
        and ``Discrete`` observation and action spaces. A :class:`TabularMDP` is returned as is.

    Returns
    -------
    TabularMDP
        float64 tensors ``P [S, A, S]``, ``R [S, A]``, ``G [S, A]``, ``T [S, A]``,
        ``initial [S]``.

    Raises
    ------
    TypeError
        If ``env`` carries no transition table.
    """
    if isinstance(env, TabularMDP):
        return env
    u = getattr(env, "unwrapped", env)
    table = getattr(u, "P", None)
    if not isinstance(table, dict):
        raise TypeError(
            "env must be a tabular gymnasium environment with a transition table "
            f"env.unwrapped.P (FrozenLake, CliffWalking, Taxi), got {type(env).__name__}"
        )
    n_s = int(u.observation_space.n)
    n_a = int(u.action_space.n)
    P = torch.zeros(n_s, n_a, n_s, dtype=torch.float64)
    R = torch.zeros(n_s, n_a, dtype=torch.float64)
    G = torch.zeros(n_s, n_a, dtype=torch.float64)
    T = torch.zeros(n_s, n_a, dtype=torch.float64)
    for s, row in table.items():
        for a, outcomes in row.items():
            for p, s2, r, done in outcomes:
                R[s, a] += p * r
                if done:
                    T[s, a] += p
                    if r > 0:
                        G[s, a] += p
                else:
                    P[s, a, s2] += p
    isd = getattr(u, "initial_state_distrib", None)
    if isd is None:
        initial = torch.zeros(n_s, dtype=torch.float64)
        initial[int(getattr(u, "start_state_index", 0))] = 1.0
    else:
        initial = torch.as_tensor(isd, dtype=torch.float64).clone()
    return TabularMDP(P, R, G, T, initial)


def greedy_policy(Q: torch.Tensor) -> torch.Tensor:
    """Greedy policy ``pi(s) = argmax_a Q(s, a)`` with ties broken towards the lowest action.

    Parameters
    ----------
    Q : torch.Tensor, shape ``[S, A]``

    Returns
    -------
    torch.Tensor, shape ``[S]``, dtype int64
    """
    Q = check_tensor(Q, "Q", ndim=2)
    return Q.argmax(dim=1)


def value_iteration(
    env: Any, gamma: float, *, tol: float = 1e-12, max_iter: int = 100_000
) -> MDPSolution:
    r"""Solve a tabular MDP by value iteration.

    Iterates the Bellman optimality operator (chapter 9, eq. (9.4))

    .. math:: Q(s,a) = R(s,a) + \gamma \sum_{s'} P(s'|s,a) V(s'), \quad V(s) = \max_a Q(s,a)

    from ``V = 0`` until the largest change is below ``tol``. For ``gamma < 1`` the operator is
    a contraction, so the fixed point ``V*`` is unique.

    Parameters
    ----------
    env : gymnasium.Env or TabularMDP
        A toy-text environment (see :func:`tabular_mdp`).
    gamma : float
        Discount factor in ``[0, 1]`` (``1`` only for episodic tasks that surely terminate).
    tol : float
        Stopping tolerance on ``max |V_new - V|``.
    max_iter : int
        Iteration cap.

    Returns
    -------
    MDPSolution
        ``V`` ``[S]``, ``Q`` ``[S, A]``, greedy ``policy`` ``[S]`` and the iteration count.

    Examples
    --------
    >>> import gymnasium as gym
    >>> sol = value_iteration(gym.make("FrozenLake-v1"), gamma=0.99)
    >>> round(float(sol.V[0]), 6)
    0.542026
    """
    gamma = check_probability(gamma, "gamma")
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    mdp = tabular_mdp(env)
    V = torch.zeros(mdp.P.shape[0], dtype=torch.float64)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        Q = mdp.R + gamma * mdp.P @ V  # [S, A]
        V_new = Q.max(dim=1).values
        delta = float((V_new - V).abs().max())
        V = V_new
        if delta < tol:
            break
    Q = mdp.R + gamma * mdp.P @ V
    return MDPSolution(V, Q, greedy_policy(Q), it)


def _policy_matrix(policy: torch.Tensor, n_s: int, n_a: int) -> torch.Tensor:
    """Policy as a row-stochastic ``[S, A]`` matrix (from actions ``[S]`` or probabilities)."""
    policy = check_tensor(policy, "policy", ndim=(1, 2))
    if policy.dim() == 1:
        if policy.shape[0] != n_s:
            raise ValueError(f"policy must have {n_s} entries (one per state), got {policy.shape}")
        if policy.is_floating_point() and bool((policy != policy.round()).any()):
            raise ValueError("a 1-d policy must hold integer actions")
        acts = policy.long()
        if bool((acts < 0).any() | (acts >= n_a).any()):
            raise ValueError(f"policy actions must lie in [0, {n_a - 1}]")
        return torch.nn.functional.one_hot(acts, n_a).to(torch.float64)
    if tuple(policy.shape) != (n_s, n_a):
        raise ValueError(f"policy must have shape [{n_s}, {n_a}], got {list(policy.shape)}")
    pi = policy.to(torch.float64)
    if bool((pi < 0).any()) or not torch.allclose(pi.sum(1), torch.ones(n_s, dtype=pi.dtype)):
        raise ValueError("a 2-d policy must hold probabilities that sum to 1 in every row")
    return pi


def policy_evaluation(
    env: Any, policy: torch.Tensor, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact value of a fixed policy by solving the linear Bellman equation.

    Solves ``(I - gamma P_pi) V = R_pi`` (chapter 9, eq. (9.2)) with ``P_pi[s, s'] =
    sum_a pi(a|s) P(s'|s,a)`` and ``R_pi[s] = sum_a pi(a|s) R(s,a)``, then
    ``Q = R + gamma P V``.

    Parameters
    ----------
    env : gymnasium.Env or TabularMDP
    policy : torch.Tensor
        Deterministic actions ``[S]`` or action probabilities ``[S, A]``.
    gamma : float
        Discount factor in ``[0, 1]``; ``gamma = 1`` needs a policy that terminates surely.

    Returns
    -------
    (V, Q) : tensors of shapes ``[S]`` and ``[S, A]`` (float64)
    """
    gamma = check_probability(gamma, "gamma")
    mdp = tabular_mdp(env)
    n_s, n_a = mdp.R.shape
    pi = _policy_matrix(policy, n_s, n_a)
    P_pi = torch.einsum("sa,sat->st", pi, mdp.P)
    R_pi = (pi * mdp.R).sum(1)
    V = torch.linalg.solve(torch.eye(n_s, dtype=torch.float64) - gamma * P_pi, R_pi)
    Q = mdp.R + gamma * mdp.P @ V
    return V, Q


def success_probability(
    env: Any,
    policy: torch.Tensor,
    *,
    max_steps: int | None = None,
    per_state: bool = False,
) -> float | torch.Tensor:
    r"""Exact probability that ``policy`` ends an episode with a positive reward.

    With ``g_pi[s]`` the probability that one step from ``s`` terminates with a positive reward
    and ``P_pi`` the non-terminating transitions, the success probability ``x`` solves
    ``x = g_pi + P_pi x`` (no discount; chapter 9, eq. (9.9)). With ``max_steps`` the episode is
    cut after that many steps (gymnasium's ``TimeLimit``) and ``x`` is obtained by
    ``max_steps`` backward iterations instead.

    Parameters
    ----------
    env : gymnasium.Env or TabularMDP
    policy : torch.Tensor
        Deterministic actions ``[S]`` or action probabilities ``[S, A]``.
    max_steps : int, optional
        Step limit; ``None`` means no limit.
    per_state : bool
        Return the vector over start states instead of the average over ``reset``'s
        initial distribution.

    Returns
    -------
    float or torch.Tensor ``[S]``

    Examples
    --------
    >>> import gymnasium as gym
    >>> env = gym.make("FrozenLake-v1")
    >>> round(success_probability(env, value_iteration(env, 0.99).policy), 4)
    0.8235
    """
    mdp = tabular_mdp(env)
    n_s, n_a = mdp.R.shape
    pi = _policy_matrix(policy, n_s, n_a)
    P_pi = torch.einsum("sa,sat->st", pi, mdp.P)
    g_pi = (pi * mdp.G).sum(1)
    if max_steps is None:
        # States from which a success is reachable at all; elsewhere x = 0. On the reachable set
        # the chain leaves with positive probability, so I - P_pi restricted there is invertible.
        can = g_pi > 0
        while True:
            grown = can | ((P_pi > 0) & can[None, :]).any(1)
            if bool((grown == can).all()):
                break
            can = grown
        x = torch.zeros(n_s, dtype=torch.float64)
        idx = can.nonzero()[:, 0]
        if idx.numel():
            A = torch.eye(idx.numel(), dtype=torch.float64) - P_pi[idx][:, idx]
            x[idx] = torch.linalg.solve(A, g_pi[idx])
    else:
        max_steps = check_int(max_steps, "max_steps", minimum=0)
        x = torch.zeros(n_s, dtype=torch.float64)
        for _ in range(max_steps):
            x = g_pi + P_pi @ x
    if per_state:
        return x
    return float(mdp.initial @ x)
