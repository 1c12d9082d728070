"""Tests of ebmlib.rl: exact dynamic programming, agents, training loop (chapters 9 and 10)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from ebmlib.rl import agents, exact, training
from ebmlib.rl.agents import FreeEnergyQ, TabularQ, linear_schedule


@pytest.fixture(scope="module")
def frozenlake():
    return gym.make("FrozenLake-v1")


# ------------------------------------------------------------------------------ exact (ch. 9)
def test_value_iteration_frozenlake_published_value(frozenlake):
    """Checks eq. (9.4): V*(start) of slippery FrozenLake-v1 at gamma = 0.99 is 0.542026."""
    sol = exact.value_iteration(frozenlake, 0.99)
    assert float(sol.V[0]) == pytest.approx(0.542026, abs=5e-7)
    # the fixed point satisfies the Bellman optimality equation
    mdp = exact.tabular_mdp(frozenlake)
    q = mdp.R + 0.99 * mdp.P @ sol.V
    torch.testing.assert_close(sol.V, q.max(1).values, atol=1e-10, rtol=0)


def test_success_probability_of_optimal_policy(frozenlake):
    """Checks eq. (9.9): the greedy optimal policy reaches the goal with probability 0.8235.

    The exact value is 14/17; with gymnasium's 100-step time limit it is lower.
    """
    sol = exact.value_iteration(frozenlake, 0.99)
    p = exact.success_probability(frozenlake, sol.policy)
    assert round(p, 4) == 0.8235
    assert p == pytest.approx(14 / 17, abs=1e-10)
    p100 = exact.success_probability(frozenlake, sol.policy, max_steps=100)
    assert p100 < p
    p_long = exact.success_probability(frozenlake, sol.policy, max_steps=20_000)
    assert p_long == pytest.approx(p, abs=1e-9)


def test_policy_evaluation_matches_value_iteration(frozenlake):
    """Checks eq. (9.2): evaluating the optimal policy gives back V* and Q*."""
    sol = exact.value_iteration(frozenlake, 0.99)
    res = exact.policy_evaluation(frozenlake, sol.policy, 0.99)
    V, Q = res.V, res.Q
    torch.testing.assert_close(V, sol.V, atol=1e-9, rtol=0)
    torch.testing.assert_close(Q, sol.Q, atol=1e-9, rtol=0)
    # a stochastic policy given as probabilities agrees with its one-hot form
    V2 = exact.policy_evaluation(
        frozenlake, torch.nn.functional.one_hot(sol.policy, 4).double(), 0.99
    ).V
    torch.testing.assert_close(V2, V)


def test_deterministic_frozenlake_closed_form():
    """Checks eq. (9.4) on the non-slippery map: the goal is 6 moves away, V*(0) = gamma^5."""
    env = gym.make("FrozenLake-v1", is_slippery=False)
    sol = exact.value_iteration(env, 0.9)
    assert float(sol.V[0]) == pytest.approx(0.9**5, abs=1e-12)
    assert exact.success_probability(env, sol.policy) == pytest.approx(1.0)
    # always moving left never terminates: success probability exactly 0
    assert exact.success_probability(env, torch.zeros(16, dtype=torch.long)) == 0.0


@pytest.mark.slow
def test_uniform_policy_success_against_monte_carlo(frozenlake):
    """Checks eq. (9.9) against simulation: the uniform random policy's success rate.

    Tolerance: 4 binomial standard errors for n = 4000 episodes.
    """
    pi = torch.full((16, 4), 0.25, dtype=torch.float64)
    p = exact.success_probability(frozenlake, pi, max_steps=100)
    rng = np.random.default_rng(0)
    env = gym.make("FrozenLake-v1")
    env.reset(seed=0)
    n, wins = 4000, 0
    for _ in range(n):
        env.reset()
        while True:
            _, r, term, trunc, _ = env.step(int(rng.integers(4)))
            if term or trunc:
                wins += r > 0
                break
    assert abs(wins / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_exact_bad_inputs(frozenlake):
    """Bad inputs name the argument."""
    with pytest.raises(TypeError, match="env"):
        exact.value_iteration(gym.make("CartPole-v1"), 0.9)
    with pytest.raises(ValueError, match="gamma"):
        exact.value_iteration(frozenlake, 1.5)
    with pytest.raises(ValueError, match="policy"):
        exact.success_probability(frozenlake, torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="policy"):
        exact.success_probability(frozenlake, torch.full((16,), 7))
    with pytest.raises(ValueError, match="policy"):
        exact.policy_evaluation(frozenlake, torch.full((16, 4), 0.3), 0.9)


def test_other_toy_text_tables():
    """Checks eq. (9.4) on CliffWalking-v1: the optimal path along the cliff costs 13 steps."""
    env = gym.make("CliffWalking-v1")
    sol = exact.value_iteration(env, 1.0, max_iter=1000)
    assert float(sol.V[36]) == pytest.approx(-13.0)
    taxi = exact.value_iteration(gym.make("Taxi-v4"), 0.9)
    assert taxi.Q.shape == (500, 6)


# ------------------------------------------------------------------------------- TabularQ
def test_tabular_updates_follow_the_td_rules():
    """Checks eqs. (9.6) and (9.7): one Q-learning and one SARSA step by hand."""
    for method in ("q", "sarsa"):
        ag = TabularQ(3, 2, lr=0.5, gamma=0.9, method=method)
        ag.table[:] = [[0.0, 1.0], [2.0, 4.0], [0.5, 0.7]]
        delta = ag.update(0, 1, 1.0, 1, 0, False)
        nxt = 4.0 if method == "q" else 2.0
        assert delta == pytest.approx(1.0 + 0.9 * nxt - 1.0)
        assert ag.table[0, 1] == pytest.approx(1.0 + 0.5 * delta)
        # terminated: no bootstrap from the (non-zero) successor row
        d2 = ag.update(1, 0, 3.0, 2, None, True)
        assert d2 == pytest.approx(3.0 - 2.0)
        assert ag.table[1, 0] == pytest.approx(2.0 + 0.5 * d2)


def test_tabular_learning_rate_schedule():
    """Checks eq. (eq-rl-q-learning) with a scheduled rate: the step uses lr(episode).

    Chapter 10 gives every learner of a comparison the same schedule, so the tabular learners
    (and the independent learners built from them) must follow one too.
    """
    sched = linear_schedule(0.5, 0.05, 10)
    ag = TabularQ(3, 2, lr=sched, gamma=0.9, method="q")
    ag.table[:] = [[0.0, 1.0], [2.0, 4.0], [0.5, 0.7]]
    ag.begin_episode(6)
    assert ag.current_lr == pytest.approx(sched(6))
    delta = ag.update(0, 1, 1.0, 1, None, False)
    assert ag.table[0, 1] == pytest.approx(1.0 + sched(6) * delta)
    ag.begin_episode(50)  # past the ramp: the end value
    before = ag.table[1, 0]
    d2 = ag.update(1, 0, 3.0, 2, None, True)
    assert ag.table[1, 0] == pytest.approx(before + 0.05 * d2)
    # the independent learners share the schedule and follow the episode
    ind = agents.IndependentQ(
        spaces.MultiDiscrete([3, 2]), spaces.MultiDiscrete([2, 2]), [[0], [1]], lr=sched
    )
    ind.begin_episode(3)
    assert all(lr.current_lr == pytest.approx(sched(3)) for lr in ind.learners)
    with pytest.raises(ValueError, match="lr"):
        TabularQ(3, 2, lr=linear_schedule(1.5, 0.1, 10))
    with pytest.raises(ValueError, match="lr"):
        TabularQ(3, 2, lr=0.0)


def test_boltzmann_action_frequencies():
    """Checks eq. (9.8): Boltzmann exploration samples softmax(Q/T).

    Tolerance: 4 standard errors for n = 20000 draws.
    """
    ag = TabularQ(1, 3, exploration="boltzmann", T=0.5)
    ag.table[0] = [0.0, 0.5, 1.0]
    p = torch.softmax(torch.tensor([0.0, 0.5, 1.0]) / 0.5, 0).numpy()
    g = torch.Generator().manual_seed(0)
    n = 20000
    counts = np.bincount([ag.act(0, g) for _ in range(n)], minlength=3) / n
    assert np.all(np.abs(counts - p) < 4 * np.sqrt(p * (1 - p) / n))


def test_tabular_bad_inputs():
    """Out-of-range and mistyped observations/actions raise clear errors."""
    ag = TabularQ(4, 2)
    with pytest.raises(ValueError, match="obs"):
        ag.act(7)
    with pytest.raises(ValueError, match="action"):
        ag.update(0, 5, 0.0, 1, 0, False)
    with pytest.raises(TypeError, match="obs"):
        ag.greedy(1.5)
    with pytest.raises(ValueError, match="method"):
        TabularQ(4, 2, method="dqn")
    with pytest.raises(ValueError, match="impractical"):
        TabularQ(spaces.MultiDiscrete([28] * 5), spaces.MultiDiscrete([4] * 3))


@pytest.mark.slow
def test_q_learning_solves_frozenlake(frozenlake):
    """Checks the convergence claim of chapter 9 on the chapter's seed: after 3000 episodes the
    greedy policy of Q-learning succeeds with an exact probability (eq. (9.9)) within a few
    hundredths (0.05) of the optimum 14/17 = 0.8235, and its start value is within 0.05 of
    V*(start) = 0.542026 (eq. (9.4)). (Seeds 0-5 all end at 0.7805, the near-tied policy of
    chapter 9, with start values 0.529-0.587.)"""
    ag = TabularQ(
        frozenlake.observation_space,
        frozenlake.action_space,
        lr=0.1,
        method="q",
        epsilon=linear_schedule(1.0, 0.01, 1500),
    )
    training.train(frozenlake, ag, 3000, seed=0)
    p = exact.success_probability(frozenlake, ag.greedy_policy())
    assert 14 / 17 - 0.05 <= p <= 14 / 17 + 1e-12
    assert abs(ag.table[0].max() - 0.542026) < 0.05


def test_train_is_reproducible_and_records_history(frozenlake):
    """Same seed, same fresh agent: identical histories (the seeding rules of train)."""
    runs = []
    for _ in range(2):
        ag = TabularQ(16, 4, lr=0.1, epsilon=0.3)
        h = training.train(
            frozenlake,
            ag,
            50,
            seed=3,
            eval_every=25,
            eval_fn=lambda a: exact.success_probability(frozenlake, a.greedy_policy()),
        )
        runs.append(h)
    assert runs[0].returns == runs[1].returns
    assert len(runs[0].returns) == 50
    assert runs[0].eval_episode == [0, 25, 50]
    ev = training.evaluate(frozenlake, ag, 20, seed=1)
    assert set(ev) >= {"returns", "mean_return", "std_error"}
    with pytest.raises(ValueError, match="eval_fn"):
        training.train(frozenlake, ag, 5, eval_every=2)
    with pytest.raises(TypeError, match="agent"):
        training.train(frozenlake, object(), 5)


# ----------------------------------------------------------------------------- FreeEnergyQ
def _fe(obs_space, act_space, k=5, std=0.7, **kw):
    return FreeEnergyQ(
        obs_space,
        act_space,
        n_hidden=k,
        init_std=std,
        generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
        **kw,
    )


def test_free_energy_q_gradient_equals_autograd():
    """Checks eq. (10.2): the closed-form gradient of Q = -F equals autograd."""
    ag = _fe(spaces.Discrete(4), spaces.MultiDiscrete([3, 2]))
    torch.nn.init.normal_(ag.rbm.b, generator=torch.Generator().manual_seed(1))
    torch.nn.init.normal_(ag.rbm.c, generator=torch.Generator().manual_seed(2))
    v = ag.encode(2, np.array([1, 0]))
    params = [ag.rbm.W, ag.rbm.b, ag.rbm.c]
    for p in params:
        p.requires_grad_(True)
    q = -ag.rbm.free_energy(v)
    gW, gb, gc = torch.autograd.grad(q, params)
    grad = ag.q_gradient(v)
    torch.testing.assert_close(grad["W"], gW)
    torch.testing.assert_close(grad["b"], gb)
    torch.testing.assert_close(grad["c"], gc)


@pytest.mark.parametrize("method", ["sarsa", "q"])
def test_free_energy_update_is_td_step(method):
    """Checks eq. (10.3): update adds lr * delta * dQ/dtheta with delta = r + gamma Q' - Q."""
    ag = _fe(spaces.Discrete(4), spaces.Discrete(3), lr=0.05, gamma=0.9, method=method)
    v = ag.encode(1, 2)
    grad = ag.q_gradient(v)
    q_sa = ag.q(1, 2)
    nxt = ag.q(3, 0) if method == "sarsa" else float(ag.q_values(3).max())
    before = {k: getattr(ag.rbm, k).clone() for k in "Wbc"}
    delta = ag.update(1, 2, 0.7, 3, 0, False)
    assert delta == pytest.approx(0.7 + 0.9 * nxt - q_sa, abs=1e-12)
    for k in "Wbc":
        torch.testing.assert_close(getattr(ag.rbm, k), before[k] + 0.05 * delta * grad[k])
    # a terminating step has no successor value: delta = r - Q(s, a)
    q_sa = ag.q(2, 1)
    grad = ag.q_gradient(ag.encode(2, 1))
    before = {k: getattr(ag.rbm, k).clone() for k in "Wbc"}
    delta = ag.update(2, 1, -0.4, 0, None, True)
    assert delta == pytest.approx(-0.4 - q_sa, abs=1e-12)
    for k in "Wbc":
        torch.testing.assert_close(getattr(ag.rbm, k), before[k] + 0.05 * delta * grad[k])


def test_q_values_enumerate_negative_free_energy_and_softmax():
    """Checks eqs. (10.1) and (9.8): enumerated Q equals -F, probabilities equal softmax(Q/T)."""
    ag = _fe(spaces.MultiDiscrete([2, 3]), spaces.MultiBinary(3))
    obs = np.array([1, 2])
    A = ag.act_codec.all_units(torch.float64, "cpu")
    v = torch.cat([ag.encode_state(obs).expand(8, -1), A], 1)
    torch.testing.assert_close(ag.q_values(obs), -ag.rbm.free_energy(v))
    for t in (0.3, 1.0, 2.5):
        torch.testing.assert_close(
            ag.action_probabilities(obs, t), torch.softmax(-ag.rbm.free_energy(v) / t, 0)
        )
    # the table index order of enumeration matches to_index
    assert ag.act_codec.to_index(np.array([1, 0, 1]), "a") == 5
    torch.testing.assert_close(A[5], ag.encode_action(np.array([1, 0, 1])))


def test_k_log2_offset_and_its_correction():
    """Checks eq. (10.4): with W = 0 and zero biases, Q(s, a) = K log 2; corrected, Q = 0; with
    random weights the offset is larger (Jensen) and the "mean" correction removes it."""
    for k in (1, 7, 32):
        ag = _fe(spaces.Discrete(5), spaces.Discrete(3), k=k, std=0.0)
        torch.testing.assert_close(ag.q_values(2), torch.full((3,), k * math.log(2.0)).double())
        for mode in (True, "mean"):
            ag0 = _fe(spaces.Discrete(5), spaces.Discrete(3), k=k, std=0.0, offset_correction=mode)
            torch.testing.assert_close(ag0.q_values(4), torch.zeros(3).double())
    # random weights: the offset exceeds K log 2 (Jensen); "mean" centres every state's Q(s, .)
    ag = _fe(spaces.Discrete(5), spaces.Discrete(3), k=16, std=1.0)
    assert float(ag.q_values(0).mean()) > 16 * math.log(2.0)
    agm = _fe(spaces.Discrete(5), spaces.Discrete(3), k=16, std=1.0, offset_correction="mean")
    for s in range(5):
        assert abs(float(agm.q_values(s).mean())) < 1e-9
    agb = _fe(
        spaces.MultiDiscrete([3, 3]), spaces.Discrete(2), k=16, std=1.0, offset_correction="mean"
    )
    assert abs(float(agb.q_table().mean())) < 2.0


def test_symmetry_trap_identical_hidden_updates():
    """Checks the symmetry argument of chapter 10: with W = 0 all hidden units receive the same
    TD update, so they stay identical forever (eq. (10.2))."""
    ag = _fe(spaces.Discrete(4), spaces.Discrete(2), k=6, std=0.0, lr=0.1)
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        s, a = int(torch.randint(4, (), generator=g)), int(torch.randint(2, (), generator=g))
        ag.update(s, a, float(torch.rand((), generator=g)), (s + 1) % 4, 1 - a, s == 3)
    W = ag.rbm.W
    assert float(W.abs().sum()) > 0
    torch.testing.assert_close(W, W[:, :1].expand_as(W))


def _gibbs_freq(ag, obs, t, n, sweeps, t0=None):
    g = torch.Generator().manual_seed(7)
    units = ag.gibbs_actions(obs, n_chains=n, sweeps=sweeps, T=t, T0=t0 or t, generator=g)
    idx = [ag.act_codec.to_index(ag.act_codec.units_to_value(u), "a") for u in units]
    return np.bincount(idx, minlength=ag.act_codec.n_values) / n


@pytest.mark.parametrize(
    "act_space", [spaces.MultiBinary(3), spaces.MultiDiscrete([3, 2]), spaces.Discrete(5)]
)
def test_gibbs_at_t1_samples_exp_minus_free_energy(act_space):
    """Checks eq. (10.5): Gibbs sampling with the state clamped at T = 1 samples
    exp(-F(s, a)) / Z(s) over a small action set.

    Tolerance: 4.5 binomial standard errors per action for n = 20000 independent chains.
    """
    ag = _fe(spaces.Discrete(3), act_space, k=4, std=1.0, action_selection="gibbs")
    p = torch.softmax(ag.gibbs_log_weights(1, 1.0), 0).numpy()
    torch.testing.assert_close(ag.gibbs_log_weights(1, 1.0), ag.q_values(1))
    n = 20000
    freq = _gibbs_freq(ag, 1, 1.0, n, sweeps=60)
    assert np.all(np.abs(freq - p) < 4.5 * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_gibbs_away_from_t1_is_not_softmax_q_over_t():
    """Checks eq. (10.6): at T != 1 the Gibbs marginal is exp(-F_T/T), not softmax(Q/T).

    Tolerance: 4.5 binomial standard errors per action for n = 20000 chains; the two
    candidate distributions differ by far more than that.
    """
    ag = _fe(spaces.Discrete(2), spaces.MultiBinary(3), k=3, std=1.5, action_selection="gibbs")
    t = 0.3
    p_gibbs = torch.softmax(ag.gibbs_log_weights(0, t), 0).numpy()
    p_soft = ag.action_probabilities(0, t).numpy()
    n = 20000
    se = np.sqrt(p_gibbs * (1 - p_gibbs) / n)
    assert np.abs(p_gibbs - p_soft).max() > 10 * se.max()
    freq = _gibbs_freq(ag, 0, t, n, sweeps=80)
    assert np.all(np.abs(freq - p_gibbs) < 4.5 * se + 1e-12)


def test_free_energy_bad_inputs():
    """Wrong action shapes and out-of-range actions raise ValueError naming the action."""
    ag = _fe(spaces.Discrete(4), spaces.MultiDiscrete([3, 3]))
    with pytest.raises(ValueError, match="action"):
        ag.q(0, np.array([1, 2, 0]))
    with pytest.raises(ValueError, match="action"):
        ag.update(0, np.array([1, 3]), 0.0, 1, np.array([0, 0]), False)
    with pytest.raises(ValueError, match="obs"):
        ag.q(4, np.array([0, 0]))
    with pytest.raises(ValueError, match="action_selection"):
        _fe(spaces.Discrete(2), spaces.MultiBinary(20), action_selection="enumerate")
    with pytest.raises(ValueError, match="method"):
        _fe(spaces.Discrete(2), spaces.MultiBinary(20), method="q")
    with pytest.raises(TypeError, match="observation_space"):
        _fe(spaces.Box(0, 1, (2,)), spaces.Discrete(2))


def test_gibbs_greedy_finds_the_argmax_of_a_small_set():
    """Annealed Gibbs with keep_best finds argmax_a Q(s, a) (checked by enumeration)."""
    ag = _fe(spaces.Discrete(2), spaces.MultiBinary(6), k=8, std=1.0, action_selection="gibbs")
    ag_enum = _fe(spaces.Discrete(2), spaces.MultiBinary(6), k=8, std=1.0)
    best = int(ag_enum.q_values(1).argmax())
    a = ag.greedy(1, generator=torch.Generator().manual_seed(0))
    assert ag.act_codec.to_index(a, "a") == best


def test_dqn_learns_a_bandit():
    """A two-armed deterministic bandit: DQN's greedy arm is the better one after training."""

    class Bandit(gym.Env):
        observation_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        action_space = spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(2, dtype=np.float32), {}

        def step(self, action):
            return np.zeros(2, dtype=np.float32), float(action == 1), True, False, {}

    env = Bandit()
    ag = agents.DQN(
        env.observation_space,
        env.action_space,
        hidden=(16,),
        learning_starts=32,
        batch_size=16,
        epsilon=linear_schedule(1.0, 0.05, 200),
        generator=torch.Generator().manual_seed(0),
    )
    training.train(env, ag, 400, seed=0)
    q = ag.q_values(np.zeros(2, dtype=np.float32))
    assert int(q.argmax()) == 1
    assert float(q[1]) == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ValueError, match="obs"):
        ag.greedy(np.zeros(3, dtype=np.float32))


def test_demo_drawing_functions():
    """The chapter demos draw the exact numbers: V*(start) and P(goal) of eq. (9.4)/(9.9) in the
    FrozenLake panel title; the Gibbs demo draws 8 bars whose heights sum to 1."""
    from ebmlib.rl import plots

    ax = plots.draw_frozenlake_gamma(gamma=0.99)
    assert "V*(start)=0.5420" in ax.get_title() and "P(goal)=0.8235" in ax.get_title()
    ax = plots.draw_gibbs_temperature(T=1.0, n_samples=500)
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 8 and sum(heights) == pytest.approx(1.0)
    ax = plots.draw_blocker(np.array([1, 2, 22]), n_agents=2)
    assert ax.get_xlabel() == "column"
    with pytest.raises(ValueError, match="values"):
        plots.draw_frozenlake(values=torch.zeros(5))
    with pytest.raises(ValueError, match="gamma"):
        plots.draw_frozenlake_gamma(gamma=2.0)


@pytest.mark.slow
def test_gibbs_agent_finds_high_reward_actions_among_2_to_40():
    """Checks the large-action claim of chapter 10 (eq. (10.5)): with the notebook's
    configuration, annealed Gibbs action selection over 40 binary action units finds actions
    agreeing with the hidden key on >= 30 of 40 bits on average (a random action does so with
    probability 1.1e-3), where enumerating 2^40 actions is impossible."""
    from scipy.stats import binom

    from ebmlib.rl.envs import KeyActionEnv

    kenv = KeyActionEnv(n_bits=40, n_states=4, key_seed=0)
    agent = FreeEnergyQ(
        kenv.observation_space,
        kenv.action_space,
        n_hidden=8,
        lr=0.02,
        init_std=0.5,
        exploration="boltzmann",
        T=linear_schedule(2.0, 0.2, 4000),
        generator=torch.Generator().manual_seed(0),
    )
    assert not agent.enumerate
    training.train(kenv, agent, 8000, seed=0)
    g = torch.Generator().manual_seed(1)
    agree = [kenv.agreement(s, agent.greedy(s, generator=g)) for s in range(4) for _ in range(10)]
    assert np.mean(agree) >= 30
    assert binom.sf(29, 40, 0.5) < 1.2e-3
