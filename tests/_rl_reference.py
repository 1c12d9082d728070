"""Independent reference code for the RL tests: written from the documentation, not the library.

* ``ref_step``: the rules of ``BlockerEnv`` (chapter 10) in plain Python lists;
* ``all_states``: every legal non-terminal Blocker state of a small instance;
* ``ref_heuristic``: the four fixed Blocker policies, written from their descriptions;
* ``bfs_min_steps``: breadth-first search for the fewest steps to score from one state;
* ``rational_absorption``: success probabilities of a finite chain in exact rational arithmetic.
"""

from __future__ import annotations

import itertools
from collections import deque
from fractions import Fraction

DELTA = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}  # left, down, right, up


def ref_step(W, L, bw, agents, blockers, moves):
    """One Blocker step: blockers' maximin reply, agents in index order, scoring.

    Returns ``(agents, blockers, reward, scored)`` with tuples.
    """
    D = L - 2
    agents = [list(a) for a in agents]
    n_b = len(blockers)
    best = None
    for rank, move in enumerate(itertools.product([0, -1, 1], repeat=n_b)):
        cols = [blockers[k] + move[k] for k in range(n_b)]
        legal = all(0 <= c <= W - bw for c in cols)
        legal = legal and all(cols[k + 1] - cols[k] >= bw for k in range(n_b - 1))
        cover = [c + j for c in cols for j in range(bw)]
        legal = legal and not any(r == D and c in cover for r, c in agents)
        if not legal:
            continue
        gaps = [g for g in range(W) if g not in cover]
        score = min(D - r + abs(c - g) for g in gaps for r, c in agents if r <= D)
        key = (score, -sum(1 for d in move if d), -rank)
        if best is None or key > best[0]:
            best = (key, cols)
    blockers = best[1] if n_b else list(blockers)
    cover = [c + j for c in blockers for j in range(bw)]
    for i, m in enumerate(moves):
        r, c = agents[i][0] + DELTA[m][0], agents[i][1] + DELTA[m][1]
        if r < 0 or r >= L or c < 0 or c >= W:
            continue
        if r == D and c in cover:
            continue
        if [r, c] in agents:
            continue
        agents[i] = [r, c]
    scored = any(r == L - 1 for r, _ in agents)
    return tuple(map(tuple, agents)), tuple(blockers), (1.0 if scored else -1.0), scored


def all_states(W, L, n_agents, n_blockers, bw):
    """Every legal non-terminal state ``(agents, blockers)``."""
    D = L - 2
    cells = [(r, c) for r in range(L - 1) for c in range(W)]
    for b in itertools.combinations(range(W - bw + 1), n_blockers):
        if any(b[k + 1] - b[k] < bw for k in range(len(b) - 1)):
            continue
        cover = {c + j for c in b for j in range(bw)}
        free = [x for x in cells if not (x[0] == D and x[1] in cover)]
        for agents in itertools.permutations(free, n_agents):
            yield agents, b


def start_states(W, n_agents, n_blockers, bw):
    """Agents on distinct top-row columns, blockers on any legal line."""
    lines = [
        b
        for b in itertools.combinations(range(W - bw + 1), n_blockers)
        if all(b[k + 1] - b[k] >= bw for k in range(len(b) - 1))
    ]
    return [
        (tuple((0, c) for c in cols), b)
        for cols in itertools.permutations(range(W), n_agents)
        for b in lines
    ]


def ref_heuristic(name, W, L, bw, holes, agents, blockers):
    """The fixed policies of BlockerEnv.heuristic_action, from their descriptions."""
    D = L - 2
    n = len(agents)
    if name == "all_down":
        return (1,) * n
    if name == "nearest_hole":
        targets = [sorted(holes, key=lambda h, c=c: (abs(h - c), h))[0] for _, c in agents]
    elif name == "chase_gap":
        cover = {c + j for c in blockers for j in range(bw)}
        gaps = [g for g in range(W) if g not in cover]
        targets = [sorted(gaps, key=lambda g, c=c: (abs(g - c), g))[0] for _, c in agents]
    elif name == "formation":
        order = sorted(range(n), key=lambda i: (agents[i][1], i))
        spaced = [round(k * (len(holes) - 1) / (n - 1)) for k in range(n)]
        targets = [None] * n
        for k, i in enumerate(order):
            targets[i] = holes[spaced[k]]
    else:
        raise KeyError(name)
    moves = []
    for (r, c), t in zip(agents, targets, strict=True):
        if r >= D or c == t:
            moves.append(1)
        else:
            moves.append(0 if t < c else 2)
    return tuple(moves)


def rollout_steps(W, L, bw, state, policy, limit):
    """Steps until a deterministic policy scores from ``state`` (None: not within ``limit``).

    The dynamics and the policy are deterministic functions of the state, so a state seen
    twice means the episode loops for ever.
    """
    agents, blockers = state
    seen = {(agents, blockers)}
    for t in range(1, limit + 1):
        agents, blockers, _, scored = ref_step(W, L, bw, agents, blockers, policy(agents, blockers))
        if scored:
            return t
        if (agents, blockers) in seen:
            return None
        seen.add((agents, blockers))
    return None


def bfs_min_steps(W, L, bw, n_agents, state, limit):
    """Fewest joint moves to score from ``state`` (None if impossible within ``limit``).

    ``state`` may also be a list of states: the fewest moves from any of them.
    """
    joint = list(itertools.product(range(4), repeat=n_agents))
    sources = state if isinstance(state, list) else [state]
    seen = set(sources)
    frontier = deque((s, 0) for s in sources)
    while frontier:
        (agents, blockers), d = frontier.popleft()
        if d >= limit:
            continue
        for m in joint:
            a2, b2, _, scored = ref_step(W, L, bw, agents, blockers, m)
            if scored:
                return d + 1
            if (a2, b2) not in seen:
                seen.add((a2, b2))
                frontier.append(((a2, b2), d + 1))
    return None


def rational_absorption(n_states, step, policy, success_reward=0):
    """Success probability from every state, exactly, for a gymnasium toy-text table.

    ``step[s][a]`` lists ``(p, s', r, done)`` (``env.unwrapped.P``); ``policy[s]`` is an
    action. Probabilities are read as fractions with denominator at most 1000; the linear
    system ``x = g + P x`` on the states that can reach a success is solved by Gauss-Jordan
    elimination over the rationals.
    """
    P = [[Fraction(0)] * n_states for _ in range(n_states)]
    g = [Fraction(0)] * n_states
    for s in range(n_states):
        for p, s2, r, done in step[s][policy[s]]:
            p = Fraction(p).limit_denominator(1000)
            if done:
                if r > success_reward:
                    g[s] += p
            else:
                P[s][s2] += p
    can = {s for s in range(n_states) if g[s] > 0}
    while True:
        grown = can | {s for s in range(n_states) if any(P[s][t] > 0 for t in can)}
        if grown == can:
            break
        can = grown
    idx = sorted(can)
    m = len(idx)
    A = [[(1 if i == j else 0) - P[idx[i]][idx[j]] for j in range(m)] + [g[idx[i]]]
         for i in range(m)]  # fmt: skip
    for col in range(m):
        piv = next(r for r in range(col, m) if A[r][col] != 0)
        A[col], A[piv] = A[piv], A[col]
        inv = 1 / A[col][col]
        A[col] = [v * inv for v in A[col]]
        for r in range(m):
            if r != col and A[r][col] != 0:
                f = A[r][col]
                A[r] = [a - f * b for a, b in zip(A[r], A[col], strict=True)]
    x = [Fraction(0)] * n_states
    for i, s in enumerate(idx):
        x[s] = A[i][m]
    return x


def min_steps_all(W, L, bw, n_agents, starts):
    """Fewest moves to score from each start, by dynamic programming over the reachable graph.

    The graph is built with ``ref_step``; then ``d(s) = min_a [1 if a scores else 1 +
    d(s')]`` is iterated from ``d = inf`` until nothing changes (Bellman-Ford).
    """
    joint = list(itertools.product(range(4), repeat=n_agents))
    index = {s: i for i, s in enumerate(starts)}
    states = list(starts)
    edges = []  # per state: list of successor indices, -1 for a scoring move
    k = 0
    while k < len(states):
        agents, blockers = states[k]
        out = []
        for m in joint:
            a2, b2, _, scored = ref_step(W, L, bw, agents, blockers, m)
            if scored:
                out.append(-1)
                continue
            j = index.setdefault((a2, b2), len(states))
            if j == len(states):
                states.append((a2, b2))
            out.append(j)
        edges.append(out)
        k += 1
    inf = float("inf")
    d = [inf] * len(states)
    changed = True
    while changed:
        changed = False
        for i, out in enumerate(edges):
            best = min(1 if j < 0 else 1 + d[j] for j in out)
            if best < d[i]:
                d[i] = best
                changed = True
    return [None if d[index[s]] == inf else int(d[index[s]]) for s in starts]
