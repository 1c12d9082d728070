"""Tests of ebmlib.rl.thinking: the attention-energy Q-function and its thought sampler.

The samplers are checked against the exact distribution of thoughts computed here by a plain
loop over all thoughts (independent of the library's vectorised enumeration), at temperatures
below, at and above 1; wrong variants of each conditional are injected and must be caught.
Tolerances: 5 binomial standard errors per thought, sqrt(p (1 - p) / M) for M samples.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ebmlib.rl import thinking
from ebmlib.rl.thinking import (
    AttentionQ,
    AttentionQNet,
    gibbs_thoughts,
    pattern_modes,
    sample_thoughts,
    thought_log_probs,
)

N_PROPS, N_PAT = 4, 3


def _machine(seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    u = scale * torch.randn(1, N_PAT, generator=g, dtype=torch.float64)
    X = scale * torch.randn(1, N_PAT, N_PROPS, generator=g, dtype=torch.float64)
    return u, X


def exact_probs_by_loop(u, X, T):
    """p_T(a) = sum_i exp((u_i + x_i . a)/T) / Z by an explicit loop over all 2^n thoughts."""
    u, X = u[0].numpy(), X[0].numpy()
    weights = []
    for bits in itertools.product((0, 1), repeat=N_PROPS):
        a = np.array(bits[::-1])  # bits[::-1] makes proposition j bit j of the index
        weights.append(sum(math.exp((u[i] + X[i] @ a) / T) for i in range(N_PAT)))
    w = np.array(weights)
    return w / w.sum()


def _index(a):
    return (a.long() * (2 ** torch.arange(a.shape[1]))).sum(1)


def _check_freqs(samples, p, label):
    m = samples.shape[0]
    freq = np.bincount(_index(samples).numpy(), minlength=len(p)) / m
    se = np.sqrt(p * (1 - p) / m) + 1e-12
    worst = np.max(np.abs(freq - p) / se)
    assert worst < 5.0, f"{label}: largest deviation {worst:.1f} standard errors"


def check_samplers(temps=(0.5, 1.0, 2.0), m=40_000):
    """Gibbs chains and exact draws at each T against the loop-computed p_T(a).

    The machine (seed 3) has patterns whose summed-out weights differ, so that a sampler that
    ignores them is wrong by many standard errors (not all random machines are that sensitive).
    """
    u, X = _machine(3)
    g = torch.Generator().manual_seed(1)
    for T in temps:
        p = exact_probs_by_loop(u, X, T)
        ub, Xb = u.expand(m, -1), X.expand(m, -1, -1)
        a, _, _ = gibbs_thoughts(ub, Xb, T, steps=25, generator=g)
        _check_freqs(a, p, f"gibbs T={T}")
        a, _ = sample_thoughts(ub, Xb, T, generator=g)
        _check_freqs(a, p, f"exact T={T}")


def test_thought_log_probs_equal_loop():
    """eq-thinking-pt: the vectorised enumeration equals the explicit loop at three T."""
    u, X = _machine(3)
    for T in (0.3, 1.0, 3.0):
        np.testing.assert_allclose(
            thought_log_probs(u, X, T)[0].exp().numpy(), exact_probs_by_loop(u, X, T), rtol=1e-10
        )


def test_samplers_match_exact_distribution():
    """thm-thinking-gibbs: block Gibbs with the state clamped (25 steps from the empty thought)
    and the exact ancestral sampler both draw p_T(a) ~ sum_i e^{(u_i + x_i.a)/T}, at T = 0.5,
    1 and 2 (beta = 1/T above and below 1), within 5 standard errors per thought."""
    check_samplers()


def _wrong_index_without_thought(u, X, a, T):
    return u / T


def _wrong_index_without_T(u, X, a, T):
    return u + (X @ a[:, :, None])[..., 0]


def _wrong_units_without_T(x, T):
    return torch.sigmoid(x)


def _wrong_units_sign(x, T):
    return torch.sigmoid(-x / T)


def _wrong_marginal_without_softplus(u, X, T):
    return u / T


@pytest.mark.parametrize(
    "name, wrong",
    [
        ("_index_logits", _wrong_index_without_thought),
        ("_index_logits", _wrong_index_without_T),
        ("_unit_probs", _wrong_units_without_T),
        ("_unit_probs", _wrong_units_sign),
        ("_marginal_index_logits", _wrong_marginal_without_softplus),
    ],
    ids=["index-ignores-thought", "index-missing-T", "units-missing-T", "units-wrong-sign",
         "marginal-missing-softplus"],
)  # fmt: skip
def test_sampler_check_catches_wrong_variants(monkeypatch, name, wrong):
    """Each plausible wrong conditional (index weights that ignore the current thought or the
    temperature, unit probabilities without 1/T or with the wrong sign, an index marginal
    without the summed-out thought) makes the distribution check fail."""
    monkeypatch.setattr(thinking, name, wrong)
    with pytest.raises(AssertionError):
        check_samplers(m=20_000)


def test_free_energy_identity_at_T_equal_inverse_beta():
    """eq-thinking-q: at T = 1/beta the thoughts' distribution is softmax(beta Q(s, .)) with Q
    the network's free energy; at other T it is not (the chapter-10 subtlety)."""
    torch.manual_seed(0)
    net = AttentionQNet(5, N_PROPS, n_patterns=N_PAT, hidden=(8,), beta=2.0).double()
    s = torch.rand(1, 5, dtype=torch.float64)
    acts = torch.tensor(
        [[(k >> j) & 1 for j in range(N_PROPS)] for k in range(2**N_PROPS)], dtype=torch.float64
    )
    with torch.no_grad():
        q = net(s, acts[None])[0]
        u, X = net.patterns(s)
    p_q = torch.softmax(net.beta * q, 0)
    np.testing.assert_allclose(thought_log_probs(u, X, 0.5)[0].exp(), p_q, rtol=1e-10)
    assert not np.allclose(thought_log_probs(u, X, 1.5)[0].exp(), torch.softmax(q / 1.5, 0))


def test_one_pattern_is_additive_and_many_are_not():
    """With N = 1 the value is additive over the bits, Q(a) - Q(0) = sum_j a_j (Q(e_j) - Q(0));
    with several patterns it is not in general."""
    acts = torch.tensor(list(itertools.product((0.0, 1.0), repeat=N_PROPS)))
    for n_pat, additive in ((1, True), (4, False)):
        torch.manual_seed(2)
        net = AttentionQNet(3, N_PROPS, n_patterns=n_pat, hidden=(8,), beta=1.0)
        with torch.no_grad():
            net.net[-1].weight.mul_(30)  # make the patterns differ
            s = torch.rand(1, 3)
            q = net(s, acts[None])[0]
            q0 = net(s, torch.zeros(1, 1, N_PROPS))[0, 0]
            single = net(s, torch.eye(N_PROPS)[None])[0] - q0
        pred = q0 + acts @ single
        assert torch.allclose(q, pred, atol=1e-4) == additive


def test_mode_max_within_log_n_over_beta():
    """thm-thinking-modes: the best pattern mode is within log(N)/beta of the exact maximum of
    Q over all thoughts, for several beta (checked by enumeration)."""
    acts = torch.tensor(list(itertools.product((0.0, 1.0), repeat=6)))
    for beta in (0.5, 2.0, 20.0):
        torch.manual_seed(4)
        net = AttentionQNet(4, 6, n_patterns=5, hidden=(16,), beta=beta)
        with torch.no_grad():
            net.net[-1].weight.mul_(10)
            s = torch.rand(3, 4)
            q_all = net(s, acts[None].expand(3, -1, -1)).max(-1).values
            _, X = net.patterns(s)
            q_modes = net(s, pattern_modes(X)).max(-1).values
        assert bool((q_modes <= q_all + 1e-6).all())
        assert bool((q_all - q_modes <= math.log(5) / beta + 1e-6).all())


def test_agent_interface_and_learning_step():
    """AttentionQ: acts and greedy thoughts are binary vectors, update runs a TD step that
    changes the network, next_value is finite; bad spaces and actions raise."""
    obs_space, act_space = spaces.MultiBinary(12), spaces.MultiBinary(6)
    agent = AttentionQ(
        obs_space, act_space, n_patterns=4, beta=5.0, hidden=(16,), learning_starts=4,
        batch_size=4, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    obs = np.zeros(12, dtype=np.int8)
    obs[[0, 7]] = 1
    a = agent.act(obs)
    assert a.shape == (6,) and set(np.unique(a)) <= {0, 1}
    g = agent.greedy(obs)
    assert g.shape == (6,) and set(np.unique(g)) <= {0, 1}
    before = [p.clone() for p in agent.qnet.parameters()]
    for _ in range(6):
        agent.update(obs, a, 1.0, obs, None, True)
    assert any(not torch.equal(b, p) for b, p in zip(before, agent.qnet.parameters(), strict=True))
    assert agent.attention(obs, a).shape == (4,)
    with pytest.raises(TypeError, match="action_space"):
        AttentionQ(obs_space, spaces.Discrete(6))
    with pytest.raises(ValueError, match="action"):
        agent.update(obs, np.array([0, 2, 0, 0, 0, 0]), 0.0, obs, None, False)
    with pytest.raises(ValueError, match="X must have shape"):
        gibbs_thoughts(torch.zeros(2, 3), torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="T"):
        sample_thoughts(torch.zeros(2, 3), torch.zeros(2, 3, 5), T=0.0)


@pytest.mark.slow
def test_attention_agent_learns_a_small_instance():
    """The chapter-13 headline at its smallest size, on a seed outside the recorded runs: the
    attention agent (benchmarks/thinking_runs.py settings) trained to the full budget on n = 8
    reaches the goal greedily in the exact minimum number of steps, without hallucinating."""
    import math as _math

    from benchmarks import thinking_runs

    torch.set_num_threads(1)
    res = thinking_runs.run("attention", 8, seed=11)
    last = res["curve"][-1]
    assert last["success"] == 1.0 and last["hallucination"] == 0.0
    assert _math.isclose(last["ratio"], 1.0)


@pytest.mark.parametrize("T", [0.5, 2.0])
def test_sampled_backup_is_the_expected_target_value(T):
    """eq-thinking-pt: the default TD backup (``backup="sample"``) is a Monte Carlo estimate of
    E_{a' ~ p_T(. | s')} Q_target(s', a') with thoughts drawn from the *online* machine at the
    current temperature; checked against the exact expectation over all 2^5 thoughts by
    enumeration, with the target network perturbed away from the online one, at T below and
    above 1 (tolerance: 5 standard errors of the K = 20000 draws). An unknown backup raises."""
    obs_space, act_space = spaces.MultiBinary(8), spaces.MultiBinary(5)
    agent = AttentionQ(
        obs_space, act_space, n_patterns=3, beta=1.0, hidden=(8,), n_backup=20_000, T=T,
        generator=torch.Generator().manual_seed(3),
    )  # fmt: skip
    with torch.no_grad():
        for p in agent.target.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(4)))
    s = torch.tensor([[1, 0, 1, 1, 0, 0, 1, 0], [0, 1, 0, 0, 1, 1, 0, 1]], dtype=torch.float32)
    v = agent.next_value(agent.target, s)
    with torch.no_grad():
        u, X = agent.qnet.patterns(s)
        p = thought_log_probs(u, X, T).exp()  # [2, 32], thought k = bits of k, LSB first
        acts = torch.tensor(
            [[(k >> j) & 1 for j in range(5)] for k in range(32)], dtype=torch.float32
        )
        q = agent.target(s, acts[None].expand(2, -1, -1))
        mean = (p * q).sum(-1)
        se = ((p * (q - mean[:, None]) ** 2).sum(-1) / 20_000).sqrt()
        q_online = agent.qnet(s, acts[None].expand(2, -1, -1))
    assert bool(((v - mean).abs() <= 5 * se + 1e-6).all()), (v, mean, se)
    # the check can fail: the online network's own values are far from the target's here
    assert bool(((p * q_online).sum(-1) - mean).abs().max() > 10 * se.max())
    with pytest.raises(ValueError, match="backup"):
        AttentionQ(obs_space, act_space, backup="mean")


def _wrong_backup(variant):
    @torch.no_grad()
    def next_value(self, net, next_obs):
        sampler = self.target if variant == "target samples" else self.qnet
        T = 1.0 if variant == "T = 1" else self.current_T
        valuer = self.qnet if variant == "online values" else net
        u, X = sampler.patterns(next_obs)
        k = self.n_backup
        a, _ = sample_thoughts(
            u.repeat_interleave(k, 0), X.repeat_interleave(k, 0), T, generator=self._gen(None)
        )
        return valuer(next_obs, a.view(next_obs.shape[0], k, -1)).mean(-1)

    return next_value


@pytest.mark.parametrize("variant", ["T = 1", "online values", "target samples"])
def test_sampled_backup_check_catches_wrong_variants(monkeypatch, variant):
    """Injected wrong variants of eq-thinking-td (thoughts sampled at T = 1 instead of the
    current temperature, valued by the online network instead of the target copy, or drawn
    from the target machine instead of the online one) fail the check above."""
    monkeypatch.setattr(AttentionQ, "next_value", _wrong_backup(variant))
    with pytest.raises(AssertionError):
        test_sampled_backup_is_the_expected_target_value(0.5)
