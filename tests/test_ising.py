"""Tests of ``ebmlib.ising`` (chapter 1: the Ising model).

Statistical tests draw ``n`` independent samples (independent replicas) and compare with exact
enumeration. Two tolerances are used, both derived from ``n``:

* means: ``|mean - exact| <= 5 sigma / sqrt(n)`` with ``sigma`` the exact standard deviation
  (a false alarm has probability below 1e-6 by the central limit theorem);
* distributions: the total-variation distance between the empirical histogram and the exact
  probabilities ``p`` obeys ``E[TV] <= 0.5 sum_i sqrt(p_i (1 - p_i) / n)`` (Jensen), and TV
  moves by at most ``1/n`` when one sample changes, so by McDiarmid's inequality
  ``P(TV > E[TV] + t) <= exp(-2 n t^2)``; we use ``t = sqrt(log(1e6) / (2 n))``.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmlib import ising
from ebmlib.ising import (
    IsingModel,
    binder_cumulant,
    critical_temperature,
    exact_enumeration,
    onsager_energy,
    onsager_magnetization,
    state_index,
    susceptibility,
    transition_matrix,
)

RULES = ("metropolis", "heat_bath")


def tv_tolerance(p: torch.Tensor, n: int, delta: float = 1e-6) -> float:
    """Bound on the TV distance of an ``n``-sample histogram from ``p`` (module docstring)."""
    p = p.to(torch.float64)
    mean_bound = 0.5 * float(torch.sqrt(p * (1 - p) / n).sum())
    return mean_bound + math.sqrt(math.log(1 / delta) / (2 * n))


def tv_distance(labels: torch.Tensor, p: torch.Tensor) -> float:
    counts = torch.bincount(labels.reshape(-1).cpu(), minlength=len(p)).to(torch.float64)
    return 0.5 * float((counts / counts.sum() - p.cpu()).abs().sum())


def exact_samples(ex, n: int, gen: torch.Generator) -> torch.Tensor:
    idx = torch.multinomial(ex.probabilities, n, replacement=True, generator=gen)
    return ex.states[idx].to(torch.float32)


def energy_magnetization_labels(model, spins):
    """Joint label of (total energy, total magnetization) for histogramming on 4 x 4."""
    n = model.n_spins
    e = torch.round(model.energy(spins).double() * n).long()  # multiples of 4 within [-2N, 2N]
    m = torch.round(model.magnetization(spins).double() * n).long()  # in [-N, N]
    return (e + 2 * n) * (2 * n + 1) + (m + n), (4 * n + 1) * (2 * n + 1)


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def test_critical_temperature():
    """Checks eq. (1.9): T_c = 2 / ln(1 + sqrt 2) = 2.26919, and its scaling with J."""
    assert critical_temperature() == pytest.approx(2.269185314, abs=1e-9)
    assert critical_temperature(2.5) == pytest.approx(2.5 * critical_temperature(), rel=1e-12)


def test_onsager_reference_values():
    """Checks eqs. (1.10)-(1.11) against the reference values -1.74556, 0.91132, -0.81731."""
    assert float(onsager_energy(2.0)) == pytest.approx(-1.74556, abs=5e-6)
    assert float(onsager_magnetization(2.0)) == pytest.approx(0.91132, abs=5e-6)
    assert float(onsager_energy(3.0)) == pytest.approx(-0.81731, abs=5e-6)


def test_onsager_limits_and_critical_point():
    """Checks eq. (1.10) at T_c (u = -sqrt 2), its continuity there, and eq. (1.11) above T_c."""
    tc = critical_temperature()
    assert float(onsager_energy(tc)) == pytest.approx(-math.sqrt(2), abs=1e-12)
    near = onsager_energy(torch.tensor([tc - 1e-7, tc + 1e-7], dtype=torch.float64))
    assert torch.allclose(near, torch.full_like(near, -math.sqrt(2)), atol=1e-5)
    assert float(onsager_energy(0.3)) == pytest.approx(-2.0, abs=1e-9)  # ground state
    assert float(onsager_magnetization(0.3)) == pytest.approx(1.0, abs=1e-9)
    assert torch.all(onsager_magnetization(torch.tensor([tc, 2.5, 10.0], dtype=torch.float64)) == 0)


def test_onsager_energy_is_derivative_of_free_energy():
    """Checks eq. (1.10) as u = d(beta f)/d(beta), with Onsager's free energy integrated
    numerically (an independent route to the same closed form)."""

    def beta_f(beta: float) -> float:
        # -beta f = ln 2 / 2 + (1 / 2 pi^2) int int ln[cosh^2 2K - sinh 2K (cos a + cos b)]
        k2 = 2.0 * beta
        n = 400
        a = (torch.arange(n, dtype=torch.float64) + 0.5) * math.pi / n
        cos = torch.cos(a)
        arg = math.cosh(k2) ** 2 - math.sinh(k2) * (cos[:, None] + cos[None, :])
        integral = torch.log(arg).mean() * math.pi**2  # midpoint rule on [0, pi]^2
        return -(math.log(2) / 2 + integral.item() / (2 * math.pi**2))

    for T in (1.5, 3.0, 4.0):
        beta, eps = 1 / T, 1e-4
        u = (beta_f(beta + eps) - beta_f(beta - eps)) / (2 * eps)
        assert float(onsager_energy(T)) == pytest.approx(u, abs=1e-6)


def test_onsager_follows_tensor_input():
    """Checks that eqs. (1.10)-(1.11) keep shape and dtype of a tensor of temperatures."""
    T = torch.linspace(1.0, 4.0, 7, dtype=torch.float32).reshape(7, 1)
    assert onsager_energy(T).shape == (7, 1) and onsager_energy(T).dtype == torch.float32
    assert onsager_magnetization(T).shape == (7, 1)


# --------------------------------------------------------------------------------------------
# Energy and exact enumeration
# --------------------------------------------------------------------------------------------


def explicit_energy(s: torch.Tensor, J: float, h: float) -> float:
    """Eq. (1.1) by an explicit loop over the 2 L^2 bonds."""
    L = s.shape[-1]
    e = 0.0
    for i, j in itertools.product(range(L), range(L)):
        e -= J * s[i, j].item() * (s[(i + 1) % L, j].item() + s[i, (j + 1) % L].item())
        e -= h * s[i, j].item()
    return e


@pytest.mark.parametrize("L", [2, 3, 5, 8])
def test_energy_matches_explicit_bond_sum(L, gen):
    """Checks eq. (1.1): per-spin energy equals the explicit bond sum divided by N."""
    model = IsingModel(L, J=0.7, h=-0.3)
    s = model.random_state((4,), generator=gen)
    e = model.energy(s)
    for b in range(4):
        assert e[b].item() * L * L == pytest.approx(explicit_energy(s[b], 0.7, -0.3), abs=1e-4)


def test_ground_state_and_checkerboard():
    """Checks eq. (1.1): E/N = -2J - h for the all-up state and +2J for the Neel state."""
    model = IsingModel(6, J=1.0, h=0.5)
    up = model.ordered_state()
    assert model.energy(up).item() == pytest.approx(-2.5)
    assert model.magnetization(up).item() == 1.0
    i = torch.arange(6)
    neel = (1 - 2 * ((i[:, None] + i[None, :]) % 2)).float()
    assert IsingModel(6).energy(neel).item() == pytest.approx(2.0)


def test_energy_accepts_integer_spins():
    """Checks eq. (1.1) on int8 spins (returned as float32)."""
    model = IsingModel(4)
    s = model.random_state(3, generator=torch.Generator().manual_seed(1), dtype=torch.int8)
    assert model.energy(s).dtype == torch.float32
    assert torch.allclose(model.energy(s), model.energy(s.float()))


def test_exact_enumeration_against_brute_force():
    """Checks eq. (1.2): Z of a 3 x 3 lattice by a plain Python loop over all 512 states."""
    T, J, h = 1.7, 1.0, 0.2
    ex = exact_enumeration(3, T, J, h)
    z = 0.0
    for bits in itertools.product((-1.0, 1.0), repeat=9):
        s = torch.tensor(bits).reshape(3, 3)
        z += math.exp(-explicit_energy(s, J, h) / T)
    assert ex.log_partition == pytest.approx(math.log(z), rel=1e-10)
    assert float(ex.probabilities.sum()) == pytest.approx(1.0, abs=1e-12)
    assert torch.equal(state_index(ex.states), torch.arange(512))


def test_exact_enumeration_symmetry_and_limits():
    """Checks eq. (1.2): <m> = 0 at h = 0, |m| -> 1 as T -> 0 and E/N -> -2."""
    ex = exact_enumeration(4, 0.5)
    m = ex.states.mean((-2, -1))
    assert float((ex.probabilities * m).sum()) == pytest.approx(0.0, abs=1e-12)
    assert ex.abs_magnetization == pytest.approx(1.0, abs=1e-3)
    assert ex.energy_per_spin == pytest.approx(-2.0, abs=1e-3)


# --------------------------------------------------------------------------------------------
# Kernels: detailed balance and the samplers against the exact kernel
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("L,h", [(2, 0.0), (2, 0.4), (3, 0.0), (3, -0.3)])
def test_colour_update_satisfies_detailed_balance(rule, L, h):
    """Checks eq. (1.7): pi(x) K_c(x, y) = pi(y) K_c(y, x) for one colour update, and that a
    full sweep keeps pi stationary (eq. (1.8))."""
    T = 1.8
    pi = exact_enumeration(L, T, h=h).probabilities
    n_col = 2 if L % 2 == 0 else 3
    for c in range(n_col):
        K = transition_matrix(L, T, h=h, rule=rule, colour=c)
        assert torch.allclose(K.sum(1), torch.ones(len(pi), dtype=torch.float64))
        flow = pi[:, None] * K
        assert torch.allclose(flow, flow.T, atol=1e-15)
    K = transition_matrix(L, T, h=h, rule=rule)
    assert torch.allclose(pi @ K, pi, atol=1e-14)


def test_heat_bath_single_site_probability():
    """Checks eq. (1.6): the heat-bath kernel sets a spin up with probability
    1 / (1 + exp(-2 (J sum_j s_j + h) / T)) whatever its current value."""
    T, h = 1.3, 0.25
    K = transition_matrix(2, T, h=h, rule="heat_bath", colour=0)
    states = exact_enumeration(2, T, h=h).states.reshape(16, 4)
    # colour 0 of the 2 x 2 lattice is sites 0 and 3; site 0 has neighbours 1, 1, 2, 2.
    for x in range(16):
        field = 2 * (states[x, 1] + states[x, 2]) + h
        p_up = 1 / (1 + math.exp(-2 * field / T))
        prob_up = sum(float(K[x, y]) for y in range(16) if states[y, 0] > 0)
        assert prob_up == pytest.approx(p_up, abs=1e-12)


@pytest.mark.parametrize("method", ["multispin", "plain"])
@pytest.mark.parametrize("rule", RULES)
def test_one_sweep_matches_exact_kernel(rule, method):
    """Checks eq. (1.8): from fixed starting states, one sweep of the sampler lands on y with
    the probability K(x, y) of the exact kernel (2 x 2 lattice, TV tolerance from n)."""
    T, h, n = 1.5, 0.3, 20000
    model = IsingModel(2, h=h)
    K = transition_matrix(2, T, h=h, rule=rule)
    states = exact_enumeration(2, T, h=h).states.float()
    gen = torch.Generator().manual_seed(7)
    for x in (0, 5, 9, 15):
        start = states[x].expand(n, 2, 2).clone()
        out = getattr(model, rule)(start, T, 1, gen, method=method)
        assert tv_distance(state_index(out), K[x]) <= tv_tolerance(K[x], n)


# --------------------------------------------------------------------------------------------
# Samplers against exact enumeration
# --------------------------------------------------------------------------------------------


def check_mean(samples: torch.Tensor, probs: torch.Tensor, values: torch.Tensor) -> None:
    mu = float((probs * values).sum())
    sd = math.sqrt(float((probs * (values - mu) ** 2).sum()))
    n = samples.numel()
    assert abs(float(samples.double().mean()) - mu) <= 5 * sd / math.sqrt(n) + 1e-9


@pytest.mark.parametrize("rule", RULES)
def test_plain_sampler_matches_enumeration_3x3(rule):
    """Checks eq. (1.2) with eq. (1.8): the three-colour sampler on a 3 x 3 lattice keeps the
    Boltzmann distribution (exact samples stay exact) and reaches it from random starts."""
    T, h, n = 2.2, 0.2, 30000
    ex = exact_enumeration(3, T, h=h)
    model = IsingModel(3, h=h)
    gen = torch.Generator().manual_seed(11)
    stay = getattr(model, rule)(exact_samples(ex, n, gen), T, 3, gen)
    reach = getattr(model, rule)(model.random_state(n, generator=gen), T, 60, gen)
    for out in (stay, reach):
        assert tv_distance(state_index(out), ex.probabilities) <= tv_tolerance(ex.probabilities, n)
        check_mean(model.energy(out), ex.probabilities, ex.energies / 9)


@pytest.mark.parametrize("method", ["multispin", "plain"])
@pytest.mark.parametrize("rule", RULES)
def test_samplers_match_enumeration_4x4(rule, method):
    """Checks eq. (1.2) with eq. (1.8) on 4 x 4: the joint law of (E, M) after sweeps from exact
    samples and from random starts, and the mean energy and |m|."""
    T, n = 2.6, 20000
    ex = exact_enumeration(4, T)
    model = IsingModel(4)
    labels_exact, size = energy_magnetization_labels(model, ex.states)
    p = torch.zeros(size, dtype=torch.float64).index_add_(0, labels_exact, ex.probabilities)
    p = p[p > 0]
    keep = torch.zeros(size, dtype=torch.bool)
    keep[labels_exact] = True
    relabel = torch.cumsum(keep.long(), 0) - 1
    gen = torch.Generator().manual_seed(3)
    stay = getattr(model, rule)(exact_samples(ex, n, gen), T, 4, gen, method=method)
    reach = getattr(model, rule)(model.random_state(n, generator=gen), T, 60, gen, method=method)
    m_exact = ex.states.mean((-2, -1)).abs()
    for out in (stay, reach):
        lab, _ = energy_magnetization_labels(model, out)
        assert bool(keep[lab].all())
        assert tv_distance(relabel[lab], p) <= tv_tolerance(p, n)
        check_mean(model.energy(out), ex.probabilities, ex.energies / 16)
        check_mean(model.magnetization(out).abs(), ex.probabilities, m_exact)


@pytest.mark.parametrize("method", ["multispin", "plain"])
@pytest.mark.parametrize("rule", RULES)
def test_tensor_temperature_broadcasts_over_batch(rule, method):
    """Checks eq. (1.2) for a batch of 4 x 4 lattices, each at its own temperature."""
    Ts = torch.tensor([1.5, 2.4, 4.0])
    n = 3000
    model = IsingModel(4)
    gen = torch.Generator().manual_seed(5)
    start = model.random_state((3, n), generator=gen)
    s = getattr(model, rule)(start, Ts[:, None], 50, gen, method=method)
    for i, T in enumerate(Ts.tolist()):
        ex = exact_enumeration(4, T)
        check_mean(model.energy(s[i]), ex.probabilities, ex.energies / 16)


def test_energy_at_L64_matches_onsager():
    """Checks eq. (1.10): at L = 64 the equilibrium energy per spin is within 0.01 of Onsager's
    at T = 2.0 and T = 3.0, and |m| within 0.01 of eq. (1.11) at T = 2.0."""
    model = IsingModel(64)
    gen = torch.Generator().manual_seed(2024)
    T = torch.tensor([2.0, 3.0])[:, None]
    start = model.ordered_state((2, 8))
    out = model.sample(start, T, n_samples=100, thin=2, burn_in=200, generator=gen)
    e = out["energy"].mean((0, 2))
    assert abs(e[0].item() - float(onsager_energy(2.0))) < 0.01
    assert abs(e[1].item() - float(onsager_energy(3.0))) < 0.01
    m = out["magnetization"].abs().mean((0, 2))
    assert abs(m[0].item() - float(onsager_magnetization(2.0))) < 0.01


def test_susceptibility_peak_and_binder_near_tc():
    """Checks eqs. (1.12)-(1.13) against eq. (1.9) at L = 16: on a grid of spacing 0.1 around
    T_c the susceptibility peaks within 0.2 of T_c = 2.26919 (finite-size scaling puts the peak
    slightly above T_c), and U_4 is near 2/3 well below T_c and small well above it."""
    temps = torch.tensor([1.8, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.7, 3.0, 3.5], dtype=torch.float64)
    model = IsingModel(16)
    gen = torch.Generator().manual_seed(31)
    out = model.sample(
        model.ordered_state((len(temps), 16)),
        temps[:, None],
        100,
        thin=3,
        burn_in=300,
        generator=gen,
    )
    m = out["magnetization"].double().permute(1, 0, 2).reshape(len(temps), -1)
    chi = susceptibility(m, temps, model.n_spins, dim=1)
    assert abs(temps[int(torch.argmax(chi))].item() - critical_temperature()) <= 0.2
    u = binder_cumulant(m, dim=1)
    assert u[0].item() > 0.6 and u[-1].item() < 0.2


def test_methods_agree_at_L32_heat_bath():
    """Checks eq. (1.6) at a size beyond enumeration: multispin and plain heat-bath chains give
    the same mean energy at T = 2.5 within 5 combined standard errors of independent runs."""
    model = IsingModel(32)
    gen = torch.Generator().manual_seed(9)
    res = []
    for method in ("multispin", "plain"):
        s = model.random_state(64, generator=gen)
        out = model.sample(
            s, 2.5, 20, thin=5, burn_in=100, rule="heat_bath", generator=gen, method=method
        )
        per_chain = out["energy"].mean(0)  # 64 independent chains
        res.append((per_chain.mean().item(), per_chain.std().item() / 8))
    (a, sa), (b, sb) = res
    assert abs(a - b) <= 5 * math.hypot(sa, sb)


# --------------------------------------------------------------------------------------------
# API behaviour
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["multispin", "plain"])
def test_sweep_returns_new_tensor_and_keeps_dtype(method, gen):
    """Checks the sampler contract of eq. (1.8): shape, dtype and input left unchanged."""
    model = IsingModel(8)
    s = model.random_state((2, 3), generator=gen, dtype=torch.int8)
    before = s.clone()
    out = model.metropolis(s, 2.0, 3, gen, method=method)
    assert out.shape == s.shape and out.dtype == torch.int8
    assert torch.equal(s, before)
    assert bool(((out == 1) | (out == -1)).all())
    assert torch.equal(model.heat_bath(s, 2.0, 0, gen), s)


@pytest.mark.parametrize("L", [2, 6, 10, 16, 130, 256])
def test_packed_layout_round_trip(L, gen):
    """Checks the quarter-lattice packing behind eq. (1.8): pack then unpack is the identity."""
    s = IsingModel(L).random_state(2, generator=gen)
    assert torch.equal(ising._Packed(s).unpack(torch.float32), s)


def test_seeded_runs_are_reproducible():
    """Checks that eq. (1.8) sampling depends only on the generator's seed."""
    model = IsingModel(16)
    a = model.metropolis(model.ordered_state(2), 2.3, 5, torch.Generator().manual_seed(4))
    b = model.metropolis(model.ordered_state(2), 2.3, 5, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


def test_trajectory_and_sample_shapes(gen):
    """Checks the chain drivers built on eq. (1.8): frames, measurements and final state."""
    model = IsingModel(8)
    s = model.random_state(3, generator=gen)
    frames = model.trajectory(s, 2.0, n_frames=4, sweeps_per_frame=2, generator=gen)
    assert frames.shape == (4, 3, 8, 8) and torch.equal(frames[0], s)
    out = model.sample(s, 2.0, n_samples=5, generator=gen, method="plain")
    assert out["energy"].shape == (5, 3) and out["spins"].shape == (3, 8, 8)


def test_binder_and_susceptibility():
    """Checks eqs. (1.12)-(1.13) on samples with known moments."""
    m = torch.tensor([0.5, -0.5, 0.5, -0.5])
    assert binder_cumulant(m).item() == pytest.approx(2 / 3)
    assert susceptibility(m, 2.0, 100).item() == pytest.approx(0.0)
    m = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=torch.float64)
    # <m^2> = 1/2, <m^4> = 1/2, <|m|> = 1/2
    assert binder_cumulant(m).item() == pytest.approx(1 - 0.5 / (3 * 0.25))
    assert susceptibility(m, 2.0, 10).item() == pytest.approx(10 * (0.5 - 0.25) / 2)


def test_draw_ising_returns_axes():
    """Checks the demo of chapter 1 draws the lattice after the sweeps of eq. (1.8)."""
    ax = ising.draw_ising(T=3.0, L=16, sweeps=5)
    assert ax.images and "T = 3.00" in ax.get_title()


@settings(max_examples=25, deadline=None)
@given(
    L=st.integers(2, 7),
    seed=st.integers(0, 2**16),
    dx=st.integers(0, 6),
    dy=st.integers(0, 6),
)
def test_energy_symmetries(L, seed, dx, dy):
    """Checks eq. (1.1): at h = 0 the energy is invariant under a global flip and under
    translations, and lies in [-2J, 2J] per spin."""
    model = IsingModel(L, J=1.3)
    s = model.random_state(generator=torch.Generator().manual_seed(seed))
    e = model.energy(s)
    assert torch.allclose(model.energy(-s), e)
    assert torch.allclose(model.energy(torch.roll(s, (dx, dy), (0, 1))), e, atol=1e-6)
    assert -2.6 - 1e-6 <= e.item() <= 2.6 + 1e-6


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_constructor_arguments():
    """Checks argument validation of the model of eq. (1.1)."""
    with pytest.raises(ValueError, match="L"):
        IsingModel(1)
    with pytest.raises(TypeError, match="L"):
        IsingModel(4.0)
    with pytest.raises(TypeError, match="J"):
        IsingModel(4, J="strong")
    with pytest.raises(ValueError, match="h"):
        IsingModel(4, h=float("nan"))
    with pytest.raises(ValueError, match="J"):
        critical_temperature(-1.0)


def test_bad_sampler_arguments(gen):
    """Checks argument validation of the samplers of eq. (1.8)."""
    model = IsingModel(4)
    s = model.random_state(2, generator=gen)
    with pytest.raises(ValueError, match="T"):
        model.metropolis(s, 0.0)
    with pytest.raises(ValueError, match="T"):
        model.metropolis(s, float("nan"))
    with pytest.raises(ValueError, match="T"):
        model.heat_bath(s, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="T"):
        model.heat_bath(s, torch.ones(3))
    with pytest.raises(TypeError, match="T"):
        model.heat_bath(s, "hot")
    with pytest.raises(ValueError, match="spins"):
        model.metropolis(torch.ones(2, 5, 5), 2.0)
    with pytest.raises(ValueError, match="spins"):
        model.metropolis(torch.zeros(4, 4), 2.0)
    with pytest.raises(TypeError, match="spins"):
        model.metropolis(torch.ones(4, 4, dtype=torch.bool), 2.0)
    with pytest.raises(TypeError, match="spins"):
        model.energy([[1, 1], [1, 1]])
    with pytest.raises(ValueError, match="sweeps"):
        model.metropolis(s, 2.0, sweeps=-1)
    with pytest.raises(TypeError, match="generator"):
        model.metropolis(s, 2.0, generator=0)
    with pytest.raises(ValueError, match="method"):
        model.metropolis(s, 2.0, method="fast")
    with pytest.raises(ValueError, match="multispin"):
        IsingModel(3).metropolis(torch.ones(3, 3), 2.0, method="multispin")
    with pytest.raises(ValueError, match="rule"):
        model.sample(s, 2.0, 3, rule="glauber")


def test_bad_enumeration_arguments():
    """Checks argument validation of the exact enumeration of eq. (1.2)."""
    with pytest.raises(ValueError, match="L"):
        exact_enumeration(5, 2.0)
    with pytest.raises(ValueError, match="T"):
        exact_enumeration(3, -1.0)
    with pytest.raises(ValueError, match="L"):
        transition_matrix(4, 2.0)
    with pytest.raises(ValueError, match="colour"):
        transition_matrix(2, 2.0, colour=2)
    with pytest.raises(ValueError, match="T"):
        onsager_energy(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="m"):
        binder_cumulant(torch.zeros(5))


# --------------------------------------------------------------------------------------------
# CUDA
# --------------------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("method", ["multispin", "plain"])
@pytest.mark.parametrize("rule", RULES)
def test_cuda_one_sweep_matches_exact_kernel(rule, method):
    """Checks eq. (1.8) on CUDA: one sweep from fixed states follows the exact kernel."""
    T, h, n = 1.5, 0.3, 20000
    model = IsingModel(2, h=h, device="cuda")
    K = transition_matrix(2, T, h=h, rule=rule)
    states = exact_enumeration(2, T, h=h).states.float().cuda()
    gen = torch.Generator(device="cuda").manual_seed(7)
    for x in (0, 5, 9, 15):
        start = states[x].expand(n, 2, 2).clone()
        out = getattr(model, rule)(start, T, 1, gen, method=method)
        assert out.device.type == "cuda"
        assert tv_distance(state_index(out), K[x]) <= tv_tolerance(K[x], n)


@pytest.mark.cuda
@pytest.mark.parametrize("rule", RULES)
def test_cuda_samplers_match_enumeration_4x4(rule):
    """Checks eq. (1.2) on CUDA: mean energy of 4 x 4 samples after sweeps from random starts."""
    T, n = 2.6, 20000
    ex = exact_enumeration(4, T)
    model = IsingModel(4, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(3)
    out = getattr(model, rule)(model.random_state(n, generator=gen), T, 60, gen)
    check_mean(model.energy(out).cpu(), ex.probabilities, ex.energies / 16)


@pytest.mark.cuda
def test_cuda_energy_at_L64_matches_onsager():
    """Checks eq. (1.10) on CUDA at L = 64 (T = 2.0 and 3.0, within 0.01)."""
    model = IsingModel(64, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(2024)
    T = torch.tensor([2.0, 3.0], device="cuda")[:, None]
    out = model.sample(model.ordered_state((2, 8)), T, 100, thin=2, burn_in=200, generator=gen)
    e = out["energy"].mean((0, 2)).cpu()
    assert abs(e[0].item() - float(onsager_energy(2.0))) < 0.01
    assert abs(e[1].item() - float(onsager_energy(3.0))) < 0.01
