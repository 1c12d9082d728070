"""Tests of ebmlib.rl.thoughts: the deduction task of chapter 13 and its exact optimum.

The exact references are checked against an independent brute force written here from the
rules of the task alone: breadth-first search over belief sets with every thought of at most
kappa propositions, and value iteration over all belief sets.
"""

from __future__ import annotations

import itertools
import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import ebmlib.rl  # noqa: F401  (registers the environments)
from ebmlib.rl import thoughts
from ebmlib.rl.thoughts import (
    DeductionEnv,
    DeductionInstance,
    generate_instance,
    minimum_steps,
    optimal_plan,
    optimal_q,
    optimal_return,
    rollout,
)


# ---------------------------------------------------------------------------------------------
# independent brute force (only the rules of the task: a proposition is accepted if believed or
# if some rule's body is believed at the start of the step; > kappa assertions: all rejected)
# ---------------------------------------------------------------------------------------------
def _accepts(rules, beliefs, p):
    return p in beliefs or any(h == p and set(b) <= beliefs for b, h in rules)


def _step(rules, beliefs, thought, kappa):
    if len(thought) > kappa:
        return frozenset(beliefs), len(thought)
    acc = {p for p in thought if _accepts(rules, beliefs, p)}
    return frozenset(beliefs | acc), len(thought) - len(acc)


def brute_force_steps(rules, n, facts, goal, kappa):
    """Fewest steps to have ``goal`` accepted, by BFS over belief sets and all thoughts."""
    thoughts_all = [
        frozenset(c) for k in range(1, kappa + 1) for c in itertools.combinations(range(n), k)
    ]
    layer = {frozenset(facts)}
    seen = set(layer)
    for depth in range(1, 2**n + 1):
        nxt = set()
        for b in layer:
            for a in thoughts_all:
                if goal in a and len(a) <= kappa and _accepts(rules, b, goal):
                    return depth
                b2, _ = _step(rules, b, a, kappa)
                if b2 not in seen:
                    seen.add(b2)
                    nxt.add(b2)
        if not nxt:
            return math.inf
        layer = nxt
    return math.inf


def brute_force_values(rules, n, goal, kappa, gamma, rho):
    """V*(B) for every belief set B (goal not believed) by value iteration over all thoughts."""
    states = [frozenset(s) for k in range(n + 1) for s in itertools.combinations(range(n), k)]
    states = [s for s in states if goal not in s]
    acts = [frozenset(c) for k in range(n + 1) for c in itertools.combinations(range(n), k)]
    trans = {}
    for s in states:
        row = []
        for a in acts:
            b2, rej = _step(rules, set(s), a, kappa)
            row.append((b2, -rho * rej + (1.0 if goal in b2 else 0.0), goal in b2))
        trans[s] = row
    v = dict.fromkeys(states, 0.0)
    for _ in range(500):
        new = {
            s: max(r + (0.0 if done else gamma * v[b2]) for b2, r, done in trans[s]) for s in states
        }
        delta = max(abs(new[s] - v[s]) for s in states)
        v = new
        if delta < 1e-13:
            break
    return v, acts, trans


def random_horn(n, n_rules, n_facts, seed):
    """A general random Horn rule base: several rules per head, shared premises, cycles."""
    rng = np.random.default_rng(seed)
    facts = [int(x) for x in rng.choice(n, n_facts, replace=False)]
    rules = []
    for _ in range(n_rules):
        k = int(rng.integers(1, 4))
        body = tuple(int(x) for x in rng.choice(n, k, replace=False))
        head = int(rng.integers(n))
        if head not in body and head not in facts:
            rules.append((body, head))
    closure = set(facts)
    while True:
        new = {h for b, h in rules if h not in closure and set(b) <= closure}
        if not new:
            break
        closure |= new
    goals = sorted(closure - set(facts))
    return rules, facts, goals


# ---------------------------------------------------------------------------------------------
def check_exact_against_brute_force():
    """Shared check: minimum_steps and optimal_plan equal BFS on tree and general instances."""
    cases = []
    for seed in range(6):
        inst = generate_instance(8, depth=3, branching=2, seed=seed, n_facts=2)
        cases.append(inst)
    for seed in range(40):
        rules, facts, goals = random_horn(7, 9, 2, seed)
        if goals:
            cases.append(DeductionInstance(7, rules, facts, goals))
    checked = 0
    for inst in cases:
        for goal in inst.goals:
            for kappa in (1, 2, 3):
                want = brute_force_steps(inst.rules, inst.n, inst.facts, goal, kappa)
                got = minimum_steps(inst, goal, memory=kappa)
                assert got == want, (inst, goal, kappa, got, want)
                plan = optimal_plan(inst, goal, memory=kappa)
                assert len(plan) == want
                held = set(inst.facts)
                for k, thought in enumerate(plan):  # the plan is legal and hallucination-free
                    assert 1 <= len(thought) <= kappa
                    acc, rej, over = thoughts.judge(inst, held, thought, kappa)
                    assert not rej and not over
                    held |= acc
                    assert (goal in held) == (k == len(plan) - 1)
                checked += 1
    assert checked > 100
    return checked


def test_minimum_steps_equals_brute_force():
    """eq-thinking-hu (tree proofs) and the exact search (general rule bases) equal an
    independent breadth-first search over belief sets with every thought of <= kappa
    propositions, for kappa = 1, 2, 3; every optimal plan is legal and never hallucinates."""
    check_exact_against_brute_force()


def _wrong_hu_floor(levels, memory):
    counts = np.bincount(np.fromiter(levels.values(), dtype=np.int64))
    at_least = np.cumsum(counts[::-1])[::-1]
    return int(max(int(at_least[lev]) // memory + lev - 1 for lev in range(1, len(counts))))


def _wrong_hu_depth_only(levels, memory):
    return max(levels.values())


def _wrong_hu_count_only(levels, memory):
    return -(-len(levels) // memory)


@pytest.mark.parametrize(
    "wrong",
    [_wrong_hu_floor, _wrong_hu_depth_only, _wrong_hu_count_only],
    ids=["floor-instead-of-ceil", "depth-only", "count-only"],
)
def test_brute_force_catches_wrong_closed_form(monkeypatch, wrong):
    """Injected wrong variants of eq-thinking-hu (floor for ceiling; the depth bound alone;
    the counting bound alone) are caught by the brute-force comparison."""
    monkeypatch.setattr(thoughts, "_hu_bound", wrong)
    with pytest.raises(AssertionError):
        check_exact_against_brute_force()


def test_hu_schedule_meets_closed_form_on_large_instances():
    """For generated instances up to n = 128 the highest-level-first plan has exactly the length
    of the lower bound eq-thinking-hu (so the bound is attained: thm-thinking-hu), for every goal
    and kappa in {1, 2, 4, 8}."""
    for n, depth, branching in [(16, 3, 2), (64, 4, 3), (128, 5, 3)]:
        for seed in range(3):
            inst = generate_instance(n, depth, branching, seed=seed)
            for goal in inst.goals:
                for kappa in (1, 2, 4, 8):
                    plan = optimal_plan(inst, goal, memory=kappa)
                    assert len(plan) == minimum_steps(inst, goal, memory=kappa)
                    assert all(len(t) <= kappa for t in plan)


def test_unlimited_memory_is_forward_chaining_level():
    """eq-thinking-lower: without a working-memory limit the minimum is the forward-chaining
    level of the goal, for general rule bases (BFS with kappa = n agrees)."""
    for seed in range(30):
        rules, facts, goals = random_horn(6, 8, 2, seed)
        if not goals:
            continue
        inst = DeductionInstance(6, rules, facts, goals)
        levels = thoughts.forward_levels(inst)
        for g in goals:
            assert minimum_steps(inst, g) == levels[g]
            assert brute_force_steps(rules, 6, facts, g, 6) == levels[g]


def test_optimal_q_equals_value_iteration():
    """eq-thinking-qstar and thm-thinking-value: Q*(s, a) of every thought in every belief state
    equals r + gamma V*(s') with V* from value iteration over all 2^n belief sets, and
    V*(facts) = gamma^(tau* - 1), for two tiny instances and two working-memory limits."""
    gamma, rho = 0.8, 0.15
    insts = [
        DeductionInstance(6, [((0,), 2), ((1,), 3), ((0, 1), 4), ((2, 3, 4), 5)], [0, 1], [5]),
        DeductionInstance(
            6,
            [((0,), 2), ((2,), 3), ((0, 1), 3), ((3, 1), 4), ((4,), 5), ((2, 3), 5)],
            [0, 1],
            [4, 5],
        ),
    ]
    for inst in insts:
        for goal in inst.goals:
            for kappa in (2, 3):
                v, acts, trans = brute_force_values(inst.rules, inst.n, goal, kappa, gamma, rho)
                start = frozenset(inst.facts)
                tau = minimum_steps(inst, goal, memory=kappa)
                assert v[start] == pytest.approx(gamma ** (tau - 1), abs=1e-10)
                assert optimal_return(inst, goal, gamma, memory=kappa) == pytest.approx(
                    v[start], abs=1e-10
                )
                act_arr = np.zeros((len(acts), inst.n), dtype=np.int64)
                for k, a in enumerate(acts):
                    act_arr[k, list(a)] = 1
                for s in [start, frozenset(inst.facts) | {2}, frozenset({0, 1, 2, 3})]:
                    if goal in s:
                        continue
                    q = optimal_q(inst, goal, act_arr, gamma, set(s), kappa, rho)
                    want = [r + (0.0 if done else gamma * v[b2]) for b2, r, done in trans[s]]
                    np.testing.assert_allclose(q, want, atol=1e-10)


def test_qstar_is_not_additive_and_symmetric_additive_fails():
    """thm-thinking-additive on the chapter's instance: four interchangeable premises, kappa = 2.
    The optimal thoughts assert exactly two of them; the least-squares additive fit of Q* over
    all 2^n thoughts gives the four equal weights, so its greedy thought asserts all four or
    none, and both are worse than the optimum by at least gamma^2 - gamma^3."""
    inst = DeductionInstance(
        8,
        [((0,), 2), ((1,), 3), ((0, 1), 4), ((0,), 5), ((2, 3, 4, 5), 6), ((6,), 7)],
        [0, 1],
        [6],
    )
    gamma, rho, kappa = 0.9, 0.1, 2
    acts = np.array(list(itertools.product((0, 1), repeat=8)))
    q = optimal_q(inst, 6, acts, gamma, memory=kappa, penalty=rho)
    best = q.max()
    assert best == pytest.approx(gamma**2)
    opt = acts[np.isclose(q, best)]
    assert all(r[[2, 3, 4, 5]].sum() == 2 and r[[6, 7]].sum() == 0 for r in opt)

    # interaction: Q(a + p + q) - Q(a + p) - Q(a + q) + Q(a) != 0
    def qv(props):
        a = np.zeros(8, dtype=np.int64)
        a[list(props)] = 1
        return optimal_q(inst, 6, a, gamma, memory=kappa, penalty=rho)[0]

    assert qv({2, 3}) - qv({2}) - qv({3}) + qv(set()) != pytest.approx(0.0)
    design = np.hstack([np.ones((len(acts), 1)), acts])
    coef, *_ = np.linalg.lstsq(design, q, rcond=None)
    w = coef[1:]
    assert np.ptp(w[[2, 3, 4, 5]]) < 1e-9  # symmetric
    greedy = (w > 0).astype(np.int64)
    assert greedy[[2, 3, 4, 5]].sum() in (0, 4)
    assert qv(set(np.flatnonzero(greedy))) <= best - (gamma**2 - gamma**3) + 1e-12


# ---------------------------------------------------------------------------------------------
# the environment
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "env",
    [
        DeductionEnv(),
        DeductionEnv(n=32, depth=4, branching=3, allow_forget=True),
        DeductionEnv(n=8, depth=2, memory=None),
    ],
    ids=["default", "forget", "unlimited"],
)
def test_check_env_passes(env):
    """The deduction environment satisfies gymnasium's API checker."""
    check_env(env, skip_render_check=True)


def test_registered():
    """``ebmlib/Deduction-v0`` is registered and builds with keyword arguments."""
    env = gym.make("ebmlib/Deduction-v0", n=16, instance_seed=3)
    obs, info = env.reset(seed=0)
    assert obs.shape == (32,)
    assert info["goal"] in env.unwrapped.instance.goals


def test_dynamics_by_hand():
    """The rules of the module docstring on a hand-made instance: acceptance judged against the
    beliefs at the start of the step, penalties, the working-memory overflow, the goal."""
    inst = DeductionInstance(6, [((0,), 2), ((1,), 3), ((2, 3), 4), ((4,), 5)], [0, 1], [5, 4])
    env = DeductionEnv(instance=inst, memory=2, penalty=0.25, max_steps=5)
    obs, info = env.reset(seed=0, options={"goal": 5})
    assert obs.tolist() == [1, 1, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 1]
    assert info["optimal_steps"] == 3

    def act(*props):
        a = np.zeros(6, dtype=np.int8)
        a[list(props)] = 1
        return env.step(a)

    obs, r, term, trunc, info = act(2, 4)  # 4 needs 2 and 3 believed before this step
    assert (info["accepted"], info["rejected"], r) == (1, 1, -0.25)
    assert obs[:6].tolist() == [1, 1, 1, 0, 0, 0] and not term
    obs, r, term, trunc, info = act(3, 4, 5)  # three assertions > memory 2: all rejected
    assert info["overflow"] and info["rejected"] == 3 and r == pytest.approx(-0.75)
    assert obs[:6].tolist() == [1, 1, 1, 0, 0, 0]
    obs, r, term, trunc, info = act(0, 3)  # re-asserting a belief is accepted, costs nothing
    assert (info["accepted"], info["rejected"], r) == (2, 0, 0.0)
    obs, r, term, trunc, info = act(4)
    assert r == 0.0 and not term
    obs, r, term, trunc, info = act(5)
    assert r == 1.0 and term and not trunc


def test_truncation_and_forget():
    """The step limit truncates; forgetting removes beliefs after the assertions are judged."""
    inst = DeductionInstance(4, [((0,), 1), ((1,), 2), ((2,), 3)], [0], [3])
    env = DeductionEnv(instance=inst, memory=1, max_steps=2, allow_forget=True)
    env.reset(seed=0)
    obs, _, term, trunc, _ = env.step(np.array([0, 1, 0, 0, 1, 0, 0, 0]))  # assert 1, forget 0
    assert obs[:4].tolist() == [0, 1, 0, 0] and not (term or trunc)
    obs, _, term, trunc, _ = env.step(np.zeros(8, dtype=np.int8))
    assert trunc and not term


@pytest.mark.parametrize(
    "action, err",
    [
        (np.zeros(5), ValueError),
        (np.zeros((2, 6)), ValueError),
        (np.array([0, 2, 0, 0, 0, 0]), ValueError),
        (np.array([0, 0.5, 0, 0, 0, 0]), ValueError),
        (np.array(["a"] * 6), TypeError),
    ],
    ids=["short", "2d", "two", "half", "strings"],
)
def test_bad_actions_raise(action, err):
    """Wrong shapes and non-binary thoughts raise a clear error naming the action."""
    env = DeductionEnv(instance=DeductionInstance(6, [((0,), 1)], [0], [1]), memory=2)
    env.reset(seed=0)
    with pytest.raises(err, match="action"):
        env.step(action)


def test_bad_instances_raise():
    """Instances are validated: ranges, empty bodies, underivable goals, facts as goals."""
    with pytest.raises(ValueError, match="rules\\[0\\]"):
        DeductionInstance(3, [((), 1)], [0], [1])
    with pytest.raises(ValueError, match="head"):
        DeductionInstance(3, [((0,), 5)], [0], [1])
    with pytest.raises(ValueError, match="cannot be derived"):
        DeductionInstance(3, [((1,), 2)], [0], [2])
    with pytest.raises(ValueError, match="fact"):
        DeductionInstance(3, [((0,), 1)], [0], [0])
    with pytest.raises(ValueError, match="memory"):
        minimum_steps(DeductionInstance(3, [((0,), 1)], [0], [1]), 1, memory=0)
    with pytest.raises(ValueError, match="n="):
        generate_instance(8, depth=9)


def test_generated_instances_are_trees_and_reproducible():
    """generate_instance: same seed, same rule base; one rule per head; every goal's proof is a
    tree (so the closed form applies); distractors include underivable traps."""
    a = generate_instance(64, 4, 3, seed=5)
    b = generate_instance(64, 4, 3, seed=5)
    c = generate_instance(64, 4, 3, seed=6)
    assert a == b and a != c
    heads = [h for _, h in a.rules]
    assert len(heads) == len(set(heads))
    for g in a.goals:
        assert thoughts._tree_levels(a, g, set(a.facts)) is not None
    assert len(a.closure()) < a.n  # some propositions can never be derived


def test_rollout_of_the_optimal_plan():
    """Following optimal_plan reaches every goal in exactly tau* steps with no hallucination and
    the return gamma-free sum 1."""
    env = DeductionEnv(n=64, depth=4, branching=3, instance_seed=2, memory=4)
    policy = thoughts.plan_policy(env)
    for goal in env.instance.goals:
        tr = rollout(env, policy, goal=goal)
        assert tr.success and tr.steps == tr.optimal_steps
        assert tr.hallucinations == 0 and tr.episode_return == 1.0


def test_plot_thinking_draws_every_step():
    """The demo's drawing function draws every step of an episode and rejects a bad step."""
    import matplotlib.pyplot as plt

    env = DeductionEnv(n=16, depth=3, instance_seed=1, memory=2)
    goal = env.instance.goals[-1]
    tr = rollout(env, thoughts.plan_policy(env), goal=goal)
    fig, ax = plt.subplots()
    for k in range(tr.steps + 1):
        ax.clear()
        assert thoughts.plot_thinking(env.instance, tr, k, ax=ax) is ax
    assert "goal reached" in ax.get_title()
    with pytest.raises(ValueError, match="step"):
        thoughts.plot_thinking(env.instance, tr, tr.steps + 1, ax=ax)


def test_plan_policy_with_a_model_of_the_rules():
    """plan_policy plans with a given rule base: a model whose rule bodies contain the true ones
    (the conservative rules a learner infers) is never rejected by the real environment and
    reaches the goal, in at least tau* steps; a model that cannot reach the goal thinks nothing."""
    inst = DeductionInstance(6, [((0,), 2), ((1,), 3), ((2, 3), 4), ((4,), 5)], [0, 1], [5])
    bigger = DeductionInstance(6, [((0, 1), 2), ((1,), 3), ((1, 2, 3), 4), ((4,), 5)], [0, 1], [5])
    env = DeductionEnv(instance=inst, memory=1)
    tr = rollout(env, thoughts.plan_policy(env, bigger), goal=5)
    assert tr.success and tr.hallucinations == 0 and tr.steps >= tr.optimal_steps
    blind = DeductionInstance(6, [((0,), 2), ((1,), 3), ((0, 1), 4)], [0, 1], [4])
    tr = rollout(env, thoughts.plan_policy(env, blind), goal=5)
    assert not tr.success and all(len(t) == 0 for t in tr.thoughts)
    with pytest.raises(TypeError, match="instance"):
        thoughts.plan_policy(env, DeductionInstance(7, [((0,), 1)], [0], [1]))
