r"""Exact dynamic programming for finite Markov decision processes (chapters 9 and 10).

Every function here takes a gymnasium environment that carries its full model, or the
:class:`TabularMDP` read from one, and answers in float64 without sampling:

* gymnasium's toy-text environments (``FrozenLake-v1``, ``CliffWalking-v1``, ``Taxi-v4``) carry
  their transition table in ``env.unwrapped.P``;
* this library's factored-action environments (:class:`~ebmlib.rl.envs.BlockerEnv`,
  :class:`~ebmlib.rl.envs.CombinationLockEnv`) build theirs with a ``tabular()`` method, over
  every state reachable from a start state.

The solvers:

* :func:`value_iteration` iterates the Bellman optimality operator
  :math:numref:`eq-rl-value-iteration` to its fixed point ``V*``, ``Q*`` and a greedy policy;
* :func:`soft_value_iteration` iterates the soft (entropy-regularised) Bellman operator
  ``V(s) = T log sum_a exp(Q(s, a) / T)``, ``Q = R + gamma P V`` at temperature ``T``
  (:math:numref:`eq-energy-policies-softv` with a sum over actions);
* :func:`policy_evaluation` solves the linear Bellman equation
  :math:numref:`eq-rl-bellman-v` of a fixed policy;
* :func:`success_probability` solves :math:numref:`eq-rl-success` for the probability of ending
  an episode with a positive reward, optionally within a step limit, and
  :func:`success_curve` gives it for every limit ``0..max_steps`` at once;
* :func:`expected_return` and :func:`optimal_return` give the exact (discounted or not) return
  within a time limit, the number that an evaluation loop estimates;
* :func:`additive_fit` projects a Q-table over binary action vectors onto functions that are a
  sum of one term per action bit (chapter 10: what a learner without couplings can represent).

A transition that terminates the episode is not bootstrapped. The exact success probability of
any greedy policy, e.g. a learner's, is ``success_probability(env, greedy_policy(Q))``:

>>> import gymnasium as gym
>>> env = gym.make("FrozenLake-v1")
>>> sol = value_iteration(env, gamma=0.99)
>>> round(success_probability(env, sol.policy), 4)
0.8235
>>> near = sol.policy.clone()
>>> near[2] = 0  # the second-best action in state 2, whose Q-values nearly tie
>>> round(success_probability(env, near), 4)
0.7805
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from .._validation import (
    check_int,
    check_positive,
    check_probability,
    check_same_device,
    check_same_dtype,
    check_tensor,
)
from ..utils import Result, renamed_argument

__all__ = [
    "TabularMDP",
    "MDPSolution",
    "SoftSolution",
    "PolicyValue",
    "AdditiveFit",
    "tabular_mdp",
    "value_iteration",
    "soft_value_iteration",
    "policy_evaluation",
    "success_probability",
    "success_curve",
    "expected_return",
    "optimal_return",
    "greedy_policy",
    "additive_fit",
]

#: Above this many states, linear systems are solved by iteration instead of a dense solve.
DENSE_SOLVE_MAX_STATES = 4096


class _UnpacksAsTuple:
    """Unpacking as the tuple of earlier versions still works, with a DeprecationWarning."""

    _tuple_names: tuple[str, ...] = ()

    def _as_tuple(self) -> tuple:
        return tuple(getattr(self, n) for n in self._tuple_names)

    def __iter__(self) -> Iterator:  # type: ignore[override]
        names = ", ".join(self._tuple_names)
        warnings.warn(
            f"unpacking a {type(self).__name__} as ({names}) is deprecated; read the attributes "
            "instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return iter(self._as_tuple())


@dataclasses.dataclass(frozen=True)
class TabularMDP(_UnpacksAsTuple, Result):
    """The model of a finite MDP as dense float64 tensors (``S`` states, ``A`` actions).

    Transitions are stored as up to ``B`` outcomes per state-action pair, which keeps large
    deterministic models (``B = 1``) small: outcome ``b`` of taking ``a`` in ``s`` moves to
    ``next_state[s, a, b]`` with probability ``prob[s, a, b]`` *without* ending the episode;
    the remaining probability ``terminate[s, a] = 1 - prob[s, a].sum()`` ends it.

    Attributes
    ----------
    next_state : torch.Tensor, shape ``[S, A, B]``, int64
        Successor states of the non-terminating outcomes (padding entries have probability 0).
    prob : torch.Tensor, shape ``[S, A, B]``
        Their probabilities.
    R : torch.Tensor, shape ``[S, A]``
        Expected immediate reward of taking ``a`` in ``s``.
    success : torch.Tensor, shape ``[S, A]``
        Probability that the step ends the episode with a positive reward (a success).
    terminate : torch.Tensor, shape ``[S, A]``
        Probability that the step ends the episode at all.
    initial : torch.Tensor, shape ``[S]``
        Distribution of the state returned by ``reset``.
    labels : tuple or None
        What each state index stands for (for example the positions on a field), if known.

    Notes
    -----
    Unpacking as ``P, R, G, T, initial = mdp`` (the named tuple of earlier versions, with the
    dense ``P``) still works but is deprecated.
    """

    _tuple_names = ("P", "R", "success", "terminate", "initial")

    next_state: torch.Tensor
    prob: torch.Tensor
    R: torch.Tensor
    success: torch.Tensor
    terminate: torch.Tensor
    initial: torch.Tensor
    labels: tuple | None = None

    def __post_init__(self) -> None:
        fields = {"next_state": 3, "prob": 3, "R": 2, "success": 2, "terminate": 2, "initial": 1}
        for name, ndim in fields.items():
            t = check_tensor(getattr(self, name), name, ndim=ndim)
            if name == "next_state":
                if t.is_floating_point() or t.dtype == torch.bool:
                    raise TypeError(f"next_state must hold integer state indices, got {t.dtype}")
        check_same_device(**{name: getattr(self, name) for name in fields})
        check_same_dtype(**{name: getattr(self, name) for name in fields})
        for name in ("prob", "R", "success", "terminate", "initial"):
            if getattr(self, name).dtype != torch.float64:
                raise TypeError(f"{name} must be a float64 tensor, got {getattr(self, name).dtype}")
        S, A = self.R.shape
        for name, shape in (("success", (S, A)), ("terminate", (S, A)), ("initial", (S,))):
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(
                    f"{name} must have shape {list(shape)} matching R, got "
                    f"{list(getattr(self, name).shape)}"
                )
        if bool(((self.next_state < 0) | (self.next_state >= S)).any()):
            raise ValueError(f"next_state must hold state indices in [0, {S})")
        if self.next_state.shape[:2] != (S, A) or self.prob.shape != self.next_state.shape:
            raise ValueError(
                "next_state and prob must have shape [S, A, B] matching R [S, A], got "
                f"{tuple(self.next_state.shape)}, {tuple(self.prob.shape)} and {(S, A)}"
            )
        total = self.prob.sum(-1) + self.terminate
        if not torch.allclose(total, torch.ones_like(total), atol=1e-9):
            raise ValueError("prob.sum(-1) + terminate must be 1 for every state-action pair")
        if self.labels is not None and len(self.labels) != S:
            raise ValueError(f"labels must have one entry per state ({S}), got {len(self.labels)}")

    @property
    def n_states(self) -> int:
        """Number of states ``S``."""
        return int(self.R.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions ``A``."""
        return int(self.R.shape[1])

    @property
    def P(self) -> torch.Tensor:
        """Dense non-terminating transition tensor ``P[s, a, s']``, shape ``[S, A, S]``."""
        S, A = self.n_states, self.n_actions
        if S * A * S > 50_000_000:
            raise ValueError(
                f"a dense P would have {S * A * S} entries; use TabularMDP.expect() instead"
            )
        P = torch.zeros(S, A, S, dtype=torch.float64)
        P.scatter_add_(2, self.next_state, self.prob)
        return P

    @property
    def G(self) -> torch.Tensor:
        """Deprecated name of :attr:`success`."""
        warnings.warn("TabularMDP.G is deprecated; use .success", DeprecationWarning, stacklevel=2)
        return self.success

    @property
    def T(self) -> torch.Tensor:
        """Deprecated name of :attr:`terminate` (``T`` is reserved for temperatures)."""
        warnings.warn(
            "TabularMDP.T is deprecated; use .terminate", DeprecationWarning, stacklevel=2
        )
        return self.terminate

    def expect(self, V: torch.Tensor) -> torch.Tensor:
        """``sum_{s'} P(s' | s, a) V(s')`` for every pair: shape ``[S, A]`` (``V``: ``[S]``)."""
        check_tensor(V, "V", shape=(self.n_states,), floating=True)
        check_same_device(V=V, R=self.R)
        return self._expect(V.to(self.prob.dtype))

    def _expect(self, V: torch.Tensor) -> torch.Tensor:  # the solvers' unchecked inner loop
        return (self.prob * V[self.next_state]).sum(-1)

    def transition_matrix(self, pi: torch.Tensor) -> torch.Tensor:
        """Dense ``P_pi[s, s'] = sum_a pi(a|s) P(s'|s,a)`` for a policy matrix ``pi [S, A]``."""
        check_tensor(pi, "pi", shape=(self.n_states, self.n_actions), floating=True)
        check_same_device(pi=pi, R=self.R)
        return self._transition_matrix(pi.to(self.prob.dtype))

    def _transition_matrix(self, pi: torch.Tensor) -> torch.Tensor:
        S = self.n_states
        P_pi = torch.zeros(S, S, dtype=torch.float64)
        w = (pi[:, :, None] * self.prob).reshape(S, -1)
        P_pi.scatter_add_(1, self.next_state.reshape(S, -1), w)
        return P_pi


@dataclasses.dataclass(frozen=True)
class MDPSolution(_UnpacksAsTuple, Result):
    """Result of :func:`value_iteration`.

    Attributes
    ----------
    V : torch.Tensor, shape ``[S]``
    Q : torch.Tensor, shape ``[S, A]``
    policy : torch.Tensor, shape ``[S]``, int64
        Greedy actions (ties to the lowest action).
    iterations : int

    Notes
    -----
    Unpacking as ``V, Q, policy, iterations = sol`` (earlier versions) is deprecated.
    """

    _tuple_names = ("V", "Q", "policy", "iterations")

    V: torch.Tensor
    Q: torch.Tensor
    policy: torch.Tensor
    iterations: int


@dataclasses.dataclass(frozen=True)
class SoftSolution(Result):
    """Result of :func:`soft_value_iteration`.

    Attributes
    ----------
    V : torch.Tensor, shape ``[S]``
        Soft values ``T log sum_a exp(Q(s, a) / T)``.
    Q : torch.Tensor, shape ``[S, A]``
    policy : torch.Tensor, shape ``[S, A]``
        The soft-optimal (Boltzmann) policy ``exp((Q - V) / T)``.
    T : float
        The temperature.
    iterations : int
    """

    V: torch.Tensor
    Q: torch.Tensor
    policy: torch.Tensor
    T: float
    iterations: int


@dataclasses.dataclass(frozen=True)
class PolicyValue(_UnpacksAsTuple, Result):
    """Result of :func:`policy_evaluation`: ``V`` ``[S]`` and ``Q`` ``[S, A]`` of a policy.

    Unpacking as ``V, Q = policy_evaluation(...)`` (the tuple of earlier versions) still works
    but is deprecated.
    """

    _tuple_names = ("V", "Q")

    V: torch.Tensor
    Q: torch.Tensor


@dataclasses.dataclass(frozen=True)
class AdditiveFit(Result):
    """Result of :func:`additive_fit`.

    Attributes
    ----------
    bias : torch.Tensor, shape ``[S]``
    weights : torch.Tensor, shape ``[S, K]``
        Per-bit terms ``w_j(s)``: the fit is ``bias(s) + sum_j w_j(s) a_j``.
    fitted : torch.Tensor, shape ``[S, 2**K]``
        The fitted values for every action.
    residual : torch.Tensor, shape ``[S, 2**K]``
        ``Q - fitted``: what no additive function can carry (zero iff ``Q`` is additive).
    greedy : torch.Tensor, shape ``[S]``, int64
        Action index that maximises the fit (bit ``j`` on iff ``w_j > 0``).
    """

    bias: torch.Tensor
    weights: torch.Tensor
    fitted: torch.Tensor
    residual: torch.Tensor
    greedy: torch.Tensor


# ----------------------------------------------------------------------------- reading models
def _from_toy_text(u: Any) -> TabularMDP:
    table = u.P
    n_s = int(u.observation_space.n)
    n_a = int(u.action_space.n)
    B = max(1, max(len(out) for row in table.values() for out in row.values()))
    nxt = torch.zeros(n_s, n_a, B, dtype=torch.int64)
    prob = torch.zeros(n_s, n_a, B, dtype=torch.float64)
    R = torch.zeros(n_s, n_a, dtype=torch.float64)
    succ = torch.zeros(n_s, n_a, dtype=torch.float64)
    term = torch.zeros(n_s, n_a, dtype=torch.float64)
    for s, row in table.items():
        for a, outcomes in row.items():
            for b, (p, s2, r, done) in enumerate(outcomes):
                R[s, a] += p * r
                if done:
                    term[s, a] += p
                    if r > 0:
                        succ[s, a] += p
                else:
                    nxt[s, a, b] = int(s2)
                    prob[s, a, b] = p
    isd = getattr(u, "initial_state_distrib", None)
    if isd is None:
        initial = torch.zeros(n_s, dtype=torch.float64)
        initial[int(getattr(u, "start_state_index", 0))] = 1.0
    else:
        initial = torch.as_tensor(isd, dtype=torch.float64).clone()
    return TabularMDP(nxt, prob, R, succ, term, initial)


def tabular_mdp(env: Any) -> TabularMDP:
    """The model of an environment as a :class:`TabularMDP`.

    Parameters
    ----------
    env : gymnasium.Env or TabularMDP
        A toy-text environment (its ``unwrapped.P[s][a]`` lists ``(p, s', r, done)``), an
        environment with a ``tabular()`` method (:class:`~ebmlib.rl.envs.BlockerEnv`,
        :class:`~ebmlib.rl.envs.CombinationLockEnv`), or a :class:`TabularMDP` (returned as is).

    Returns
    -------
    TabularMDP

    Raises
    ------
    TypeError
        If ``env`` carries no model.
    """
    if isinstance(env, TabularMDP):
        return env
    u = getattr(env, "unwrapped", env)
    if callable(getattr(u, "tabular", None)):
        mdp = u.tabular()
        if not isinstance(mdp, TabularMDP):
            raise TypeError(f"env.tabular() must return a TabularMDP, got {type(mdp).__name__}")
        return mdp
    if isinstance(getattr(u, "P", None), dict):
        return _from_toy_text(u)
    raise TypeError(
        "env must carry its model: a toy-text environment with env.unwrapped.P (FrozenLake, "
        "CliffWalking, Taxi), an environment with a tabular() method, or a TabularMDP; got "
        f"{type(env).__name__}"
    )


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


def _policy_matrix(policy: Any, n_s: int, n_a: int) -> torch.Tensor:
    """Policy as a row-stochastic ``[S, A]`` float64 matrix (from actions ``[S]`` or probs)."""
    policy = check_tensor(policy, "policy", ndim=(1, 2))
    if policy.dim() == 1:
        if policy.shape[0] != n_s:
            raise ValueError(
                f"policy must have {n_s} entries (one action per state), got {tuple(policy.shape)}"
            )
        if policy.is_floating_point() and bool((policy != policy.round()).any()):
            raise ValueError("a 1-d policy must hold integer actions")
        acts = policy.long().cpu()
        if bool((acts < 0).any() | (acts >= n_a).any()):
            raise ValueError(f"policy actions must lie in [0, {n_a - 1}]")
        return torch.nn.functional.one_hot(acts, n_a).to(torch.float64)
    if tuple(policy.shape) != (n_s, n_a):
        raise ValueError(f"policy must have shape [{n_s}, {n_a}], got {list(policy.shape)}")
    pi = policy.detach().cpu().to(torch.float64)
    if not bool(torch.isfinite(pi).all()) or bool((pi < 0).any()):
        raise ValueError("a 2-d policy must hold finite, non-negative probabilities")
    if not torch.allclose(pi.sum(1), torch.ones(n_s, dtype=pi.dtype)):
        raise ValueError("a 2-d policy must hold probabilities that sum to 1 in every row")
    return pi


def _check_iter(tol: float, max_iter: int) -> tuple[float, int]:
    return check_positive(tol, "tol"), check_int(max_iter, "max_iter", minimum=1)


# --------------------------------------------------------------------------------- solvers
def value_iteration(
    env: Any, gamma: float, *, tol: float = 1e-12, max_iter: int = 100_000
) -> MDPSolution:
    r"""Solve a finite MDP by value iteration.

    Iterates the Bellman optimality operator :math:numref:`eq-rl-value-iteration`

    .. math:: Q(s,a) = R(s,a) + \gamma \sum_{s'} P(s'|s,a) V(s'), \quad V(s) = \max_a Q(s,a)

    from ``V = 0`` until the largest change is below ``tol``. For ``gamma < 1`` the operator is
    a contraction, so the fixed point ``V*`` is unique (chapter 9).

    Parameters
    ----------
    env : gymnasium.Env or TabularMDP
        An environment that carries its model (see :func:`tabular_mdp`).
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
    tol, max_iter = _check_iter(tol, max_iter)
    mdp = tabular_mdp(env)
    V = torch.zeros(mdp.n_states, dtype=torch.float64)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        V_new = (mdp.R + gamma * mdp._expect(V)).max(dim=1).values
        delta = float((V_new - V).abs().max())
        V = V_new
        if delta < tol:
            break
    Q = mdp.R + gamma * mdp._expect(V)
    return MDPSolution(V, Q, greedy_policy(Q), it)


def _soft_backup(Q: torch.Tensor, T: float) -> torch.Tensor:
    """Soft maximum over actions, ``T log sum_a exp(Q(s, a) / T)``: ``[S, A] -> [S]``."""
    return T * torch.logsumexp(Q / T, dim=1)


@renamed_argument("temperature", "T", since="0.2")
@renamed_argument("alpha", "T", since="0.2")
def soft_value_iteration(
    env: Any,
    gamma: float,
    T: float,
    *,
    tol: float = 1e-12,
    max_iter: int = 100_000,
) -> SoftSolution:
    r"""Solve the entropy-regularised (soft) Bellman equation by fixed-point iteration.

    Maximising the return plus ``T`` times the entropy of the policy in every visited state
    leads to the soft Bellman equation (chapter 9; :math:numref:`eq-energy-policies-softv` with
    a sum over actions)

    .. math::

        Q(s, a) = R(s, a) + \gamma \sum_{s'} P(s' | s, a) V(s'), \qquad
        V(s) = T \log \sum_a e^{Q(s, a) / T},

    whose solution is reached by iterating both lines from ``V = 0`` (the operator is a
    ``gamma``-contraction, like the hard one). The soft-optimal policy is
    ``pi(a | s) = exp((Q(s, a) - V(s)) / T)``. As ``T -> 0`` the soft values decrease to the
    hard ones, with ``V* <= V_T <= V* + T log(A) / (1 - gamma)``. Computed with
    ``torch.logsumexp``, so large ``Q / T`` do not overflow.

    Parameters
    ----------
    env : gymnasium.Env or TabularMDP
        An environment that carries its model (see :func:`tabular_mdp`).
    gamma : float
        Discount factor in ``[0, 1)``.
    T : float
        Temperature ``> 0`` (``temperature`` and ``alpha`` are deprecated aliases).
    tol : float
        Stopping tolerance on ``max |V_new - V|``.
    max_iter : int
        Iteration cap.

    Returns
    -------
    SoftSolution
        ``V`` ``[S]``, ``Q`` ``[S, A]``, ``policy`` ``[S, A]`` (probabilities), ``T`` and the
        iteration count.

    Examples
    --------
    >>> import gymnasium as gym
    >>> env = gym.make("FrozenLake-v1")
    >>> soft = soft_value_iteration(env, gamma=0.99, T=1e-4)
    >>> round(float(soft.V[0]), 3)
    0.542
    """
    gamma = check_probability(gamma, "gamma")
    if gamma >= 1.0:
        raise ValueError(f"gamma must be < 1 for soft value iteration, got {gamma}")
    T = check_positive(T, "T")
    tol, max_iter = _check_iter(tol, max_iter)
    mdp = tabular_mdp(env)
    V = torch.zeros(mdp.n_states, dtype=torch.float64)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        V_new = _soft_backup(mdp.R + gamma * mdp._expect(V), T)
        delta = float((V_new - V).abs().max())
        V = V_new
        if delta < tol:
            break
    Q = mdp.R + gamma * mdp._expect(V)
    V = _soft_backup(Q, T)
    policy = torch.exp((Q - V[:, None]) / T)
    return SoftSolution(V, Q, policy, T, it)


def _solve_policy(
    mdp: TabularMDP, pi: torch.Tensor, b: torch.Tensor, gamma: float, tol: float, max_iter: int
) -> torch.Tensor:
    """Solve ``x = b + gamma P_pi x``: dense solve for small S, else iteration from 0."""
    S = mdp.n_states
    if S <= DENSE_SOLVE_MAX_STATES:
        A = torch.eye(S, dtype=torch.float64) - gamma * mdp._transition_matrix(pi)
        return torch.linalg.solve(A, b)
    x = torch.zeros(S, dtype=torch.float64)
    for _ in range(max_iter):
        x_new = b + gamma * (pi * mdp._expect(x)).sum(1)
        delta = float((x_new - x).abs().max())
        x = x_new
        if delta < tol:
            return x
    raise RuntimeError(
        f"the policy's linear Bellman equation did not converge in max_iter={max_iter} "
        "iterations (a policy that never terminates with gamma = 1?)"
    )


def policy_evaluation(
    env: Any, policy: torch.Tensor, gamma: float, *, tol: float = 1e-12, max_iter: int = 100_000
) -> PolicyValue:
    r"""Exact value of a fixed policy from the linear Bellman equation.

    Solves :math:numref:`eq-rl-bellman-v`, ``(I - gamma P_pi) V = R_pi`` with
    ``P_pi[s, s'] = sum_a pi(a|s) P(s'|s,a)`` and ``R_pi[s] = sum_a pi(a|s) R(s,a)``, then
    ``Q = R + gamma P V`` (:math:numref:`eq-rl-q-from-v`). Up to
    ``DENSE_SOLVE_MAX_STATES`` states by a dense solve, above by iteration to ``tol``.

    Parameters
    ----------
    env : gymnasium.Env or TabularMDP
    policy : torch.Tensor
        Deterministic actions ``[S]`` or action probabilities ``[S, A]``.
    gamma : float
        Discount factor in ``[0, 1]``; ``gamma = 1`` needs a policy that terminates surely.
    tol, max_iter
        For the iterative solve of large models.

    Returns
    -------
    PolicyValue
        ``V`` ``[S]`` and ``Q`` ``[S, A]`` (float64).
    """
    gamma = check_probability(gamma, "gamma")
    tol, max_iter = _check_iter(tol, max_iter)
    mdp = tabular_mdp(env)
    pi = _policy_matrix(policy, mdp.n_states, mdp.n_actions)
    V = _solve_policy(mdp, pi, (pi * mdp.R).sum(1), gamma, tol, max_iter)
    return PolicyValue(V, mdp.R + gamma * mdp._expect(V))


def success_probability(
    env: Any,
    policy: torch.Tensor,
    *,
    max_steps: int | None = None,
    per_state: bool = False,
    tol: float = 1e-13,
    max_iter: int = 1_000_000,
) -> float | torch.Tensor:
    r"""Exact probability that ``policy`` ends an episode with a positive reward.

    With ``g_pi[s]`` the probability that one step from ``s`` terminates with a positive reward
    and ``P_pi`` the non-terminating transitions, the success probability ``x`` solves
    :math:numref:`eq-rl-success`, ``x = g_pi + P_pi x`` (no discount). On the states from which
    a success is reachable at all the solution is unique; elsewhere ``x = 0``. With
    ``max_steps`` the episode is cut after that many steps (gymnasium's ``TimeLimit``) and ``x``
    is obtained by ``max_steps`` backward iterations instead.

    Parameters
    ----------
    env : gymnasium.Env or TabularMDP
    policy : torch.Tensor
        Deterministic actions ``[S]`` or action probabilities ``[S, A]``; for a learner's
        greedy policy pass ``greedy_policy(Q)``.
    max_steps : int, optional
        Step limit; ``None`` means no limit.
    per_state : bool
        Return the vector over start states instead of the average over ``reset``'s
        initial distribution.
    tol, max_iter
        For the iterative solve of large models without a step limit.

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
    tol, max_iter = _check_iter(tol, max_iter)
    mdp = tabular_mdp(env)
    n_s = mdp.n_states
    pi = _policy_matrix(policy, n_s, mdp.n_actions)
    g_pi = (pi * mdp.success).sum(1)
    if max_steps is not None:
        max_steps = check_int(max_steps, "max_steps", minimum=0)
        x = torch.zeros(n_s, dtype=torch.float64)
        for _ in range(max_steps):
            x = g_pi + (pi * mdp._expect(x)).sum(1)
    elif n_s <= DENSE_SOLVE_MAX_STATES:
        P_pi = mdp._transition_matrix(pi)
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
        # x_k = P(success within k steps) increases to x; a deterministic chain gets there
        # exactly after at most S steps, a stochastic one geometrically.
        x = torch.zeros(n_s, dtype=torch.float64)
        for _ in range(max_iter):
            x_new = g_pi + (pi * mdp._expect(x)).sum(1)
            delta = float((x_new - x).abs().max())
            x = x_new
            if delta < tol:
                break
    if per_state:
        return x
    return float(mdp.initial @ x)


def success_curve(env: Any, policy: torch.Tensor, max_steps: int) -> torch.Tensor:
    """Exact probability of a success within ``k`` steps, for ``k = 0, 1, ..., max_steps``.

    The distribution function of the step at which the episode succeeds, from ``reset``'s
    initial distribution (:math:numref:`eq-rl-success` iterated ``k`` times).

    Returns
    -------
    torch.Tensor, shape ``[max_steps + 1]``, non-decreasing, starting at 0.
    """
    max_steps = check_int(max_steps, "max_steps", minimum=0)
    mdp = tabular_mdp(env)
    pi = _policy_matrix(policy, mdp.n_states, mdp.n_actions)
    g_pi = (pi * mdp.success).sum(1)
    x = torch.zeros(mdp.n_states, dtype=torch.float64)
    out = [0.0]
    for _ in range(max_steps):
        x = g_pi + (pi * mdp._expect(x)).sum(1)
        out.append(float(mdp.initial @ x))
    return torch.tensor(out, dtype=torch.float64)


def expected_return(
    env: Any,
    policy: torch.Tensor,
    max_steps: int,
    *,
    gamma: float = 1.0,
    per_state: bool = False,
) -> float | torch.Tensor:
    r"""Exact expected return of ``policy`` in an episode cut after ``max_steps`` steps.

    Backward recursion ``J_k = R_pi + gamma P_pi J_{k-1}``, ``J_0 = 0``: the sum of the (by
    default undiscounted) rewards of an episode under a time limit, the quantity whose sample
    mean an evaluation loop reports.

    Parameters
    ----------
    env : gymnasium.Env or TabularMDP
    policy : torch.Tensor
        Deterministic actions ``[S]`` or action probabilities ``[S, A]``.
    max_steps : int
        The time limit (``env.spec.max_episode_steps`` for a registered environment).
    gamma : float
        Discount factor in ``[0, 1]``.
    per_state : bool
        Return the vector over start states instead of the average over the initial
        distribution.

    Returns
    -------
    float or torch.Tensor ``[S]``
    """
    max_steps = check_int(max_steps, "max_steps", minimum=0)
    gamma = check_probability(gamma, "gamma")
    mdp = tabular_mdp(env)
    pi = _policy_matrix(policy, mdp.n_states, mdp.n_actions)
    r_pi = (pi * mdp.R).sum(1)
    J = torch.zeros(mdp.n_states, dtype=torch.float64)
    for _ in range(max_steps):
        J = r_pi + gamma * (pi * mdp._expect(J)).sum(1)
    return J if per_state else float(mdp.initial @ J)


def optimal_return(
    env: Any, max_steps: int, *, gamma: float = 1.0, per_state: bool = False
) -> float | torch.Tensor:
    r"""Best possible expected return in an episode cut after ``max_steps`` steps.

    Finite-horizon value iteration ``J_k = max_a [R + gamma P J_{k-1}]``, ``J_0 = 0``
    (:math:numref:`eq-rl-value-iteration` run for exactly ``max_steps`` backups): no policy,
    stationary or not, can do better within the time limit.

    Returns
    -------
    float or torch.Tensor ``[S]``
    """
    max_steps = check_int(max_steps, "max_steps", minimum=0)
    gamma = check_probability(gamma, "gamma")
    mdp = tabular_mdp(env)
    J = torch.zeros(mdp.n_states, dtype=torch.float64)
    for _ in range(max_steps):
        J = (mdp.R + gamma * mdp._expect(J)).max(1).values
    return J if per_state else float(mdp.initial @ J)


def additive_fit(Q: torch.Tensor, n_bits: int) -> AdditiveFit:
    r"""Least-squares fit of ``Q(s, a)`` by a sum of one term per action bit.

    Actions are the ``2**n_bits`` binary vectors ``a``, indexed least significant bit first
    (action ``k`` has bit ``j`` equal to ``(k >> j) & 1``). For every state the fit
    ``bias(s) + sum_j w_j(s) a_j`` minimises the squared error over all actions, weighted
    equally; with this weighting the bits are independent and balanced, so the solution is

    .. math:: w_j(s) = \overline{Q}(s \mid a_j = 1) - \overline{Q}(s \mid a_j = 0),

    the main effect of bit ``j`` (chapter 10). An agent whose Q-function has no couplings between
    action bits (an RBM without hidden units, independent per-bit learners) can represent at
    best such a function; the ``residual`` is what it cannot carry. Any additive function obeys
    ``f(..0..0..) + f(..1..1..) = f(..0..1..) + f(..1..0..)`` for every pair of bits.

    Parameters
    ----------
    Q : torch.Tensor, shape ``[S, 2**n_bits]``
    n_bits : int
        Number of action bits ``K`` (``1 <= K <= 24``).

    Returns
    -------
    AdditiveFit
    """
    from .._states import binary_states

    n_bits = check_int(n_bits, "n_bits", minimum=1)
    Q = check_tensor(Q, "Q", ndim=2)
    if not Q.is_floating_point():
        raise TypeError(f"Q must be a floating-point tensor, got {Q.dtype}")
    if Q.shape[1] != 2**n_bits:
        raise ValueError(f"Q must have 2**n_bits = {2**n_bits} columns, got {Q.shape[1]}")
    if not bool(torch.isfinite(Q).all()):
        raise ValueError("Q must be finite")
    bits = binary_states(n_bits, dtype=Q.dtype, device=Q.device)  # [A, K]
    n_a = bits.shape[0]
    mean_on = Q @ bits / (n_a / 2)  # [S, K]: mean of Q over actions with a_j = 1
    mean_off = Q @ (1 - bits) / (n_a / 2)
    w = mean_on - mean_off
    bias = Q.mean(1) - w.sum(1) / 2
    fitted = bias[:, None] + w @ bits.T
    greedy = ((w > 0).long() << torch.arange(n_bits, device=Q.device)).sum(1)
    return AdditiveFit(bias, w, fitted, Q - fitted, greedy)
