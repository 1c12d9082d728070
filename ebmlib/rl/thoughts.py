r"""A deduction task whose actions are thoughts (chapter 13), with its exact optimum.

There are :math:`n` propositions. A **rule base** of Horn clauses (``a and b -> c``), a set of
**given facts** and a **goal** define one task. The agent believes a set of propositions
:math:`\mathcal{B}_t` (at the start: the facts) and, in one thinking step, asserts a **thought**
:math:`a \subseteq \{0, \dots, n-1\}`, a binary vector over the propositions:

* an asserted proposition is **accepted** if it is already believed or if one rule derives it
  from what was believed at the *start* of the step (all assertions of one thought are judged
  together, so a conclusion cannot be asserted together with its own premises); accepted
  propositions are added to the beliefs;
* every other asserted proposition is **rejected** (a hallucination) and costs
  :math:`\rho` (``penalty``);
* a thought of more than :math:`\kappa` assertions (``memory``, the working-memory limit) is
  rejected as a whole: nothing is accepted and every assertion costs :math:`\rho`;
* accepting the goal pays :math:`+1` and ends the episode; after ``max_steps`` steps the episode
  is truncated.

The reward of a thought depends on combinations of its bits (premises and conclusions, the
working-memory limit), so :math:`Q^*(s, \cdot)` is not additive over the action bits
(chapter 13, :math:numref:`eq-thinking-qstar`).

Exact references (chapter 13): :func:`forward_levels` (forward chaining with unlimited
parallel assertion), :func:`minimum_steps` (the fewest thinking steps :math:`\tau^*` under the
working-memory limit: a closed form for tree-shaped proofs, :math:numref:`eq-thinking-hu`,
and an exact search otherwise), :func:`optimal_plan`, :func:`optimal_return`
(:math:`\gamma^{\tau^* - 1}`) and :func:`optimal_q` (:math:`Q^*` of any thought).

:class:`DeductionEnv` (registered as ``ebmlib/Deduction-v0``) is the gymnasium environment;
:func:`generate_instance` draws a random rule base from a seed; :func:`rollout` runs a policy
and records the thinking steps, accepted and rejected assertions.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .._validation import check_int, check_nonnegative, check_probability
from ..utils import Result

__all__ = [
    "DeductionInstance",
    "DeductionEnv",
    "ThinkingTrace",
    "generate_instance",
    "forward_levels",
    "minimum_steps",
    "optimal_plan",
    "optimal_return",
    "optimal_q",
    "judge",
    "rollout",
    "plan_policy",
    "SingleAssertion",
    "JointAction",
    "plot_thinking",
]


# ---------------------------------------------------------------------------------------------
# the instance: rules, facts, goals
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DeductionInstance(Result):
    """A rule base over ``n`` propositions, the given facts and the goals of the episodes.

    Propositions are the integers ``0, ..., n - 1``. A rule ``(body, head)`` derives ``head``
    when every proposition of ``body`` is believed. Any Horn rule base is allowed (several rules
    per head, cycles); :func:`generate_instance` draws rule bases in which every proposition has
    at most one rule and every goal's proof is a tree.

    Parameters
    ----------
    n : int
        Number of propositions, >= 2.
    rules : sequence of (sequence of int, int)
        The rules as ``(body, head)``; bodies are non-empty.
    facts : sequence of int
        The propositions believed at the start of every episode.
    goals : sequence of int
        The goals an episode may ask for; each must be derivable from the facts and not be a
        fact itself.
    """

    n: int
    rules: tuple[tuple[tuple[int, ...], int], ...]
    facts: tuple[int, ...]
    goals: tuple[int, ...]

    def __post_init__(self) -> None:
        n = check_int(self.n, "n", minimum=2)
        object.__setattr__(self, "n", n)

        def prop(p: Any, what: str) -> int:
            if isinstance(p, bool) or not isinstance(p, int | np.integer):
                raise TypeError(f"{what} must be an integer proposition, got {p!r}")
            if not 0 <= int(p) < n:
                raise ValueError(f"{what} must lie in [0, {n - 1}], got {p}")
            return int(p)

        rules = []
        for r, rule in enumerate(self.rules):
            if not isinstance(rule, tuple | list) or len(rule) != 2:
                raise TypeError(f"rules[{r}] must be a pair (body, head), got {rule!r}")
            body, head = rule
            body = tuple(sorted({prop(p, f"rules[{r}] body entry") for p in body}))
            if not body:
                raise ValueError(f"rules[{r}] has an empty body; use facts for axioms")
            rules.append((body, prop(head, f"rules[{r}] head")))
        object.__setattr__(self, "rules", tuple(rules))
        facts = tuple(sorted({prop(p, "facts entry") for p in self.facts}))
        object.__setattr__(self, "facts", facts)
        goals = tuple(dict.fromkeys(prop(p, "goals entry") for p in self.goals))
        if not goals:
            raise ValueError("goals must name at least one proposition")
        object.__setattr__(self, "goals", goals)
        closure = _closure(self, set(facts))
        for g in goals:
            if g in facts:
                raise ValueError(f"goal {g} is a given fact; goals must need thinking")
            if g not in closure:
                raise ValueError(f"goal {g} cannot be derived from the facts")

    # -- derived views (computed on demand, cheap) ----------------------------------------------
    def rules_for(self, head: int) -> list[tuple[int, ...]]:
        """The bodies of the rules that derive ``head``."""
        return [b for b, h in self.rules if h == head]

    def derivable(self, beliefs: Iterable[int]) -> set[int]:
        """Propositions that one rule derives from ``beliefs`` and that are not yet believed."""
        held = set(beliefs)
        return {h for b, h in self.rules if h not in held and held.issuperset(b)}

    def closure(self, beliefs: Iterable[int] | None = None) -> set[int]:
        """Everything forward chaining derives from ``beliefs`` (default: the facts)."""
        return _closure(self, set(self.facts if beliefs is None else beliefs))

    def ancestors(self, goal: int) -> set[int]:
        """The goal and every proposition from which a chain of rules leads to it."""
        by_head: dict[int, list[tuple[int, ...]]] = {}
        for b, h in self.rules:
            by_head.setdefault(h, []).append(b)
        seen = {goal}
        stack = [goal]
        while stack:
            for body in by_head.get(stack.pop(), []):
                for q in body:
                    if q not in seen:
                        seen.add(q)
                        stack.append(q)
        return seen


def _closure(inst: DeductionInstance, held: set[int]) -> set[int]:
    held = set(held)
    while True:
        new = {h for b, h in inst.rules if h not in held and held.issuperset(b)}
        if not new:
            return held
        held |= new


def _as_set(beliefs: Any, n: int, name: str = "beliefs") -> set[int]:
    """A belief set from a collection of propositions or a binary numpy vector of length n.

    Python collections (set, frozenset, list, tuple) list propositions; a numpy array or torch
    tensor is a binary vector over the ``n`` propositions.
    """
    if isinstance(beliefs, set | frozenset | list | tuple):
        out = set()
        for p in beliefs:
            if isinstance(p, bool) or not isinstance(p, int | np.integer):
                raise TypeError(f"{name} must hold integer propositions, got {p!r}")
            out.add(int(p))
    else:
        arr = np.asarray(beliefs)
        if arr.shape != (n,) or not np.isin(arr, (0, 1)).all():
            raise ValueError(
                f"{name} as an array must be a binary vector of shape ({n},), got shape {arr.shape}"
            )
        out = {int(i) for i in np.flatnonzero(arr)}
    for p in out:
        if not 0 <= p < n:
            raise ValueError(f"{name} must hold propositions in [0, {n - 1}], got {p}")
    return out


# ---------------------------------------------------------------------------------------------
# random instances
# ---------------------------------------------------------------------------------------------
def generate_instance(
    n: int,
    depth: int = 3,
    branching: int = 2,
    *,
    seed: int = 0,
    n_facts: int | None = None,
    p_derived: float = 0.75,
    distractors: float = 0.25,
) -> DeductionInstance:
    r"""Draw a random rule base with tree-shaped proofs from ``seed`` (chapter 13).

    Construction (then all labels are shuffled, so indices carry no structure):

    1. ``n_facts`` given facts (default ``max(2, n // 4)``);
    2. **proof trees**: a root proposition at level ``depth`` whose rule has ``branching``
       premises; at least one premise of a rule at level > 1 is a fresh derived proposition one
       level lower, each other premise is a fresh derived proposition with probability
       ``p_derived`` (else a random given fact); trees are grown until the propositions set
       aside for them are used (the first tree has the full ``depth``, later ones a random depth
       in ``[2, depth]``). Every derived proposition is the premise of exactly one rule of its
       tree, so each goal's proof is a tree and :func:`minimum_steps` has a closed form;
    3. **distractors** (a fraction ``distractors`` of ``n``): half are *lures*, derivable but
       useless (their rules use facts and tree propositions), half are *traps*, never derivable
       (a chain of rules that starts at a proposition without a rule).

    Every proposition is the head of at most one rule. The goals are all tree propositions that
    need at least two steps of forward chaining.

    Parameters
    ----------
    n : int
        Number of propositions, >= 8.
    depth : int
        Levels of the deepest proof tree, >= 2.
    branching : int
        Premises per rule of the trees, >= 1.
    seed : int
        Seed of the rule base (numpy ``default_rng``).
    n_facts : int, optional
    p_derived : float
        Probability that a further premise is derived rather than a fact.
    distractors : float
        Fraction of the propositions that are lures or traps, in [0, 0.5].

    Returns
    -------
    DeductionInstance
    """
    n = check_int(n, "n", minimum=8)
    depth = check_int(depth, "depth", minimum=2)
    branching = check_int(branching, "branching", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    p_derived = check_probability(p_derived, "p_derived")
    distractors = check_nonnegative(distractors, "distractors")
    if distractors > 0.5:
        raise ValueError(f"distractors must lie in [0, 0.5], got {distractors}")
    if n_facts is None:
        n_facts = max(2, n // 4)
    n_facts = check_int(n_facts, "n_facts", minimum=1)
    n_distract = max(2, round(distractors * n)) if distractors > 0 else 0
    budget = n - n_facts - n_distract
    if budget < depth:
        raise ValueError(
            f"n={n} leaves {budget} propositions for proof trees after {n_facts} facts and "
            f"{n_distract} distractors; need at least depth={depth}"
        )
    rng = np.random.default_rng(seed)
    facts = list(range(n_facts))
    next_id = n_facts
    rules: list[tuple[tuple[int, ...], int]] = []
    tree_nodes: list[int] = []

    def fact_premises(k: int) -> list[int]:
        return [int(x) for x in rng.choice(facts, size=min(k, len(facts)), replace=False)]

    first = True
    while budget > 0:
        tree_depth = depth if first else int(rng.integers(2, depth + 1))
        if budget < 2 and not first:
            break
        first = False
        root = next_id
        next_id += 1
        budget -= 1
        tree_nodes.append(root)
        frontier = [(root, tree_depth)]
        while frontier:
            head, level = frontier.pop(0)
            derived: list[int] = []
            if level > 1:
                for j in range(branching):
                    if budget > 0 and (j == 0 or rng.random() < p_derived):
                        derived.append(next_id)
                        frontier.append((next_id, level - 1))
                        tree_nodes.append(next_id)
                        next_id += 1
                        budget -= 1
            body = derived + fact_premises(branching - len(derived))
            rules.append((tuple(body), head))
    # distractors: lures (derivable, useless) and traps (never derivable)
    n_lure = n_distract // 2
    usable = facts + tree_nodes
    for _ in range(n_lure):
        k = int(rng.integers(1, branching + 1))
        body = [int(x) for x in rng.choice(usable, size=min(k, len(usable)), replace=False)]
        rules.append((tuple(body), next_id))
        next_id += 1
    trap_start = next_id
    for j in range(n_distract - n_lure):
        if j > 0:  # the first trap has no rule; the others chain from it
            other = int(rng.choice(usable))
            rules.append(((next_id - 1, other), next_id))
        next_id += 1
    # any propositions left over (when the trees stopped early) become further traps
    while next_id < n:
        rules.append(((trap_start, int(rng.choice(usable))), next_id))
        next_id += 1
    perm = rng.permutation(n)
    relabel = [int(perm[i]) for i in range(n)]
    rules_out = tuple((tuple(sorted(relabel[p] for p in body)), relabel[h]) for body, h in rules)
    inst0 = DeductionInstance(
        n, rules_out, tuple(relabel[f] for f in facts), (relabel[tree_nodes[0]],)
    )
    levels = forward_levels(inst0)
    goals = tuple(sorted(relabel[p] for p in tree_nodes if levels[relabel[p]] >= 2))
    return DeductionInstance(n, rules_out, inst0.facts, goals)


# ---------------------------------------------------------------------------------------------
# exact references
# ---------------------------------------------------------------------------------------------
def forward_levels(inst: DeductionInstance, beliefs: Any = None) -> np.ndarray:
    r"""Forward-chaining level of every proposition, asserting everything derivable each step.

    Level 0 for the believed propositions, :math:`t` for those first derivable after
    :math:`t - 1` steps of maximal parallel assertion (they are asserted at step :math:`t`), and
    ``inf`` for propositions that are never derivable. Without a working-memory limit the goal's
    level is the minimum number of thinking steps (chapter 13,
    :math:numref:`eq-thinking-lower`).

    Returns
    -------
    numpy.ndarray
        ``[n]`` float levels.
    """
    held = set(inst.facts) if beliefs is None else _as_set(beliefs, inst.n)
    levels = np.full(inst.n, np.inf)
    levels[list(held)] = 0
    t = 0
    while True:
        new = inst.derivable(held)
        if not new:
            return levels
        t += 1
        levels[list(new)] = t
        held |= new


def _tree_levels(inst: DeductionInstance, goal: int, held: set[int]) -> dict[int, int] | None:
    """Levels (goal = 1) of the unbelieved propositions of the goal's proof, if it is a tree.

    Returns None when some needed proposition has several rules or when a proposition would be
    needed twice (the proof is not a tree); the caller then searches.
    """
    levels: dict[int, int] = {}
    stack = [(goal, 1)]
    while stack:
        p, lev = stack.pop()
        if p in held:
            continue
        bodies = inst.rules_for(p)
        if len(bodies) != 1 or p in levels:
            return None
        levels[p] = lev
        stack.extend((q, lev + 1) for q in bodies[0] if q not in held)
    return levels


def _hu_bound(levels: dict[int, int], memory: int) -> int:
    r"""``max_l ceil(|P_{>=l}| / kappa) + l - 1`` (eq-thinking-hu)."""
    counts = np.bincount(np.fromiter(levels.values(), dtype=np.int64))
    at_least = np.cumsum(counts[::-1])[::-1]  # at_least[l] = #levels >= l
    return int(max(-(-int(at_least[lev]) // memory) + lev - 1 for lev in range(1, len(counts))))


def _hu_plan(
    inst: DeductionInstance, levels: dict[int, int], held: set[int], memory: int
) -> list[frozenset[int]]:
    """Highest level first: each step assert the kappa ready propositions of highest level."""
    held = set(held)
    todo = set(levels)
    body = {p: inst.rules_for(p)[0] for p in todo}
    plan = []
    while todo:
        ready = [p for p in todo if held.issuperset(body[p])]
        ready.sort(key=lambda p: (-levels[p], p))
        step = frozenset(ready[:memory])
        plan.append(step)
        held |= step
        todo -= step
    return plan


def _check_memory(memory: Any, n: int) -> int:
    return n if memory is None else check_int(memory, "memory", minimum=1)


def _check_goal(inst: DeductionInstance, goal: Any) -> int:
    if isinstance(goal, bool) or not isinstance(goal, int | np.integer):
        raise TypeError(f"goal must be an integer proposition, got {goal!r}")
    if not 0 <= int(goal) < inst.n:
        raise ValueError(f"goal must lie in [0, {inst.n - 1}], got {goal}")
    return int(goal)


def optimal_plan(
    inst: DeductionInstance,
    goal: int,
    beliefs: Any = None,
    memory: int | None = None,
    *,
    max_nodes: int = 200_000,
) -> list[frozenset[int]] | None:
    r"""A shortest sequence of thoughts that ends by asserting the goal (chapter 13).

    Tree-shaped proofs (every needed proposition has one rule and is needed once, as in
    :func:`generate_instance`) use the highest-level-first schedule, which is optimal
    (chapter 13, the highest-level-first theorem). Other rule bases are searched exactly:
    iterative deepening over belief sets, restricted to the goal's ancestors, with the
    forward-chaining level as an admissible bound and, because more beliefs never hurt, only
    thoughts that fill the working memory (or assert everything derivable). That problem is
    NP-hard in general (it contains scheduling unit tasks with precedences on :math:`\kappa`
    machines), so the search stops with a ``RuntimeError`` after ``max_nodes`` expansions.

    Parameters
    ----------
    inst : DeductionInstance
    goal : int
    beliefs : set of int or binary vector, optional
        Current beliefs (default: the facts).
    memory : int, optional
        Working-memory limit :math:`\kappa` (default: unlimited).
    max_nodes : int
        Budget of the exact search.

    Returns
    -------
    list of frozenset or None
        The thoughts, step by step (each accepted whole, the last one contains the goal);
        ``[]`` if the goal is already believed; None if it can never be derived.
    """
    goal = _check_goal(inst, goal)
    held = set(inst.facts) if beliefs is None else _as_set(beliefs, inst.n)
    memory = _check_memory(memory, inst.n)
    max_nodes = check_int(max_nodes, "max_nodes", minimum=1)
    if goal in held:
        return []
    if goal not in _closure(inst, held):
        return None
    levels = _tree_levels(inst, goal, held)
    if levels is not None:
        return _hu_plan(inst, levels, held, memory)
    return _search_plan(inst, goal, held, memory, max_nodes)


def _search_plan(
    inst: DeductionInstance, goal: int, held: set[int], memory: int, max_nodes: int
) -> list[frozenset[int]]:
    relevant = inst.ancestors(goal)
    rules = [(frozenset(b), h) for b, h in inst.rules if h in relevant]
    start = frozenset(held & relevant)

    def derivable(b: frozenset[int]) -> list[int]:
        return sorted({h for body, h in rules if h not in b and body <= b})

    def lower(b: frozenset[int]) -> float:
        cur, t = set(b), 0
        while goal not in cur:
            new = {h for body, h in rules if h not in cur and body <= cur}
            if not new:
                return math.inf
            cur |= new
            t += 1
        return t

    # upper bound: assert the derivable propositions closest to... any greedy plan works
    plan_ub: list[frozenset[int]] = []
    cur = start
    while goal not in cur:
        d = derivable(cur)
        step = frozenset([goal]) if goal in d else frozenset(d[:memory])
        plan_ub.append(step)
        cur = cur | step
    best = len(plan_ub)
    nodes = 0
    failed: dict[frozenset[int], int] = {}

    def dfs(b: frozenset[int], budget: int) -> list[frozenset[int]] | None:
        nonlocal nodes
        nodes += 1
        if nodes > max_nodes:
            raise RuntimeError(
                f"exact search exceeded max_nodes={max_nodes}; the rule base is not "
                "tree-shaped and large (raise max_nodes)"
            )
        d = derivable(b)
        if goal in d:
            return [frozenset([goal])]
        if budget <= 1 or lower(b) > budget or failed.get(b, -1) >= budget:
            return None
        choices = [tuple(d)] if len(d) <= memory else itertools.combinations(d, memory)
        for c in choices:
            rest = dfs(b | frozenset(c), budget - 1)
            if rest is not None:
                return [frozenset(c), *rest]
        failed[b] = max(failed.get(b, -1), budget)
        return None

    lb = int(lower(start))
    for budget in range(lb, best):
        found = dfs(start, budget)
        if found is not None:
            return found
    return plan_ub


def minimum_steps(
    inst: DeductionInstance,
    goal: int,
    beliefs: Any = None,
    memory: int | None = None,
    *,
    max_nodes: int = 200_000,
) -> float:
    r"""The fewest thinking steps :math:`\tau^*` that end with the goal accepted (chapter 13).

    For tree-shaped proofs this is the closed form :math:numref:`eq-thinking-hu`,

    .. math::

        \tau^*(\mathcal{B}) = \max_{\ell \ge 1}
            \Big\lceil \tfrac{|\mathcal{P}_{\ge \ell}|}{\kappa} \Big\rceil + \ell - 1,

    with :math:`\mathcal{P}_{\ge\ell}` the unbelieved propositions of the proof whose distance
    to the goal is at least :math:`\ell` (the goal has level 1). Otherwise the length of
    :func:`optimal_plan`. ``inf`` if the goal can never be derived, 0 if it is believed.
    Parameters as in :func:`optimal_plan`.
    """
    goal = _check_goal(inst, goal)
    held = set(inst.facts) if beliefs is None else _as_set(beliefs, inst.n)
    memory = _check_memory(memory, inst.n)
    if goal in held:
        return 0
    if goal not in _closure(inst, held):
        return math.inf
    levels = _tree_levels(inst, goal, held)
    if levels is not None:
        return _hu_bound(levels, memory)
    plan = _search_plan(inst, goal, held, memory, check_int(max_nodes, "max_nodes", minimum=1))
    return len(plan)


def optimal_return(
    inst: DeductionInstance,
    goal: int,
    gamma: float,
    beliefs: Any = None,
    memory: int | None = None,
) -> float:
    r"""The optimal discounted return :math:`V^* = \gamma^{\tau^* - 1}` (0 if unreachable).

    The goal's reward 1 arrives at step :math:`\tau^*`; an optimal policy never hallucinates,
    because rejected assertions change nothing and only cost (chapter 13).
    The step limit is treated as a truncation, not as part of the state.
    """
    gamma = check_probability(gamma, "gamma")
    tau = minimum_steps(inst, goal, beliefs, memory)
    if math.isinf(tau):
        return 0.0
    if tau == 0:
        return 0.0
    return float(gamma ** (tau - 1))


def judge(
    inst: DeductionInstance, beliefs: set[int], thought: Iterable[int], memory: int
) -> tuple[set[int], set[int], bool]:
    """Split a thought into accepted and rejected assertions (the rule of the environment).

    Returns ``(accepted, rejected, overflow)``; ``overflow`` is True when the thought had more
    than ``memory`` assertions and was rejected whole.
    """
    thought = set(thought)
    if len(thought) > memory:
        return set(), thought, True
    new = inst.derivable(beliefs)
    accepted = {p for p in thought if p in beliefs or p in new}
    return accepted, thought - accepted, False


def optimal_q(
    inst: DeductionInstance,
    goal: int,
    actions: Any,
    gamma: float,
    beliefs: Any = None,
    memory: int | None = None,
    penalty: float = 0.1,
) -> np.ndarray:
    r"""Exact action values :math:`Q^*(s, a)` of thoughts (chapter 13, eq-thinking-qstar).

    .. math::

        Q^*(s, a) = -\rho\,|\text{rejected}(a)| +
            \begin{cases} 1 & g \in \text{accepted}(a) \\
            \gamma\, V^*(\mathcal{B} \cup \text{accepted}(a)) & \text{otherwise,} \end{cases}

    with :math:`V^* = \gamma^{\tau^* - 1}` from :func:`optimal_return`.

    Parameters
    ----------
    actions : array_like
        Binary thoughts ``[A, n]`` (or one ``[n]``).
    gamma, penalty : float
        Discount factor and cost :math:`\rho` of a rejected assertion.
    beliefs, memory :
        As in :func:`optimal_plan`.

    Returns
    -------
    numpy.ndarray
        ``[A]`` values.
    """
    goal = _check_goal(inst, goal)
    gamma = check_probability(gamma, "gamma")
    penalty = check_nonnegative(penalty, "penalty")
    held = set(inst.facts) if beliefs is None else _as_set(beliefs, inst.n)
    if goal in held:
        raise ValueError("the goal is already believed: the episode has ended")
    memory = _check_memory(memory, inst.n)
    acts = np.asarray(actions)
    single = acts.ndim == 1
    acts = np.atleast_2d(acts)
    if acts.shape[1] != inst.n or not np.isin(acts, (0, 1)).all():
        raise ValueError(f"actions must be binary with {inst.n} columns, got shape {acts.shape}")
    out = np.empty(len(acts))
    cache: dict[frozenset[int], float] = {}
    for k, row in enumerate(acts):
        accepted, rejected, _ = judge(inst, held, np.flatnonzero(row).tolist(), memory)
        value = -penalty * len(rejected)
        if goal in accepted:
            value += 1.0
        else:
            after = frozenset(held | accepted)
            if after not in cache:
                cache[after] = optimal_return(inst, goal, gamma, set(after), memory)
            value += gamma * cache[after]
        out[k] = value
    return out[0:1] if single else out


# ---------------------------------------------------------------------------------------------
# the environment
# ---------------------------------------------------------------------------------------------
class DeductionEnv(gym.Env):
    r"""Thinking as reinforcement learning: assert sets of propositions to derive a goal.

    See the module docstring for the rules. Observation: ``MultiBinary(2 n)``, the believed
    propositions followed by the goal as a one-hot vector. Action: ``MultiBinary(n)``, the
    thought (the set of propositions asserted this step); with ``allow_forget=True``,
    ``MultiBinary(2 n)`` whose second half is a set of propositions to forget after the
    assertions are judged (forgetting never helps, chapter 13).

    ``info`` after each step holds ``accepted``, ``rejected`` (numbers of assertions),
    ``overflow`` (the thought exceeded the working memory), ``goal`` and ``optimal_steps``
    (:math:`\tau^*` from the start state of the episode, also in the ``reset`` info).

    Parameters
    ----------
    n : int
        Number of propositions (when ``instance`` is not given), >= 8.
    depth, branching : int
        Passed to :func:`generate_instance`.
    instance_seed : int
        Seed of the rule base. The rule base is fixed for the life of the environment; the
        seed of ``reset`` only draws the goal of each episode.
    memory : int, optional
        Working-memory limit :math:`\kappa` (assertions per step); None: unlimited.
    penalty : float
        Cost :math:`\rho` of each rejected assertion.
    max_steps : int, optional
        Step limit; default: the number of derivable propositions that are not facts (enough to
        derive everything one proposition per step).
    instance : DeductionInstance, optional
        Use this rule base instead of generating one.
    allow_forget : bool
    render_mode : {None, "ansi"}
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 2}

    def __init__(
        self,
        n: int = 16,
        depth: int = 3,
        branching: int = 2,
        *,
        instance_seed: int = 0,
        memory: int | None = 3,
        penalty: float = 0.1,
        max_steps: int | None = None,
        instance: DeductionInstance | None = None,
        allow_forget: bool = False,
        render_mode: str | None = None,
    ) -> None:
        if instance is None:
            instance = generate_instance(n, depth, branching, seed=instance_seed)
        elif not isinstance(instance, DeductionInstance):
            raise TypeError(f"instance must be a DeductionInstance, got {type(instance).__name__}")
        self.instance = instance
        self.n = instance.n
        self.memory = _check_memory(memory, self.n)
        self.penalty = check_nonnegative(penalty, "penalty")
        if max_steps is None:
            max_steps = max(1, len(instance.closure() - set(instance.facts)))
        self.max_steps = check_int(max_steps, "max_steps", minimum=1)
        if not isinstance(allow_forget, bool):
            raise TypeError(f"allow_forget must be a bool, got {allow_forget!r}")
        self.allow_forget = allow_forget
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = spaces.MultiBinary(2 * self.n)
        self.action_space = spaces.MultiBinary(2 * self.n if allow_forget else self.n)
        self._rule_heads = np.array([h for _, h in instance.rules], dtype=np.int64)
        width = max((len(b) for b, _ in instance.rules), default=1)
        body = np.full((len(instance.rules), width), -1, dtype=np.int64)
        for r, (b, _) in enumerate(instance.rules):
            body[r, : len(b)] = b
        self._rule_body = body
        self.beliefs = np.zeros(self.n, dtype=bool)
        self.goal = instance.goals[0]
        self.t = 0
        self._optimal = 0

    # -- helpers -------------------------------------------------------------------------------
    def _obs(self) -> np.ndarray:
        goal = np.zeros(self.n, dtype=np.int8)
        goal[self.goal] = 1
        return np.concatenate([self.beliefs.astype(np.int8), goal])

    def derivable_mask(self) -> np.ndarray:
        """Boolean ``[n]``: the propositions one rule derives from the current beliefs."""
        padded = np.append(self.beliefs, True)  # index -1 (padding) counts as believed
        fire = padded[self._rule_body].all(axis=1)
        mask = np.zeros(self.n, dtype=bool)
        mask[self._rule_heads[fire]] = True
        return mask & ~self.beliefs

    def _check_action(self, action: Any) -> np.ndarray:
        arr = np.asarray(action)
        size = self.action_space.n
        if arr.shape != (size,):
            raise ValueError(
                f"action must be a binary vector of shape ({size},) (one entry per "
                f"proposition{', then one per proposition to forget' if self.allow_forget else ''})"
                f", got shape {arr.shape}"
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"action must be numeric or boolean, got dtype {arr.dtype}")
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"action must hold only 0 and 1 entries, got {np.unique(arr)}")
        return arr.astype(bool)

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode from the facts with a random goal (or ``options={"goal": g}``)."""
        super().reset(seed=seed)
        goal = None if options is None else options.get("goal")
        if goal is None:
            goal = self.instance.goals[int(self.np_random.integers(len(self.instance.goals)))]
        else:
            goal = _check_goal(self.instance, goal)
            if goal not in self.instance.goals:
                raise ValueError(f"goal must be one of the instance's goals, got {goal}")
        self.goal = goal
        self.beliefs = np.zeros(self.n, dtype=bool)
        self.beliefs[list(self.instance.facts)] = True
        self.t = 0
        self._optimal = minimum_steps(self.instance, goal, set(self.instance.facts), self.memory)
        return self._obs(), {"goal": goal, "optimal_steps": self._optimal}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        act = self._check_action(action)
        assert_ = act[: self.n]
        n_assert = int(assert_.sum())
        overflow = n_assert > self.memory
        if overflow:
            accepted = np.zeros(self.n, dtype=bool)
        else:
            accepted = assert_ & (self.beliefs | self.derivable_mask())
        rejected = assert_ & ~accepted
        reached = bool(accepted[self.goal]) and not self.beliefs[self.goal]
        self.beliefs |= accepted
        if self.allow_forget:
            self.beliefs &= ~act[self.n :]
        self.t += 1
        reward = -self.penalty * int(rejected.sum()) + (1.0 if reached else 0.0)
        truncated = not reached and self.t >= self.max_steps
        info = {
            "accepted": int(accepted.sum()),
            "rejected": int(rejected.sum()),
            "overflow": overflow,
            "goal": self.goal,
            "optimal_steps": self._optimal,
        }
        return self._obs(), float(reward), reached, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        row = "".join("#" if b else "." for b in self.beliefs)
        marks = "".join("^" if i == self.goal else " " for i in range(self.n))
        return f"t={self.t}\n{row}\n{marks}\n"


# ---------------------------------------------------------------------------------------------
# action wrappers for agents with a discrete action head
# ---------------------------------------------------------------------------------------------
class SingleAssertion(gym.ActionWrapper):
    """One proposition per thought: ``Discrete(n)``, action ``j`` asserts proposition ``j`` alone.

    The action space of an agent with one output per proposition (a DQN over single
    propositions); its best possible number of steps is :func:`minimum_steps` with
    ``memory=1``.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, DeductionEnv) or base.allow_forget:
            raise TypeError("SingleAssertion wraps a DeductionEnv without forgetting")
        self.n = base.n
        self.action_space = spaces.Discrete(self.n)

    def action(self, action: Any) -> np.ndarray:
        if isinstance(action, bool) or not isinstance(action, int | np.integer):
            raise TypeError(f"action must be an integer proposition, got {action!r}")
        if not 0 <= int(action) < self.n:
            raise ValueError(f"action must lie in [0, {self.n - 1}], got {action}")
        out = np.zeros(self.n, dtype=np.int8)
        out[int(action)] = 1
        return out


class JointAction(gym.ActionWrapper):
    """Every thought as one discrete action: ``Discrete(2**n)``, bit ``j`` of the index asserts
    proposition ``j`` (for an enumerated joint-action head; ``n <= 20``)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, DeductionEnv) or base.allow_forget:
            raise TypeError("JointAction wraps a DeductionEnv without forgetting")
        if base.n > 20:
            raise ValueError(f"JointAction enumerates 2**n thoughts; n={base.n} is too large")
        self.n = base.n
        self.action_space = spaces.Discrete(2**self.n)

    def action(self, action: Any) -> np.ndarray:
        if isinstance(action, bool) or not isinstance(action, int | np.integer):
            raise TypeError(f"action must be an integer index, got {action!r}")
        if not 0 <= int(action) < 2**self.n:
            raise ValueError(f"action must lie in [0, 2**{self.n}), got {action}")
        return ((int(action) >> np.arange(self.n)) & 1).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# running a policy
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ThinkingTrace(Result):
    """One episode of thinking (see :func:`rollout`).

    ``thoughts`` are the asserted sets step by step; ``accepted``/``rejected`` the numbers of
    accepted and rejected assertions per step; ``overflow`` whether each thought exceeded the
    working memory.
    """

    goal: int
    success: bool
    steps: int
    optimal_steps: float
    episode_return: float
    thoughts: list[frozenset[int]]
    accepted: list[int]
    rejected: list[int]
    overflow: list[bool]
    observations: list[np.ndarray]

    @property
    def hallucinations(self) -> int:
        """Total rejected assertions of the episode."""
        return int(sum(self.rejected))

    @property
    def assertions(self) -> int:
        """Total assertions of the episode."""
        return int(sum(self.accepted) + sum(self.rejected))


def rollout(
    env: gym.Env,
    policy: Callable[[np.ndarray], Any],
    *,
    goal: int | None = None,
    seed: int | None = None,
) -> ThinkingTrace:
    """Run one episode of ``policy`` (a function ``observation -> action``) on ``env``.

    Parameters
    ----------
    env : DeductionEnv, or one wrapped by :class:`SingleAssertion` or :class:`JointAction`
        The thoughts are recorded as sets of propositions whatever the action format.
    policy : callable
        Maps the observation to an action of ``env.action_space``.
    goal : int, optional
        The goal of the episode (default: drawn by ``env.reset``).
    seed : int, optional
        Passed to ``env.reset``.
    """
    base = env.unwrapped
    if not isinstance(base, DeductionEnv):
        raise TypeError(f"env must be a DeductionEnv, got {type(base).__name__}")
    obs, info = env.reset(seed=seed, options=None if goal is None else {"goal": goal})
    thoughts, acc, rej, over, observations = [], [], [], [], [obs]
    ret, success = 0.0, False
    while True:
        action = policy(obs)
        vec = env.action(action) if isinstance(env, gym.ActionWrapper) else np.asarray(action)
        obs, r, term, trunc, step_info = env.step(action)
        thoughts.append(frozenset(int(i) for i in np.flatnonzero(vec[: base.n])))
        acc.append(step_info["accepted"])
        rej.append(step_info["rejected"])
        over.append(step_info["overflow"])
        observations.append(obs)
        ret += r
        if term or trunc:
            success = bool(term)
            break
    return ThinkingTrace(
        goal=info["goal"],
        success=success,
        steps=len(thoughts),
        optimal_steps=info["optimal_steps"],
        episode_return=ret,
        thoughts=thoughts,
        accepted=acc,
        rejected=rej,
        overflow=over,
        observations=observations,
    )


def plan_policy(
    env: gym.Env, instance: DeductionInstance | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """The exact optimum as a policy: follow :func:`optimal_plan` from the current beliefs.

    Parameters
    ----------
    env : DeductionEnv (or a wrapper of one)
        Supplies the number of propositions and the working memory.
    instance : DeductionInstance, optional
        The rule base to plan with (default: the environment's own). A different one is a model
        of the world, for example rules inferred from experience; where it cannot reach the
        goal the policy thinks nothing.
    """
    base = env.unwrapped
    if not isinstance(base, DeductionEnv):
        raise TypeError(f"env must be a DeductionEnv, got {type(base).__name__}")
    model = base.instance if instance is None else instance
    if not isinstance(model, DeductionInstance) or model.n != base.n:
        raise TypeError(f"instance must be a DeductionInstance over n={base.n} propositions")

    def policy(obs: np.ndarray) -> np.ndarray:
        n = base.n
        beliefs = {int(i) for i in np.flatnonzero(obs[:n])}
        goal = int(np.flatnonzero(obs[n:])[0])
        plan = optimal_plan(model, goal, beliefs, base.memory)
        out = np.zeros(base.action_space.n, dtype=np.int8)
        if plan:
            out[list(plan[0])] = 1
        return out

    return policy


def plot_thinking(
    instance: DeductionInstance,
    trace: ThinkingTrace,
    step: int = 0,
    ax: Any = None,
    *,
    others: bool = True,
) -> Any:
    """Draw one thinking step of an episode on the goal's proof graph (chapter 13 demo).

    Columns are forward-chaining levels (given facts on the left, the goal on the right); an
    arrow joins each premise to the proposition its rule derives. Filled circles are believed
    before the step; the thought of the step is ringed, green where accepted and red where
    rejected. Asserted propositions outside the goal's proof are drawn in a last column.

    Parameters
    ----------
    instance : DeductionInstance
    trace : ThinkingTrace
        From :func:`rollout`.
    step : int
        ``0 <= step <= trace.steps``; ``trace.steps`` shows the final beliefs.
    ax : matplotlib Axes, optional
    others : bool
        Draw the column of asserted propositions that are not in the proof.

    Returns
    -------
    matplotlib Axes
    """
    from .._optional import require

    plt = require("matplotlib.pyplot", "viz", feature="ebmlib.rl.thoughts.plot_thinking")
    if not isinstance(trace, ThinkingTrace):
        raise TypeError(f"trace must be a ThinkingTrace, got {type(trace).__name__}")
    step = check_int(step, "step", minimum=0)
    if step > trace.steps:
        raise ValueError(f"step must be <= trace.steps={trace.steps}, got {step}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.0))
    n, goal = instance.n, trace.goal
    held = {int(i) for i in np.flatnonzero(trace.observations[step][:n])}
    thought = trace.thoughts[step] if step < trace.steps else frozenset()
    anc = instance.ancestors(goal)
    levels = forward_levels(instance)
    shown = sorted(anc, key=lambda p: (levels[p], p))
    extra = sorted(thought - anc) if others else []
    cols: dict[float, list[int]] = {}
    for p in shown:
        cols.setdefault(levels[p], []).append(p)
    xmax = max(cols) + 1 if cols else 1
    if extra:
        cols[xmax] = extra
    pos = {}
    for x, props in cols.items():
        for k, p in enumerate(props):
            pos[p] = (x, (k - (len(props) - 1) / 2) * 1.0)
    for body, head in instance.rules:
        if head in anc:
            for q in body:
                (x0, y0), (x1, y1) = pos[q], pos[head]
                ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "-|>",
                            "color": "0.6", "lw": 0.8, "shrinkA": 7, "shrinkB": 7})  # fmt: skip
    accepted: set[int] = set()
    if step < trace.steps and not trace.overflow[step]:
        accepted, _, _ = judge(instance, held, thought, instance.n)
    for p, (x, y) in pos.items():
        face = "0.25" if p in held else "white"
        ax.scatter([x], [y], s=260, c=face, edgecolors="0.3", zorder=3,
                   marker="*" if p == goal else "o")  # fmt: skip
        if p in thought:
            ring = "tab:green" if p in accepted else "tab:red"
            ax.scatter([x], [y], s=520, facecolors="none", edgecolors=ring, linewidths=2.2,
                       zorder=4)  # fmt: skip
        ax.text(x, y - 0.42, str(p), ha="center", va="top", fontsize=7)
    ticks = sorted(cols)
    labels = [("facts" if x == 0 else f"level {int(x)}") for x in ticks]
    if extra:
        labels[-1] = "other"
    ax.set_xticks(ticks, labels)
    ax.set_yticks([])
    ax.set_xlim(-0.6, max(ticks) + 0.6)
    ys = [y for _, y in pos.values()] or [0.0]
    ax.set_ylim(min(ys) - 0.9, max(ys) + 0.6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if step < trace.steps:
        verdict = (
            "overflow: thought rejected"
            if trace.overflow[step]
            else (f"{trace.accepted[step]} accepted, {trace.rejected[step]} rejected")
        )
        ax.set_title(f"step {step + 1} of {trace.steps}: {verdict}", fontsize=9)
    else:
        ax.set_title("goal reached" if trace.success else "episode ended", fontsize=9)
    return ax


def _register() -> None:
    if "ebmlib/Deduction-v0" not in gym.registry:
        gym.register(id="ebmlib/Deduction-v0", entry_point="ebmlib.rl.thoughts:DeductionEnv")


_register()
