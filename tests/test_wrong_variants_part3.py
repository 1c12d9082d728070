"""Wrong implementations of the chapter 6-7 samplers and learning rules must fail the checks.

Each variant below is a plausible mistake: a copy of one function of ``ebmlib.boltzmann`` or
``ebmlib.rbm`` with one edit (a missing or squared temperature, a flipped sign, a dropped bias,
a model term taken from the data, chains that do not persist, uniform weights, ...). The test
puts the copy in place of the real function and asserts that each named check of
``tests/test_boltzmann.py`` / ``tests/test_rbm.py`` fails on it: raises ``AssertionError`` or
stops with the library's ``FloatingPointError`` for a diverging fit. The same checks pass on the
real implementation (they are the bodies of the ordinary tests), so a check that cannot tell a
wrong implementation from the right one shows up here.

The copies are made from the current source text, and the edited snippet must occur exactly
once: if the library changes so that a snippet no longer exists, the variant errors instead of
passing silently.
"""

from __future__ import annotations
import __future__

import inspect
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import test_boltzmann as tb
import test_rbm as tr

from ebmlib import boltzmann, rbm
from ebmlib.boltzmann import BoltzmannMachine, _CallableEnergy
from ebmlib.rbm import RBM


@dataclass
class Variant:
    name: str
    owner: object  # a class or a module
    attr: str
    edits: list[tuple[str, str]]  # (text in the real source, replacement)
    caught_by: list[Callable[[], None]]


def mutate(owner: object, attr: str, edits: list[tuple[str, str]]) -> Callable:
    """A copy of ``owner.attr`` compiled from its source with ``edits`` applied."""
    fn = inspect.unwrap(owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr))
    src = textwrap.dedent(inspect.getsource(fn))
    for old, new in edits:
        assert src.count(old) == 1, f"{attr}: the snippet {old!r} must occur exactly once"
        src = src.replace(old, new)
    module = sys.modules[fn.__module__]
    namespace: dict = {}
    code = compile(src, f"<wrong {attr}>", "exec", __future__.annotations.compiler_flag, True)
    exec(code, module.__dict__, namespace)
    return namespace[attr]


def _b(fn, *args, **kwargs) -> Callable[[], None]:
    def run() -> None:
        fn(*args, **kwargs)

    run.__name__ = fn.__name__ + (f"{args}" if args else "") + (f"{kwargs}" if kwargs else "")
    return run


VARIANTS = [
    # -------------------------------------------------------------- Boltzmann machine sampler
    Variant("bm-gibbs-temperature-missing", BoltzmannMachine, "_sweeps",
            [("torch.sigmoid(field / T)", "torch.sigmoid(field)")],
            [_b(tb.check_gibbs_stationary, 0.5), _b(tb.check_gibbs_stationary, 2.5),
             _b(tb.check_gibbs_transient, 2.5)]),
    Variant("bm-gibbs-temperature-squared", BoltzmannMachine, "_sweeps",
            [("torch.sigmoid(field / T)", "torch.sigmoid(field / T**2)")],
            [_b(tb.check_gibbs_stationary, 0.5), _b(tb.check_gibbs_transient, 2.5)]),
    Variant("bm-gibbs-beta-for-T", BoltzmannMachine, "_sweeps",
            [("torch.sigmoid(field / T)", "torch.sigmoid(field * T)")],
            [_b(tb.check_gibbs_stationary, 0.5), _b(tb.check_gibbs_clamped, 2.5)]),
    Variant("bm-gibbs-field-sign", BoltzmannMachine, "_sweeps",
            [("torch.sigmoid(field / T)", "torch.sigmoid(-field / T)")],
            [_b(tb.check_gibbs_stationary, 1.0), _b(tb.check_gibbs_transient, 1.0)]),
    Variant("bm-gibbs-bias-missing", BoltzmannMachine, "_sweeps",
            [("field = W[i] @ x + b[i]", "field = W[i] @ x")],
            [_b(tb.check_gibbs_stationary, 1.0), _b(tb.check_gibbs_clamped, 0.5)]),
    Variant("bm-gibbs-parallel-update", BoltzmannMachine, "_sweeps",
            [("for k, i in enumerate(idx.tolist()):",
              "x0 = x.clone()\n        for k, i in enumerate(idx.tolist()):"),
             ("field = W[i] @ x + b[i]", "field = W[i] @ x0 + b[i]")],
            [_b(tb.check_gibbs_stationary, 0.5), _b(tb.check_gibbs_transient, 0.5)]),
    Variant("bm-gibbs-one-uniform-per-sweep", BoltzmannMachine, "_sweeps",
            [("x[i] = (u[k] <", "x[i] = (u[0] <")],
            [_b(tb.check_gibbs_stationary, 0.5)]),
    Variant("bm-sampled-free-phase-at-T1", BoltzmannMachine, "model_statistics",
            [("s = self.gibbs(states, T=T,", "s = self.gibbs(states, T=1.0,")],
            [_b(tb.check_model_statistics_sampled, 0.5)]),
    Variant("bm-sampled-clamped-phase-not-run", BoltzmannMachine, "data_statistics",
            [("s = self._sweeps(s, 1.0, sweeps, generator, torch.arange(nv, nv + nh))",
              "s = s")],
            [tb.check_data_statistics_sampled]),
    # -------------------------------------------------------------- exact enumeration
    Variant("bm-log-partition-temperature-missing", BoltzmannMachine, "log_partition_exact",
            [("torch.logsumexp(-self._energy(s) / T, dim=0)",
              "torch.logsumexp(-self._energy(s), dim=0)")],
            [_b(tb.check_log_partition, 0.5)]),
    Variant("bm-visible-marginal-old-bit-order", BoltzmannMachine, "probabilities_exact",
            [("p.reshape(2**self.n_hidden, 2**self.n_visible).sum(0)",
              "p.reshape(2**self.n_visible, 2**self.n_hidden).sum(-1)")],
            [tb.check_visible_marginal]),
    Variant("bm-site-kernel-old-bit-order", BoltzmannMachine, "_site_kernel",
            [("bit = 1 << i", "bit = 1 << (n - 1 - i)")],
            [_b(tb.check_library_kernels, 1.0)]),
    Variant("bm-sweep-law-temperature-missing", BoltzmannMachine, "distribution_after_sweeps",
            [("q = torch.sigmoid((S[a] @ self.W[:, i] + self.bias[i]) / T)",
              "q = torch.sigmoid(S[a] @ self.W[:, i] + self.bias[i])")],
            [tb.check_distribution_after_sweeps]),
    # -------------------------------------------------------------- annealing
    Variant("anneal-callable-energy-difference-reversed", _CallableEnergy, "sweeps",
            [("dE = self.energy(s0) - self.energy(s1)", "dE = self.energy(s1) - self.energy(s0)")],
            [_b(tb.check_anneal_constant, 0.5, callable_energy=True)]),
    Variant("anneal-callable-temperature-missing", _CallableEnergy, "sweeps",
            [("torch.sigmoid(dE / T)", "torch.sigmoid(dE)")],
            [_b(tb.check_anneal_constant, 0.5, callable_energy=True),
             _b(tb.check_anneal_constant, 2.5, callable_energy=True)]),
    Variant("anneal-ignores-schedule", boltzmann, "anneal",
            [("s = sweep(s, T, sweeps_per_step, generator)",
              "s = sweep(s, 1.0, sweeps_per_step, generator)")],
            [_b(tb.check_anneal_constant, 0.5), _b(tb.check_anneal_constant, 2.5)]),
    Variant("anneal-keeps-worst-state", boltzmann, "anneal",
            [("better = e < best_e", "better = e > best_e")],
            [tb.check_anneal_ground_state]),
    # -------------------------------------------------------------- Boltzmann learning rule
    Variant("bm-rule-negative-phase-sign", boltzmann, "_boltzmann_rule",
            [("dW = c_data - c_model", "dW = c_data + c_model")],
            [_b(tb.check_gradient_finite_differences, 4, 0), tb.check_fit_reaches_optimum,
             tb.check_fit_hidden_units]),
    Variant("bm-rule-bias-without-model-term", boltzmann, "_boltzmann_rule",
            [("m_data - m_model", "m_data")],
            [_b(tb.check_gradient_finite_differences, 3, 2), tb.check_fit_reaches_optimum,
             tb.check_fit_hidden_units]),
    Variant("bm-rule-half-coupling", boltzmann, "_boltzmann_rule",
            [("return dW - torch.diag_embed(torch.diagonal(dW)), m_data - m_model",
              "return 0.5 * (dW - torch.diag_embed(torch.diagonal(dW))), m_data - m_model")],
            [_b(tb.check_gradient_finite_differences, 4, 0)]),
    Variant("bm-rule-diagonal-kept", boltzmann, "_boltzmann_rule",
            [("return dW - torch.diag_embed(torch.diagonal(dW)), m_data - m_model",
              "return dW, m_data - m_model")],
            [_b(tb.check_gradient_finite_differences, 4, 0)]),
    Variant("bm-clamped-phase-mean-field-hidden-pairs", BoltzmannMachine, "data_statistics",
            [('ehh = torch.einsum("nk,ki,kj->ij", post, hs, hs) / v.shape[0]',
              "ehh = eh.T @ eh / v.shape[0]")],
            [_b(tb.check_gradient_finite_differences, 3, 2)]),
    Variant("bm-fit-uniform-weights", BoltzmannMachine, "fit",
            [("self.weight.copy_(W + lr * (dW - weight_decay * W))",
              "self.weight.copy_((W + lr * (dW - weight_decay * W)).mean().expand_as(W))")],
            [tb.check_fit_reaches_optimum]),
    Variant("bm-fit-chains-not-persistent", BoltzmannMachine, "_statistics",
            [("chains = self._sweeps(chains, 1.0, sweeps, generator)",
              "chains = self._sweeps(self.random_state(chains.shape[0], generator=generator), "
              "1.0, sweeps, generator)")],
            [tb.check_fit_sampled_near_optimum]),
    # -------------------------------------------------------------- RBM samplers
    Variant("rbm-sample-h-temperature-missing", RBM, "sample_h",
            [("torch.sigmoid((v @ W + c) / T)", "torch.sigmoid(v @ W + c)")],
            [_b(tr.check_conditionals, 0.5), _b(tr.check_gibbs_stationary, 2.5)]),
    Variant("rbm-sample-v-temperature-squared", RBM, "sample_v",
            [("torch.sigmoid((h @ W.T + b) / T)", "torch.sigmoid((h @ W.T + b) / T**2)")],
            [_b(tr.check_conditionals, 0.5), _b(tr.check_gibbs_stationary, 2.5)]),
    Variant("rbm-sample-h-hidden-bias-missing", RBM, "sample_h",
            [("torch.sigmoid((v @ W + c) / T)", "torch.sigmoid((v @ W) / T)")],
            [_b(tr.check_conditionals, 1.0)]),
    Variant("rbm-gibbs-temperature-in-one-half-step", RBM, "gibbs",
            [("v = _bernoulli(torch.sigmoid((h @ W.T + b) / T), generator)",
              "v = _bernoulli(torch.sigmoid(h @ W.T + b), generator)")],
            [_b(tr.check_gibbs_stationary, 0.5), _b(tr.check_gibbs_transient, 2.5)]),
    Variant("rbm-gibbs-mean-field-hidden", RBM, "gibbs",
            [("h = _bernoulli(torch.sigmoid((v @ W + c) / T), generator)",
              "h = torch.sigmoid((v @ W + c) / T)")],
            [_b(tr.check_gibbs_stationary, 1.0), _b(tr.check_gibbs_transient, 1.0)]),
    Variant("rbm-bernoulli-inverted", rbm, "_bernoulli",
            [("torch.lt(u, p, out=u)", "torch.gt(u, p, out=u)")],
            [_b(tr.check_conditionals, 1.0), _b(tr.check_gibbs_stationary, 1.0)]),
    # -------------------------------------------------------------- RBM exact quantities
    Variant("rbm-energy-coupling-sign", RBM, "energy",
            [("- ((v @ W) * h).sum(-1)", "+ ((v @ W) * h).sum(-1)")],
            [tr.check_free_energies]),
    Variant("rbm-free-energy-hidden-bias-dropped", RBM, "free_energy",
            [("_softplus(v @ W + c)", "_softplus(v @ W)")],
            [tr.check_free_energies]),
    Variant("rbm-log-z-hidden-bias-dropped", RBM, "_enumeration_chunks",
            [("neg_f = s @ c + _softplus(s @ W.T + b).sum(-1)",
              "neg_f = _softplus(s @ W.T + b).sum(-1)")],
            [tr.check_log_partition, tr.check_exact_gradient]),
    Variant("rbm-model-term-product-of-means", RBM, "model_expectations_exact",
            [("vh += (pv * p[:, None]).T @ s", "vh += torch.outer(p @ pv, p @ s)")],
            [tr.check_exact_gradient]),
    Variant("rbm-exact-gradient-model-sign", rbm, "_gradient",
            [("return gW - evh, gb - ev, gc - eh", "return gW + evh, gb - ev, gc - eh")],
            [tr.check_exact_gradient]),
    Variant("rbm-model-term-unweighted-visible-branch", RBM, "model_expectations_exact",
            [("vh += (s * p[:, None]).T @ ph", "vh += s.T @ ph / s.shape[0]")],
            [tr.check_model_expectations]),
    Variant("rbm-log-likelihood-log-z-sign", RBM, "log_likelihood",
            [("ll = -self.free_energy(data.to(torch.float64)) - log_z",
              "ll = -self.free_energy(data.to(torch.float64)) + log_z")],
            [tr.check_log_likelihood]),
    Variant("rbm-pseudo-likelihood-flip-sign", RBM, "pseudo_likelihood",
            [("delta = 1.0 - 2.0 * vb", "delta = 2.0 * vb - 1.0")],
            [tr.check_pseudo_likelihood]),
    # -------------------------------------------------------------- CD, PCD and fit
    Variant("rbm-cd-negative-phase-sign", rbm, "_gradient",
            [("alpha=-1.0 / s.vk.shape[0]", "alpha=1.0 / s.vk.shape[0]")],
            [_b(tr.check_cd_expectation, 1), _b(tr.check_cd_unbiased_at_model, 1)]),
    Variant("rbm-cd-model-term-from-data", RBM, "_cd_statistics",
            [("return _Statistics(v0, ph0, vk, phk,", "return _Statistics(v0, ph0, v0, ph0,")],
            [_b(tr.check_cd_expectation, 1), _b(tr.check_cd_expectation, 3)]),
    Variant("rbm-cd-model-term-with-data-hidden", RBM, "_cd_statistics",
            [("return _Statistics(v0, ph0, vk, phk,", "return _Statistics(v0, ph0, vk, ph0,")],
            [_b(tr.check_cd_expectation, 1), _b(tr.check_cd_unbiased_at_model, 1)]),
    Variant("rbm-cd-k-restarts-from-data", RBM, "_cd_statistics",
            [("h = _bernoulli(phk, generator)", "h = _bernoulli(ph0, generator)")],
            [_b(tr.check_cd_expectation, 3)]),
    Variant("rbm-pcd-chain-state-not-returned", RBM, "_cd_statistics",
            [("new_chains = None if chains is None else h",
              "new_chains = None if chains is None else chains")],
            [tr.check_pcd_fit_carries_chains]),
    Variant("rbm-pcd-runs-as-cd", RBM, "_training_statistics",
            [('chains if method == "pcd" else None', "None")],
            [tr.check_pcd_fit_carries_chains]),
    Variant("rbm-fit-momentum-ignored", RBM, "_step",
            [("u.mul_(momentum).add_(grad, alpha=lr)", "u.mul_(0.0).add_(grad, alpha=lr)")],
            [tr.check_fit_applies_the_gradient]),
    Variant("rbm-fit-uniform-weights", RBM, "_step",
            [("theta.add_(grad, alpha=lr)", "theta.add_(grad.mean().expand_as(grad), alpha=lr)")],
            [tr.check_fit_applies_the_gradient]),
    Variant("rbm-reconstruction-error-row-sum", RBM, "_reconstruction_error",
            [("(pv - v0).square().mean(1).sum()", "(pv - v0).square().sum(1).sum()")],
            [tr.check_reconstruction_error]),
    # -------------------------------------------------------------- AIS
    Variant("rbm-ais-increment-uses-beta", RBM, "ais_log_weights",
            [("log_w += (beta - beta_prev) * (vb - vb_a)", "log_w += beta * (vb - vb_a)")],
            [_b(tr.check_ais, True)]),
    Variant("rbm-ais-transition-at-target", RBM, "ais_log_weights",
            [("h = _bernoulli(torch.sigmoid(beta * a), generator)",
              "h = _bernoulli(torch.sigmoid(a), generator)")],
            [_b(tr.check_ais, False), _b(tr.check_ais, True)]),
    Variant("rbm-ais-base-z-without-hidden", RBM, "ais_log_weights",
            [("log_z_a = self.n_hidden * math.log(2.0) + _softplus(b_a).sum()",
              "log_z_a = _softplus(b_a).sum()")],
            [_b(tr.check_ais, False)]),
    Variant("rbm-ais-uniform-start", RBM, "ais_log_weights",
            [("torch.sigmoid(b_a).expand(n_chains, -1)", "(0.5 + 0.0 * b_a).expand(n_chains, -1)")],
            [_b(tr.check_ais, True)]),
    Variant("rbm-ais-base-term-missing-in-transition", RBM, "ais_log_weights",
            [("torch.sigmoid((1.0 - beta) * b_a + beta * (h @ W.T + b))",
              "torch.sigmoid(beta * (h @ W.T + b))")],
            [_b(tr.check_ais, True)]),
]  # fmt: skip


@pytest.mark.parametrize(
    "variant,check",
    [pytest.param(v, c, id=f"{v.name}:{c.__name__}") for v in VARIANTS for c in v.caught_by],
)
def test_check_fails_on_wrong_variant(variant, check, monkeypatch):
    """The check must fail (AssertionError, or the FloatingPointError of a diverging fit)."""
    monkeypatch.setattr(variant.owner, variant.attr, mutate(variant.owner, variant.attr,
                                                             variant.edits))  # fmt: skip
    with pytest.raises((AssertionError, FloatingPointError)):
        check()


def test_mutation_without_edits_reproduces_the_function(monkeypatch):
    """The copying machinery itself is faithful: an unedited copy passes a check."""
    monkeypatch.setattr(RBM, "sample_h", mutate(RBM, "sample_h", []))
    monkeypatch.setattr(BoltzmannMachine, "_sweeps", mutate(BoltzmannMachine, "_sweeps", []))
    tr.check_conditionals(0.5)
    tb.check_gibbs_stationary(0.5)
