"""Plausible wrong implementations of the RL learning rules and samplers that the suite must catch.

Each variant replaces one piece of :mod:`ebmlib.rl` by a plausible mistake: the TD target with
the wrong sign, without the discount, without terminal masking, or bootstrapped from the online
network; a target network that is never updated; a temperature that is ignored (Boltzmann
policy, soft value, continuous sampler, Gibbs sampling); a Langevin step with the wrong drift
sign or the wrong noise scale; a free-energy or tabular update with the wrong sign, without the
discount or without terminal masking. The test runs the listed checks of the suite under the
variant and asserts that at least one of them fails with an ``AssertionError``. The baseline runs
all checks on the real code and asserts that they pass, so a failure under a variant is the
variant's doing.
"""

from __future__ import annotations

import math

import pytest
import test_rl as trl
import test_rl_energy as te
import test_rl_training as tt
import torch

from ebmlib.rl import agents, models

# ---------------------------------------------------------------------------------- checks
CHECKS = {
    "td_step": tt.check_td_step_matches_hand_computation,
    "target_copies": tt.check_target_copies_every_target_update_steps,
    "polyak": tt.test_target_network_copies_and_polyak,
    "soft_value_policy_T": tt.check_soft_value_and_policy_follow_T,
    "soft_backup": tt.check_soft_backup_target,
    "tabular_td": trl.test_tabular_updates_follow_the_td_rules,
    "tabular_boltzmann": trl.test_boltzmann_action_frequencies,
    "fe_td_sarsa": lambda: trl.test_free_energy_update_is_td_step("sarsa"),
    "fe_td_q": lambda: trl.test_free_energy_update_is_td_step("q"),
    "gibbs_T": trl.test_gibbs_away_from_t1_is_not_softmax_q_over_t,
    "sampler_cold": lambda: te.test_soft_q_sampler_at_the_agents_settings_matches_its_exact_law(
        0.25
    ),
    "ula": te.test_ula_small_step_close_to_gaussian,
    "mala_mixture": te.test_mala_matches_1d_mixture,
}


# -------------------------------------------------------------------------------- variants
def _targets_wrong_sign(rewards, terminated, next_values, gamma):
    return rewards - gamma * (1.0 - terminated) * next_values


def _targets_missing_gamma(rewards, terminated, next_values, gamma):
    return rewards + (1.0 - terminated) * next_values


def _targets_no_terminal_mask(rewards, terminated, next_values, gamma):
    return rewards + gamma * next_values


_td_step = agents.td_step


def _td_step_online_bootstrap(qnet, target, optimizer, batch, next_value, **kw):
    return _td_step(qnet, qnet, optimizer, batch, next_value, **kw)


def _never_update_target(net, target, tau):
    return None


_sample_actions = agents.DeepQAgent.sample_actions
_soft_value = agents.DeepQAgent.soft_value


def _sample_ignoring_T(self, obs, n=1, *, T=None, generator=None, langevin_steps=None):
    return _sample_actions(self, obs, n, T=1.0, generator=generator, langevin_steps=langevin_steps)


def _soft_value_ignoring_T(self, s, T, net=None):
    return _soft_value(self, s, 1.0, net)


def _boltzmann_ignoring_T(q, T):
    return torch.softmax(q, dim=-1)


_sample_units = agents.FreeEnergyQ._sample_action_units


def _gibbs_units_ignoring_T(self, field, t, generator):
    return _sample_units(self, field, 1.0, generator)


_energy_and_grad = models._energy_and_grad


def _gradient_wrong_sign(energy_fn, x):
    e, g = _energy_and_grad(energy_fn, x)
    return e, -g


def _noise_too_small(x, generator):
    return torch.randn(x.shape, generator=generator, dtype=x.dtype) / math.sqrt(2.0)


_fe_update = agents.FreeEnergyQ.update
_tab_update = agents.TabularQ.update


def _fe_no_terminal_mask(self, obs, action, reward, next_obs, next_action, terminated):
    if terminated:  # bootstrap from the successor anyway (with the same action)
        return _fe_update(self, obs, action, reward, next_obs, action, False)
    return _fe_update(self, obs, action, reward, next_obs, next_action, terminated)


def _tab_no_terminal_mask(self, obs, action, reward, next_obs, next_action, terminated):
    if terminated:
        return _tab_update(self, obs, action, reward, next_obs, action, False)
    return _tab_update(self, obs, action, reward, next_obs, next_action, terminated)


# (id, [(object, attribute, replacement)], checks that must catch it)
VARIANTS = [
    ("td_target_wrong_sign", [(agents, "td_targets", _targets_wrong_sign)], ["td_step"]),
    ("td_target_missing_gamma", [(agents, "td_targets", _targets_missing_gamma)], ["td_step"]),
    (
        "td_target_no_terminal_mask",
        [(agents, "td_targets", _targets_no_terminal_mask)],
        ["td_step"],
    ),
    ("td_bootstrap_from_online_net", [(agents, "td_step", _td_step_online_bootstrap)], ["td_step"]),
    (
        "target_network_never_updated",
        [(agents, "update_target", _never_update_target)],
        ["target_copies", "polyak"],
    ),
    (
        "deep_policy_ignores_T",
        [(agents.DeepQAgent, "sample_actions", _sample_ignoring_T)],
        ["soft_value_policy_T", "sampler_cold"],
    ),
    (
        "soft_value_ignores_T",
        [(agents.DeepQAgent, "soft_value", _soft_value_ignoring_T)],
        ["soft_value_policy_T", "soft_backup"],
    ),
    (
        "tabular_boltzmann_ignores_T",
        [(agents, "boltzmann_probabilities", _boltzmann_ignoring_T)],
        ["tabular_boltzmann"],
    ),
    (
        "gibbs_ignores_T",
        [(agents.FreeEnergyQ, "_sample_action_units", _gibbs_units_ignoring_T)],
        ["gibbs_T"],
    ),
    ("langevin_drift_wrong_sign", [(models, "_energy_and_grad", _gradient_wrong_sign)], ["ula"]),
    (
        "langevin_noise_too_small",
        [(models, "_standard_normal", _noise_too_small)],
        ["ula", "mala_mixture"],
    ),
    (
        "free_energy_no_terminal_mask",
        [(agents.FreeEnergyQ, "update", _fe_no_terminal_mask)],
        ["fe_td_sarsa", "fe_td_q"],
    ),
    (
        "free_energy_missing_gamma",
        [(agents.FreeEnergyQ, "gamma", property(lambda self: 1.0))],
        ["fe_td_sarsa", "fe_td_q"],
    ),
    (
        "free_energy_wrong_sign",
        [(agents.FreeEnergyQ, "current_lr", property(lambda self: -self.config.lr))],
        ["fe_td_sarsa"],
    ),
    (
        "tabular_no_terminal_mask",
        [(agents.TabularQ, "update", _tab_no_terminal_mask)],
        ["tabular_td"],
    ),
    (
        "tabular_missing_gamma",
        [(agents.TabularQ, "gamma", property(lambda self: 1.0))],
        ["tabular_td"],
    ),
]


def test_baseline_all_checks_pass():
    """On the real code every check passes (so a failure below is the variant's doing)."""
    for name, check in CHECKS.items():
        check()  # raises on failure
        assert name


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_wrong_variant_is_caught(variant, monkeypatch):
    """Under the variant at least one of its checks fails."""
    _, patches, checks = variant
    for obj, attr, value in patches:
        monkeypatch.setattr(obj, attr, value)
    caught = []
    for name in checks:
        try:
            CHECKS[name]()
        except AssertionError:
            caught.append(name)
    assert caught, f"no check caught the variant {variant[0]}"
