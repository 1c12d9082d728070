"""Tests of ebmlib.rl.exact against independent answers (chapters 9 and 10).

Closed forms, exact rational arithmetic, a second algorithm (soft policy iteration by linear
algebra), plain breadth-first search over the Blocker task and combinatorial counts; every
comparison is with code written here or in ``tests/_rl_reference.py``, never with the library.
"""

from __future__ import annotations

import math
from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest
import torch
from _rl_reference import (  # tests/_rl_reference.py
    bfs_min_steps,
    min_steps_all,
    rational_absorption,
    ref_heuristic,
    rollout_steps,
    start_states,
)

import ebmlib.rl  # noqa: F401  (registers the environments)
from ebmlib.rl import exact
from ebmlib.rl.envs import BlockerEnv, CombinationLockEnv


@pytest.fixture(scope="module")
def frozenlake():
    return gym.make("FrozenLake-v1")


def _dense_model(env):
    """R [S, A] and non-terminating P [S, A, S] read straight from a toy-text table."""
    u = env.unwrapped
    S, A = u.observation_space.n, u.action_space.n
    R = np.zeros((S, A))
    P = np.zeros((S, A, S))
    for s in range(S):
        for a in range(A):
            for p, s2, r, done in u.P[s][a]:
                R[s, a] += p * r
                if not done:
                    P[s, a, s2] += p
    return R, P


# ------------------------------------------------------------------- soft value iteration
def soft_policy_iteration(R, P, gamma, T, iters=500):
    """Soft-optimal values by a second algorithm: evaluate the Boltzmann policy exactly (a
    linear solve with the entropy bonus), improve it to softmax(Q / T), repeat."""
    S, A = R.shape
    pi = np.full((S, A), 1.0 / A)
    for _ in range(iters):
        ent = -(pi * np.log(np.where(pi > 0, pi, 1.0))).sum(1)
        P_pi = np.einsum("sa,sat->st", pi, P)
        V = np.linalg.solve(np.eye(S) - gamma * P_pi, (pi * R).sum(1) + T * ent)
        Q = R + gamma * P @ V
        z = Q / T - (Q / T).max(1, keepdims=True)
        new = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        if np.abs(new - pi).max() < 1e-15:
            break
        pi = new
    return V, Q, pi


def _one_state_mdp(rewards):
    """One state that loops to itself; action a pays rewards[a]."""
    r = torch.tensor([rewards], dtype=torch.float64)
    A = r.shape[1]
    return exact.TabularMDP(
        torch.zeros(1, A, 1, dtype=torch.int64),
        torch.ones(1, A, 1, dtype=torch.float64),
        r,
        torch.zeros(1, A, dtype=torch.float64),
        torch.zeros(1, A, dtype=torch.float64),
        torch.ones(1, dtype=torch.float64),
    )


def check_soft_value_iteration():
    """The soft Bellman equation V = T log sum_a exp(Q / T), Q = R + gamma P V against
    (a) the closed form of a one-state loop, V = T log sum_a exp(r_a / T) / (1 - gamma), and
    (b) soft policy iteration on FrozenLake, at temperatures below and above 1."""
    rewards = [1.0, -0.5, 0.25]
    for T in (0.1, 1.0, 10.0):
        sol = exact.soft_value_iteration(_one_state_mdp(rewards), 0.9, T, max_iter=20_000)
        closed = T * math.log(sum(math.exp(r / T) for r in rewards)) / (1 - 0.9)
        assert abs(float(sol.V[0]) - closed) < 1e-9
    env = gym.make("FrozenLake-v1")
    R, P = _dense_model(env)
    for T in (0.05, 0.5, 2.0):
        sol = exact.soft_value_iteration(env, 0.95, T, max_iter=20_000)
        V, Q, pi = soft_policy_iteration(R, P, 0.95, T)
        np.testing.assert_allclose(sol.V.numpy(), V, atol=1e-9, rtol=0)
        np.testing.assert_allclose(sol.Q.numpy(), Q, atol=1e-9, rtol=0)
        np.testing.assert_allclose(sol.policy.numpy(), pi, atol=1e-9, rtol=0)


def test_soft_value_iteration_against_closed_form_and_soft_policy_iteration():
    """Checks the soft Bellman equation (eq-energy-policies-softv, summed over actions) at
    T in {0.1, 1, 10} (closed form) and T in {0.05, 0.5, 2} (soft policy iteration)."""
    check_soft_value_iteration()


def _soft_no_T_factor(Q, T):
    return torch.logsumexp(Q / T, dim=1)


def _soft_no_division(Q, T):
    return T * torch.logsumexp(Q, dim=1)


def _soft_hard_max(Q, T):
    return Q.max(dim=1).values


def _soft_log_mean(Q, T):
    return T * (torch.logsumexp(Q / T, dim=1) - math.log(Q.shape[1]))


def _soft_min(Q, T):
    return -T * torch.logsumexp(-Q / T, dim=1)


@pytest.mark.parametrize(
    "wrong",
    [_soft_no_T_factor, _soft_no_division, _soft_hard_max, _soft_log_mean, _soft_min],
    ids=["missing-T-factor", "missing-division-by-T", "hard-max", "log-mean", "soft-min"],
)
def test_soft_checks_catch_wrong_backups(monkeypatch, wrong):
    """Injected wrong soft backups (no factor T, no division by T, the hard max, a log-mean
    that drops log A, the soft minimum) are caught by the closed-form and policy-iteration
    comparisons."""
    monkeypatch.setattr(exact, "_soft_backup", wrong)
    with pytest.raises(AssertionError):
        check_soft_value_iteration()


def test_soft_values_tend_to_hard_values(frozenlake):
    """As T -> 0 the soft values decrease to V*, within V* <= V_T <= V* + T log(A) / (1 -
    gamma) (the entropy of a policy is at most log A per step), on FrozenLake and Taxi."""
    for env, gamma in ((frozenlake, 0.99), (gym.make("Taxi-v4"), 0.9)):
        hard = exact.value_iteration(env, gamma).V
        n_a = env.action_space.n
        prev = None
        for T in (1.0, 0.1, 0.01, 0.001):
            V = exact.soft_value_iteration(env, gamma, T).V
            assert bool((V >= hard - 1e-9).all())
            assert bool((V <= hard + T * math.log(n_a) / (1 - gamma) + 1e-9).all())
            if prev is not None:
                assert bool((V <= prev + 1e-12).all())  # monotone in T
            prev = V
        assert float((prev - hard).abs().max()) < 0.01 * math.log(n_a) / (1 - gamma) * 0.1


def test_soft_value_iteration_large_and_tiny_temperatures(frozenlake):
    """logsumexp keeps T = 1e-6 finite (equal to V* to 1e-4) and the policy normalised; the
    deprecated keywords ``temperature`` and ``alpha`` still work, with a warning."""
    sol = exact.soft_value_iteration(frozenlake, 0.99, 1e-6)
    hard = exact.value_iteration(frozenlake, 0.99)
    assert bool(torch.isfinite(sol.V).all())
    torch.testing.assert_close(sol.V, hard.V, atol=1e-4, rtol=0)
    torch.testing.assert_close(sol.policy.sum(1), torch.ones(16, dtype=torch.float64))
    ref = exact.soft_value_iteration(frozenlake, 0.9, 0.5).V
    for kw in ("temperature", "alpha"):
        with pytest.warns(DeprecationWarning, match=kw):
            torch.testing.assert_close(
                exact.soft_value_iteration(frozenlake, 0.9, **{kw: 0.5}).V, ref
            )
    with pytest.raises(ValueError, match="T"):
        exact.soft_value_iteration(frozenlake, 0.9, 0.0)
    with pytest.raises(ValueError, match="gamma"):
        exact.soft_value_iteration(frozenlake, 1.0, 0.5)


# -------------------------------------------------------------------- FrozenLake anchors
def test_frozenlake_success_probabilities_are_exact_fractions(frozenlake):
    """eq-rl-success in exact rational arithmetic: the greedy optimal policy succeeds with
    probability 14/17 = 0.8235; the policy that differs only in state 2, where the two best
    Q-values nearly tie (gap 0.033), succeeds with 32/41 = 0.7805."""
    sol = exact.value_iteration(frozenlake, 0.99)
    pol = sol.policy.tolist()
    x = rational_absorption(16, frozenlake.unwrapped.P, pol)
    assert x[0] == Fraction(14, 17)
    assert exact.success_probability(frozenlake, sol.policy) == pytest.approx(14 / 17, abs=1e-12)
    q2 = sol.Q[2].sort(descending=True)
    assert int(q2.indices[1]) == 0 and float(q2.values[0] - q2.values[1]) < 0.035
    near = list(pol)
    near[2] = 0
    assert rational_absorption(16, frozenlake.unwrapped.P, near)[0] == Fraction(32, 41)
    assert exact.success_probability(frozenlake, torch.tensor(near)) == pytest.approx(
        32 / 41, abs=1e-12
    )


def test_time_limited_quantities(frozenlake):
    """Within H steps: the success curve rises to the unlimited success probability; on
    FrozenLake (reward 1 exactly at a success) the expected return equals P(success within H);
    no policy beats optimal_return."""
    sol = exact.value_iteration(frozenlake, 0.99)
    curve = exact.success_curve(frozenlake, sol.policy, 400)
    assert float(curve[0]) == 0.0 and bool((curve.diff() >= -1e-15).all())
    assert float(curve[100]) == pytest.approx(
        exact.success_probability(frozenlake, sol.policy, max_steps=100), abs=1e-15
    )
    assert float(curve[-1]) == pytest.approx(14 / 17, abs=2e-3)
    g = torch.Generator().manual_seed(0)
    best = exact.optimal_return(frozenlake, 100)
    for pi in (sol.policy, torch.softmax(torch.randn(16, 4, generator=g, dtype=torch.float64), 1)):
        ret = exact.expected_return(frozenlake, pi, 100)
        assert ret == pytest.approx(exact.success_probability(frozenlake, pi, max_steps=100))
        assert ret <= best + 1e-12
    # discounted and long enough, the expected return is V^pi of the start
    V = exact.policy_evaluation(frozenlake, sol.policy, 0.9).V
    assert exact.expected_return(frozenlake, sol.policy, 2000, gamma=0.9) == pytest.approx(
        float(V[0]), abs=1e-12
    )


def test_iterative_solves_agree_with_dense_ones(frozenlake, monkeypatch):
    """Large models are solved by iteration: forcing that path reproduces the dense solves."""
    pol = exact.value_iteration(frozenlake, 0.99).policy
    V = exact.policy_evaluation(frozenlake, pol, 0.99).V
    p = exact.success_probability(frozenlake, pol, per_state=True)
    monkeypatch.setattr(exact, "DENSE_SOLVE_MAX_STATES", 1)
    torch.testing.assert_close(
        exact.policy_evaluation(frozenlake, pol, 0.99).V, V, atol=1e-10, rtol=0
    )
    torch.testing.assert_close(
        exact.success_probability(frozenlake, pol, per_state=True), p, atol=1e-10, rtol=0
    )


def test_results_are_dataclasses_and_the_model_matches_the_table(frozenlake):
    """Results derive from Result (attributes and mapping access); TabularMDP.P equals the
    gymnasium table; the old field names G and T warn; inconsistent models are refused."""
    from ebmlib.utils import Result

    mdp = exact.tabular_mdp(frozenlake)
    R, P = _dense_model(frozenlake)
    np.testing.assert_allclose(mdp.P.numpy(), P, atol=1e-15)
    np.testing.assert_allclose(mdp.R.numpy(), R, atol=1e-15)
    sol = exact.value_iteration(mdp, 0.99)
    pe = exact.policy_evaluation(mdp, sol.policy, 0.99)
    for res in (mdp, sol, pe, exact.soft_value_iteration(mdp, 0.9, 1.0)):
        assert isinstance(res, Result)
    assert set(pe.keys()) == {"V", "Q"} and pe["V"] is pe.V and dict(pe)["Q"] is pe.Q
    with pytest.warns(DeprecationWarning, match="success"):
        assert mdp.G is mdp.success
    with pytest.warns(DeprecationWarning, match="terminate"):
        assert mdp.T is mdp.terminate
    with pytest.warns(DeprecationWarning, match="unpacking"):
        V, Q = pe  # the tuple of earlier versions
    assert V is pe.V and Q is pe.Q
    with pytest.warns(DeprecationWarning, match="unpacking"):
        V, Q, policy, iterations = sol
    assert policy is sol.policy and iterations == sol.iterations
    with pytest.warns(DeprecationWarning, match="unpacking"):
        P_old, *_ = mdp
    np.testing.assert_allclose(P_old.numpy(), P, atol=1e-15)
    with pytest.raises(ValueError, match="prob"):
        exact.TabularMDP(
            mdp.next_state, mdp.prob * 2, mdp.R, mdp.success, mdp.terminate, mdp.initial
        )
    with pytest.raises(TypeError, match="env"):
        exact.value_iteration(gym.make("CartPole-v1"), 0.9)


# ---------------------------------------------------------------------------- the Blocker task
@pytest.fixture(scope="module")
def blocker():
    env = BlockerEnv()
    return env, env.tabular()


def test_blocker_optimum_scores_from_every_start(blocker):
    """eq-rl-value-iteration on the 4 x 7 Blocker task (3 agents, 2 blockers three cells wide):
    the optimal joint policy scores from all 630 start states within 7 steps; the success curve
    is 1/35, 12/35, 27/35, 33/35, 1 after 3..7 steps, so the mean return (+1 for the scoring
    step, -1 for the others) is 2 - 172/35 = -102/35 under any time limit >= 7."""
    env, mdp = blocker
    assert mdp.n_actions == 64 and float(mdp.initial.sum()) == pytest.approx(1.0)
    assert int((mdp.initial > 0).sum()) == 630
    sol = exact.value_iteration(mdp, 0.95)
    curve = exact.success_curve(mdp, sol.policy, 8)
    want = [0, 0, 0, Fraction(1, 35), Fraction(12, 35), Fraction(27, 35), Fraction(33, 35), 1, 1]
    np.testing.assert_allclose(curve.numpy(), [float(w) for w in want], atol=1e-12)
    for H in (7, 40):
        assert exact.optimal_return(mdp, H) == pytest.approx(-102 / 35, abs=1e-12)
        assert exact.expected_return(mdp, sol.policy, H) == pytest.approx(-102 / 35, abs=1e-12)


def test_blocker_non_coordinating_policies_fail(blocker):
    """Exact over all 630 starts, against closed-form counts. All agents walking down score
    only from the 18 starts with the agents above columns 0, 3 and 6 (1/35); each agent
    heading for its own nearest hole scores only when the three nearest holes differ
    (2 * 3 * 2 * 3! * 3 = 216 starts: 12/35); independent greedy agents chasing the open gap
    never score. A coordinated convention (agents take the holes in the order of their columns)
    is optimal. Within the 40-step limit the non-coordinating returns are <= -26.9 against the
    optimum -102/35 = -2.91."""
    env, mdp = blocker
    rates = {n: exact.success_probability(mdp, env.heuristic_policy(n, mdp)) for n in
             ("all_down", "nearest_hole", "chase_gap", "formation")}  # fmt: skip
    assert rates["all_down"] == pytest.approx(1 / 35, abs=1e-12)
    assert rates["nearest_hole"] == pytest.approx(12 / 35, abs=1e-12)
    assert rates["chase_gap"] == 0.0
    assert rates["formation"] == pytest.approx(1.0, abs=1e-12)
    ret = {n: exact.expected_return(mdp, env.heuristic_policy(n, mdp), 40) for n in rates}
    assert ret["all_down"] == pytest.approx((1 * -1 + 34 * -40) / 35, abs=1e-12)
    assert ret["chase_gap"] == -40.0
    assert max(ret["all_down"], ret["nearest_hole"], ret["chase_gap"]) < -26.9
    assert ret["formation"] == pytest.approx(-102 / 35, abs=1e-12)


def test_blocker_heuristics_by_plain_rollouts(blocker):
    """The same rates by rolling each fixed policy out of every start state with the plain
    simulator and policies re-written from their descriptions (tests/_rl_reference.py)."""
    env, mdp = blocker
    starts = start_states(7, 3, 2, 3)
    for name in ("all_down", "nearest_hole", "chase_gap", "formation"):

        def pol(a, b, name=name):
            return ref_heuristic(name, 7, 4, 3, (0, 3, 6), a, b)

        steps = [rollout_steps(7, 4, 3, s, pol, 40) for s in starts]
        rate = sum(t is not None for t in steps) / len(starts)
        lib = exact.success_probability(mdp, env.heuristic_policy(name, mdp), max_steps=40)
        assert rate == pytest.approx(lib, abs=1e-12)
        ret = np.mean([-40 if t is None else 2 - t for t in steps])
        assert ret == pytest.approx(exact.expected_return(mdp, env.heuristic_policy(name, mdp), 40))


@pytest.mark.parametrize(
    "kw, W, L, n_a, n_b, bw",
    [
        (dict(width=4, length=4, n_agents=2, n_blockers=1), 4, 4, 2, 1, 3),
        (dict(width=5, length=3, n_agents=2, n_blockers=2, blocker_width=2), 5, 3, 2, 2, 2),
        (dict(width=7, length=4, n_agents=2, n_blockers=2), 7, 4, 2, 2, 3),
    ],
    ids=["2v1-4x4", "2v2-5x3", "2v2-7x4"],
)
def test_blocker_optimum_equals_plain_breadth_first_search(kw, W, L, n_a, n_b, bw):
    """The library's optimum (finite-horizon value iteration over its model) equals a plain
    breadth-first search for the fewest steps to score, from every start state; on the 4 x 7
    field two agents never get past two blockers."""
    env = BlockerEnv(**kw)
    mdp = env.tabular()
    J = exact.optimal_return(mdp, 12, per_state=True)
    index = {s: i for i, s in enumerate(mdp.labels)}
    starts = start_states(W, n_a, n_b, bw)
    if W == 7:  # one search from all starts at once: no scoring move is ever reachable
        assert bfs_min_steps(W, L, bw, n_a, starts, 10**6) is None
        assert exact.optimal_return(mdp, 40) == -40.0
        return
    for s in starts:
        d = bfs_min_steps(W, L, bw, n_a, s, 12)
        assert float(J[index[s]]) == pytest.approx(-12.0 if d is None else 2.0 - d, abs=1e-12)


@pytest.mark.slow
def test_blocker_full_instance_optimum_by_plain_dynamic_programming(blocker):
    """The 4 x 7 optimum (mean -102/35, at most 7 steps) by plain dynamic programming over the
    graph the plain simulator builds from the 630 start states (about a minute)."""
    env, mdp = blocker
    steps = min_steps_all(7, 4, 3, 3, start_states(7, 3, 2, 3))
    assert None not in steps and max(steps) == 7
    assert Fraction(sum(2 - d for d in steps), len(steps)) == Fraction(-102, 35)


# ------------------------------------------------------------------- the combination lock
def _lock_values_closed_form(env, gamma):
    """V*(room) when every door is opened with its cheapest combination."""
    r = [-env.effort_cost * int(env.rules[s].sum()) for s in range(env.n_rooms)]
    r[-1] += 1.0
    return [sum(gamma ** (j - s) * r[j] for j in range(s, env.n_rooms)) for s in range(env.n_rooms)]


@pytest.mark.parametrize(
    "kw", [dict(n_bits=4, n_rooms=2), dict(), dict(n_bits=6, n_rooms=4, reset_on_failure=False)]
)
def test_lock_model_matches_steps_and_closed_form(kw):
    """The lock's model reproduces env.step for every room and action, and value iteration
    gives V*(room) = sum_j gamma^(j - room) r_j with r_j the cost of the cheapest opening
    combination (+1 at the last door)."""
    env = CombinationLockEnv(**kw)
    mdp = env.tabular()
    bits = (np.arange(2**env.n_bits)[:, None] >> np.arange(env.n_bits)) & 1
    for room in range(env.n_rooms):
        for k, a in enumerate(bits):
            nxt, r, done = env.transition(room, a)
            assert mdp.R[room, k] == pytest.approx(r, abs=1e-12)
            assert float(mdp.success[room, k]) == float(done)
            if not done:
                assert int(mdp.next_state[room, k, 0]) == nxt
    sol = exact.value_iteration(mdp, 0.9)
    np.testing.assert_allclose(sol.V.numpy(), _lock_values_closed_form(env, 0.9), atol=1e-10)
    assert exact.success_probability(mdp, sol.policy, max_steps=env.n_rooms) == pytest.approx(1.0)


def test_additive_q_cannot_represent_the_lock():
    """Chapter 10: on the lock with 4 switches and 2 doors, Q* couples the switches of every
    "differ" bolt: Q*(01) + Q*(10) - Q*(00) - Q*(11) > 0 for the pair in every context, while
    any sum of one term per bit has this combination 0, so it must rank a shut-bolt setting at
    or above an open-bolt one. The least-squares additive fit of Q* is -c per switch exactly
    (each switch alone carries no information about a bolt); acting greedily on it (all
    switches off) never opens a door, while the optimum opens both every time."""
    env = CombinationLockEnv(n_bits=4, n_rooms=2, effort_cost=0.05, rules=[[1, 1], [1, 0]])
    mdp = env.tabular()
    sol = exact.value_iteration(mdp, 0.9)
    fit = exact.additive_fit(sol.Q, 4)
    torch.testing.assert_close(fit.weights, torch.full((2, 4), -0.05, dtype=torch.float64))
    assert fit.greedy.tolist() == [0, 0]
    for room in range(2):
        for pair in range(2):
            if not env.rules[room][pair]:
                continue
            i, j = 2 * pair, 2 * pair + 1
            for rest in range(16):
                if rest >> i & 1 or rest >> j & 1:
                    continue
                q = sol.Q[room]
                f = fit.fitted[room]
                k00, k01, k10, k11 = rest, rest | 1 << j, rest | 1 << i, rest | 1 << i | 1 << j
                assert float(q[k01] + q[k10] - q[k00] - q[k11]) > 0.1
                assert float(f[k01] + f[k10] - f[k00] - f[k11]) == pytest.approx(0, abs=1e-12)
    assert exact.success_probability(mdp, fit.greedy, max_steps=50) == 0.0
    assert exact.success_probability(mdp, sol.policy, max_steps=50) == pytest.approx(1.0)


def _fit_correct(Q, K):
    return exact.additive_fit(Q, K)


def _fit_half_effect(Q, K):
    res = exact.additive_fit(Q, K)
    return exact.AdditiveFit(res.bias, res.weights / 2, res.fitted, res.residual, res.greedy)


def _fit_conditional_mean(Q, K):
    # a plausible slip: the mean over actions with the bit on, minus the overall mean
    bits = ((torch.arange(2**K)[:, None] >> torch.arange(K)) & 1).double()
    w = Q @ bits / 2 ** (K - 1) - Q.mean(1, keepdim=True)
    res = exact.additive_fit(Q, K)
    return exact.AdditiveFit(res.bias, w, res.fitted, res.residual, res.greedy)


def check_additive_fit(fit_fn):
    """Against torch.linalg.lstsq on the design [1, a_1, ..., a_K] for random Q-tables."""
    g = torch.Generator().manual_seed(0)
    for K in (1, 3, 5):
        Q = torch.randn(4, 2**K, generator=g, dtype=torch.float64)
        X = torch.cat(
            [torch.ones(2**K, 1), ((torch.arange(2**K)[:, None] >> torch.arange(K)) & 1)], 1
        ).double()
        coef = torch.linalg.lstsq(X, Q.T).solution.T  # [4, K + 1]
        res = fit_fn(Q, K)
        torch.testing.assert_close(res.bias, coef[:, 0], atol=1e-10, rtol=0)
        torch.testing.assert_close(res.weights, coef[:, 1:], atol=1e-10, rtol=0)
        torch.testing.assert_close(res.fitted, coef @ X.T, atol=1e-10, rtol=0)
        torch.testing.assert_close(res.fitted + res.residual, Q, atol=1e-12, rtol=0)
        assert torch.equal(res.greedy, ((res.weights > 0).long() << torch.arange(K)).sum(1))
        additive = coef @ X.T
        assert float(fit_fn(additive, K).residual.abs().max()) < 1e-10


def test_additive_fit_is_least_squares():
    """additive_fit equals the least-squares solution; an additive Q is reproduced exactly."""
    check_additive_fit(_fit_correct)
    with pytest.raises(ValueError, match="columns"):
        exact.additive_fit(torch.zeros(2, 6, dtype=torch.float64), 3)
    with pytest.raises(ValueError, match="finite"):
        exact.additive_fit(torch.full((1, 4), float("nan"), dtype=torch.float64), 2)


@pytest.mark.parametrize("wrong", [_fit_half_effect, _fit_conditional_mean], ids=["half", "cond"])
def test_additive_fit_check_catches_wrong_weights(wrong):
    """Injected wrong per-bit weights (half the main effect; conditional mean minus the mean)
    fail the least-squares comparison."""
    with pytest.raises(AssertionError):
        check_additive_fit(wrong)
