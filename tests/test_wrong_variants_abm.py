"""Plausible wrong implementations of ebmlib.attention_bm must fail its test suite.

Each variant below replaces one piece of the machine (a kernel of the Gibbs sampler, the ML
gradient, the mixture weights, the quantised sampler, the Hubbard-Stratonovich quadrature, ...)
by a mistake someone could make: a noise scale of 1/beta instead of 1/sqrt(beta), an index step
that forgets beta, a wrong sign, uniform instead of softmax weights, an ML gradient without the
norm term, and so on. With the variant in place, the sampler and learning-rule checks of
``tests/test_attention_bm.py`` are run in turn; at least one of them must fail. The same checks
pass on the real implementation (``test_checks_pass_on_the_real_implementation``).

Run this file as a script to print, for every variant, every check that catches it:
``python tests/test_wrong_variants_abm.py``.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import ebmlib.attention_bm as abm
from ebmlib.attention_bm import AttentionBM, BernoulliMixture

_spec = importlib.util.spec_from_file_location(
    "_abm_checks", Path(__file__).with_name("test_attention_bm.py")
)
T = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(T)

D64 = torch.float64

# -- the checks (each raises AssertionError when the implementation is wrong) -----------------

CHECKS: dict[str, Callable[[], None]] = {
    # deterministic checks first (fast), then the statistical ones
    "ML gradient = autograd, beta = 0.3 and 5": lambda: (
        T.check_ml_gradient_equals_autograd(0.3),
        T.check_ml_gradient_equals_autograd(5.0),
    ),
    "ML gradient = mixture-mean gradient + tie": lambda: (
        T.test_ml_gradient_splits_into_mixture_mean_gradient_plus_tie(2.0)
    ),
    "equal norms: tangential gradients agree": lambda: (
        T.test_equal_norms_likelihoods_coincide_tangential_gradients_agree(3.0)
    ),
    "norm curvature = autograd Hessian": lambda: T.test_norm_curvature_is_the_hessian_of_log_z(1.0),
    "mean field = Hopfield update and attention": lambda: (
        T.test_mean_field_step_is_the_hopfield_update_and_attention(0.2),
        T.test_mean_field_step_is_the_hopfield_update_and_attention(5.0),
    ),
    "normaliser by quadrature": lambda: (
        T.test_log_density_integrates_to_one_1d(1.7),
        T.test_marginal_is_the_modern_hopfield_density(0.8),
    ),
    "index kernel = quadrature": lambda: T.test_index_transition_matrix_matches_quadrature(2.5),
    "index kernel reversible": lambda: T.test_index_transition_matrix_is_reversible_2d(1.0),
    "quantised mixture = quantised formula": lambda: (
        T.test_quantised_mixture_reproduces_log_prob_binary()
    ),
    "Hubbard-Stratonovich, beta up to 1e3": lambda: [
        T.test_hubbard_stratonovich_partition_functions_agree(2, 10, b) for b in (0.1, 10.0, 1e3)
    ],
    "one Gibbs step, beta = 0.25": lambda: T.check_one_gibbs_step(0.25, -1.0, n=20_000),
    "one Gibbs step, beta = 4": lambda: T.check_one_gibbs_step(4.0, 0.3, n=20_000),
    "stationary 1-D, beta = 0.3 from a point": lambda: T.check_gibbs_stationary_1d(
        0.3, "point", 20, n=20_000
    ),
    "stationary 1-D, beta = 2.5 from exact samples": lambda: T.check_gibbs_stationary_1d(
        2.5, "exact", 20, n=20_000
    ),
    "stationary 2-D, beta = 2": lambda: T.check_gibbs_stationary_2d(2.0, n=20_000),
    "index chain pairs, beta = 2.5": lambda: T.check_index_chain(2.5, n=30_000),
    "exact sampler, beta = 0.4 and 3": lambda: (
        T.check_exact_sampler(0.4, n=20_000),
        T.check_exact_sampler(3.0, n=20_000),
    ),
    "occupation from 0, beta = 2.5": lambda: T.check_occupation_from_zero(),
    "mean field = expected Gibbs step, beta = 3": lambda: T.check_mean_field_is_expected_gibbs_step(
        3.0, n=20_000
    ),
    "CD at the model, beta = 2": lambda: T.check_cd_model_phase(2.0, 1, n=20_000),
    "CD-30 far from the model": lambda: T.check_cd_far_from_the_model(n=10_000),
    "quantised sampler = enumeration": lambda: T.check_sample_binary(2.0, n=30_000),
}


# -- the wrong variants ------------------------------------------------------------------------


def _noise(self, idx, gen, scale):
    mean = self.patterns.detach()[idx]
    return mean + scale * torch.randn(mean.shape, generator=gen, dtype=mean.dtype)


def _old_hs(patterns, beta, n_quadrature=None):
    """The earlier fixed 40-node Gauss-Hermite rule (misses the mass once sqrt(beta d) > ~9)."""
    n, d = patterns.shape
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    grid = torch.tensor(np.stack(np.meshgrid(*[nodes] * n, indexing="ij"), -1).reshape(-1, n))
    log_w = torch.tensor(
        np.log(np.stack(np.meshgrid(*[weights] * n, indexing="ij"), -1).reshape(-1, n)).sum(1)
    ) - 0.5 * n * math.log(2 * math.pi)
    fields = math.sqrt(beta / d) * grid @ patterns.to(D64)
    return torch.logsumexp(log_w + torch.logaddexp(fields, -fields).sum(-1), 0) - beta * n / 2


def _ml_rbar(self, data):
    r = self._index_probs(data)
    return self._beta * (r.T @ data / len(data) - r.mean(0)[:, None] * self.patterns)


def _uniform_indices(self, states, gen):
    flat = torch.ones(states.shape[0], self.n_patterns, dtype=states.dtype)
    return torch.multinomial(flat, 1, generator=gen).squeeze(-1)


def _quantised_sampler_with_w(self, n, generator=None):
    mix = self.quantised_mixture()
    wrong = BernoulliMixture(self.log_mixture_weights().detach(), mix.log_p1, mix.log_p0)
    return wrong.sample(n, generator)


def _sample_uniform(self, n, generator=None):
    idx = torch.randint(0, self.n_patterns, (n,), generator=generator)
    return abm.GibbsResult(self._draw_states(idx, generator), idx, None)


_orig_kernel = AttentionBM.index_transition_matrix

VARIANTS: dict[str, tuple[object, str, object]] = {
    "noise std 1/beta instead of 1/sqrt(beta)": (
        AttentionBM,
        "_draw_states",
        lambda self, idx, gen: _noise(self, idx, gen, 1 / self._beta),
    ),
    "noise std 1 (beta ignored)": (
        AttentionBM,
        "_draw_states",
        lambda self, idx, gen: _noise(self, idx, gen, 1.0),
    ),
    "noise std sqrt(beta) (beta read as a temperature)": (
        AttentionBM,
        "_draw_states",
        lambda self, idx, gen: _noise(self, idx, gen, math.sqrt(self._beta)),
    ),
    "index step without beta": (
        AttentionBM,
        "_index_probs",
        lambda self, s: torch.softmax(s @ self.patterns.T, -1),
    ),
    "index step with beta as a temperature": (
        AttentionBM,
        "_index_probs",
        lambda self, s: torch.softmax(s @ self.patterns.T / self._beta, -1),
    ),
    "index step with the wrong sign": (
        AttentionBM,
        "_index_probs",
        lambda self, s: torch.softmax(-self._beta * s @ self.patterns.T, -1),
    ),
    "index step by distance (the equal-weight machine)": (
        AttentionBM,
        "_index_probs",
        lambda self, s: torch.softmax(
            -0.5 * self._beta * ((s[..., None, :] - self.patterns) ** 2).sum(-1), -1
        ),
    ),
    "uniform index weights instead of softmax": (AttentionBM, "_draw_indices", _uniform_indices),
    "index by argmax (zero temperature)": (
        AttentionBM,
        "_draw_indices",
        lambda self, s, gen: (s @ self.patterns.T).argmax(-1),
    ),
    "ML gradient missing the norm term (rbar instead of w)": (
        AttentionBM,
        "_ml_gradient",
        _ml_rbar,
    ),
    "ML gradient missing beta": (
        AttentionBM,
        "_ml_gradient",
        lambda self, data: (
            self._phase_statistic(data) - self.log_mixture_weights().exp()[:, None] * self.patterns
        ),
    ),
    "ML gradient with uniform model weights": (
        AttentionBM,
        "_ml_gradient",
        lambda self, data: (
            self._beta * (self._phase_statistic(data) - self.patterns / self.n_patterns)
        ),
    ),
    "mixture weights without the 1/2": (
        AttentionBM,
        "log_mixture_weights",
        lambda self: torch.log_softmax(self._beta * (self.patterns**2).sum(-1), 0),
    ),
    "log Z without the Gaussian volume (2 pi / beta)^(d/2)": (
        AttentionBM,
        "log_partition",
        lambda self: torch.logsumexp(0.5 * self._beta * (self.patterns**2).sum(-1), 0),
    ),
    "mean-field step without beta": (
        AttentionBM,
        "mean_field_step",
        lambda self, s: torch.softmax(s @ self.patterns.T, -1) @ self.patterns,
    ),
    "CD model phase from the data (no Gibbs step)": (
        AttentionBM,
        "_cd_gradient",
        lambda self, data, k, gen: torch.zeros_like(self.patterns),
    ),
    "exact sampler with uniform weights": (AttentionBM, "sample", _sample_uniform),
    "quantised sampler picks components by w instead of tilde w": (
        AttentionBM,
        "sample_binary",
        _quantised_sampler_with_w,
    ),
    "index kernel transposed": (
        AttentionBM,
        "index_transition_matrix",
        lambda self, spacing=None: _orig_kernel(self, spacing).T,
    ),
    "norm curvature without the beta w_i term": (
        AttentionBM,
        "norm_curvature",
        lambda self: (
            self._beta**2
            * self.log_mixture_weights().exp()
            * (1 - self.log_mixture_weights().exp())
            * (self.patterns**2).sum(-1)
        ),
    ),
    "Hubbard-Stratonovich with a fixed 40-node Gauss-Hermite rule": (
        abm,
        "hubbard_stratonovich_log_partition",
        _old_hs,
    ),
}


def _catchers(stop_at_first: bool) -> list[str]:
    caught = []
    for name, check in CHECKS.items():
        try:
            check()
        except (AssertionError, RuntimeError, ValueError) as err:  # a crash counts as caught
            caught.append(f"{name} ({type(err).__name__})")
            if stop_at_first:
                break
    return caught


def test_checks_pass_on_the_real_implementation():
    assert _catchers(stop_at_first=True) == []


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_wrong_variant_fails_the_suite(variant, monkeypatch):
    owner, attr, replacement = VARIANTS[variant]
    monkeypatch.setattr(owner, attr, replacement)
    assert _catchers(stop_at_first=True), f"no check catches: {variant}"


if __name__ == "__main__":  # pragma: no cover - the report of which check catches which variant
    torch.set_num_threads(1)
    for variant, (owner, attr, replacement) in VARIANTS.items():
        original = getattr(owner, attr)
        setattr(owner, attr, replacement)
        try:
            found = _catchers(stop_at_first=False)
        finally:
            setattr(owner, attr, original)
        print(f"- {variant}: " + ("; ".join(found) if found else "NOT CAUGHT"))
        sys.stdout.flush()
