"""Plausible wrong implementations of chapters 4-5 that the test suite must catch.

Each variant replaces one private kernel of :mod:`ebmlib.modern`, :mod:`ebmlib.attention` or
:mod:`ebmlib.distributed` by a plausible mistake (a missing beta, patterns as columns, a
softmax over the wrong axis, an energy without its constants log(N)/beta or M^2/2, a
streaming softmax that forgets to rescale, scores in half precision, ...). The test then runs
a fixed list of the suite's own checks and asserts that at least one of them fails. The
baseline case runs the same checks on the real code and asserts that all of them pass, so a
failure under a variant is the variant's doing.
"""

from __future__ import annotations

import math

import pytest
import test_attention as ta
import test_modern as tm
import torch
import torch.nn.functional as F

from ebmlib import attention, modern

# ---------------------------------------------------------------------------------------------
# wrong variants of chapter 4 (ebmlib.modern)
# ---------------------------------------------------------------------------------------------


def _w(s, x):
    wd = modern._work_dtype(s.dtype)
    return s.to(wd), x.to(wd)


def _upd_missing_beta(s, x, beta, chunk_size, method):
    sw, xw = _w(s, x)
    return (torch.softmax(sw @ xw.T, -1) @ xw).to(s.dtype)


def _upd_inverse_beta(s, x, beta, chunk_size, method):
    sw, xw = _w(s, x)
    return (torch.softmax(sw @ xw.T / beta, -1) @ xw).to(s.dtype)


def _upd_wrong_axis(s, x, beta, chunk_size, method):
    sw, xw = _w(s, x)
    return (torch.softmax(beta * sw @ xw.T, 0) @ xw).to(s.dtype)


def _upd_patterns_as_columns(s, x, beta, chunk_size, method):
    sw, xw = _w(s, x)
    return (torch.softmax(beta * sw @ xw, -1) @ xw.T).to(s.dtype)


def _upd_unnormalised(s, x, beta, chunk_size, method):
    sw, xw = _w(s, x)
    z = beta * sw @ xw.T
    return (torch.exp(z - z.amax(-1, keepdim=True)) @ xw).to(s.dtype)


def _upd_half_scores(s, x, beta, chunk_size, method):
    return torch.softmax(beta * (s @ x.T), -1) @ x  # no float32 accumulation


def _merge_without_rescaling(a, b):
    return torch.maximum(a[0], b[0]), a[1] + b[1], a[2] + b[2]


def _head_missing_log_n(zmax, sum_m1, sum_e, n, beta):
    return -zmax - torch.log(sum_e) / beta  # -lse only


def _head_lse_without_inverse_beta(zmax, sum_m1, sum_e, n, beta):
    return -(beta * zmax + torch.log(sum_e)) + math.log(n) / beta


def _head_wrong_sign(zmax, sum_m1, sum_e, n, beta):
    return zmax + torch.log(sum_e) / beta + math.log(n) / beta


def _energy_missing_m2(s, x, beta, chunk_size):
    sw, xw = _w(s, x)
    z = sw @ xw.T
    zmax = z.amax(-1)
    m1, e = modern._exp_sums(z, zmax, beta)
    head = modern._energy_head(zmax, m1, e, x.shape[0], beta)
    return (head + 0.5 * (sw * sw).sum(-1)).to(s.dtype)


MODERN_VARIANTS = {
    "update: missing beta": ("_update_kernel", _upd_missing_beta),
    "update: 1/beta instead of beta": ("_update_kernel", _upd_inverse_beta),
    "update: softmax over the states": ("_update_kernel", _upd_wrong_axis),
    "update: patterns as columns": ("_update_kernel", _upd_patterns_as_columns),
    "update: weights not normalised": ("_update_kernel", _upd_unnormalised),
    "update: scores in half precision": ("_update_kernel", _upd_half_scores),
    "chunked: partial sums not rescaled": ("_merge_partials", _merge_without_rescaling),
    "energy: missing log(N)/beta": ("_energy_head", _head_missing_log_n),
    "energy: lse without 1/beta": ("_energy_head", _head_lse_without_inverse_beta),
    "energy: +lse instead of -lse": ("_energy_head", _head_wrong_sign),
    "energy: missing M^2/2": ("_energy_kernel", _energy_missing_m2),
}

MODERN_CHECKS = {
    "update formula float64 beta=30": lambda: tm.test_update_equals_formula_and_sdpa(
        torch.float64, 30.0
    ),
    "update formula float32 beta=0.125": lambda: tm.test_update_equals_formula_and_sdpa(
        torch.float32, 0.125
    ),
    "square memory": lambda: tm.test_update_square_memory(1.0),
    "chunked float32 N=20000": tm.test_chunked_float32_large_n,
    "energy formula beta=1": lambda: tm.test_energy_matches_explicit_formula(1.0),
    "energy formula beta=8": lambda: tm.test_energy_matches_explicit_formula(8.0),
    "energy N=1 closed form": tm.test_energy_single_pattern_closed_form,
    "descent along a trajectory": tm.test_energy_descent_along_a_trajectory,
    "one-step retrieval bound": tm.test_retrieve_one_step_under_bound,
    "half precision beta=1e4": lambda: tm.test_half_precision_update_is_finite_and_accurate(
        torch.float16, 1e4, None
    ),
}


# ---------------------------------------------------------------------------------------------
# wrong variants of chapter 5 (ebmlib.attention)
# ---------------------------------------------------------------------------------------------


def _att_missing_beta(q, k, v, mask, beta, dropout_p=0.0):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # 1/sqrt(d) always


def _att_wrong_axis(q, k, v, mask, beta, dropout_p=0.0):
    s = beta * q @ k.transpose(-2, -1)
    if mask is not None:
        s = s + mask
    return torch.softmax(s, -2) @ v


def _att_keys_as_columns(q, k, v, mask, beta, dropout_p=0.0):
    s = beta * q @ k
    if mask is not None:
        s = s + mask
    return torch.softmax(s, -1) @ v


def _att_values_ignored(q, k, v, mask, beta, dropout_p=0.0):
    return F.scaled_dot_product_attention(q, k, k, attn_mask=mask, scale=beta)


def _att_mask_ignored(q, k, v, mask, beta, dropout_p=0.0):
    return F.scaled_dot_product_attention(q, k, v, scale=beta)


def _heads_without_transpose(self, x, head_dim):
    b, n, _ = x.shape
    if head_dim is None:
        head_dim = x.shape[-1] // self.num_heads
    return x.reshape(b, self.num_heads, n, head_dim)


def _core_one_step_short(q, k, v, beta, steps, mask, dropout_p=0.0):
    xi = q
    for _ in range(steps - 2):
        xi = attention._attend(xi, k, k, mask, beta)
    return attention._attend(xi, k, k if v is None else v, mask, beta, dropout_p)


def _att_energy(xi, keys, beta, mask, *, log_n=True, m2=True, masked_m=True):
    scores = beta * (xi @ keys.transpose(-2, -1))
    norms2 = (keys * keys).sum(-1)
    if mask is None:
        n = torch.full(scores.shape[:-1], keys.shape[-2], dtype=xi.dtype)
        big = norms2.max(dim=-1, keepdim=True).values.expand(scores.shape[:-1])
    else:
        scores = scores + mask
        visible = torch.isfinite(mask).expand(scores.shape)
        n = visible.sum(-1).to(xi.dtype)
        if masked_m:
            big = torch.where(visible, norms2.unsqueeze(-2).expand(scores.shape), 0.0).amax(-1)
        else:
            big = norms2.amax(-1, keepdim=True).expand(scores.shape[:-1])
    out = -torch.logsumexp(scores, -1) / beta + 0.5 * (xi * xi).sum(-1)
    if log_n:
        out = out + torch.log(n) / beta
    if m2:
        out = out + 0.5 * big
    return out


ATTENTION_VARIANTS = {
    "attend: missing beta (1/sqrt(d) always)": ("_attend", _att_missing_beta),
    "attend: softmax over the queries": ("_attend", _att_wrong_axis),
    "attend: keys as columns": ("_attend", _att_keys_as_columns),
    "attend: values ignored (V = K)": ("_attend", _att_values_ignored),
    "attend: mask ignored": ("_attend", _att_mask_ignored),
    "layer: heads split without transpose": ("Hopfield._heads", _heads_without_transpose),
    "steps: one update short": ("_core", _core_one_step_short),
    "energy: missing log(N)/beta": (
        "_energy",
        lambda xi, k, b, m: _att_energy(xi, k, b, m, log_n=False),
    ),
    "energy: missing M^2/2": ("_energy", lambda xi, k, b, m: _att_energy(xi, k, b, m, m2=False)),
    "energy: M over masked keys too": (
        "_energy",
        lambda xi, k, b, m: _att_energy(xi, k, b, m, masked_m=False),
    ),
}


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(12345)  # as the ``gen`` fixture


ATTENTION_CHECKS = {
    "one step = SDPA = explicit": lambda: ta.test_one_step_is_sdpa_and_softmax_matmul(
        (3, 5, 8), _gen()
    ),
    "square keys, separate values": lambda: ta.test_square_keys_and_separate_values(_gen()),
    "single state": lambda: ta.test_single_state_is_the_hopfield_update(_gen()),
    "masked step": lambda: ta.test_masked_step_any_rank((2, 4, 5), _gen()),
    "T steps = T updates": lambda: ta.test_values_default_to_keys_and_steps_are_hopfield_updates(
        _gen()
    ),
    "energy formula": lambda: ta.test_energy_is_the_modern_hopfield_energy(_gen()),
    "masked energy": lambda: ta.test_masked_energy_equals_energy_of_visible_keys(_gen()),
    "layer = MHA, 2 heads, masks": lambda: ta.test_hopfield_equals_multihead_attention(
        2, 3, "both", _gen()
    ),
    "layer = MHA, 4 heads": lambda: ta.test_hopfield_equals_multihead_attention(
        4, 1, "none", _gen()
    ),
    "pure layer": lambda: ta.test_pure_layer_is_repeated_hopfield_update(_gen()),
    "multi-step layer": lambda: ta.test_multistep_layer_iterates_in_key_space(_gen()),
    "layer energy": lambda: ta.test_layer_energy_never_rises(_gen()),
}


# ---------------------------------------------------------------------------------------------
# running the checks
# ---------------------------------------------------------------------------------------------


def _failures(checks: dict) -> list[str]:
    failed = []
    for name, check in checks.items():
        try:
            check()
        except (AssertionError, RuntimeError, ValueError) as exc:
            failed.append(f"{name}: {type(exc).__name__}")
    return failed


def _patch(monkeypatch, module, target: str, fn) -> None:
    if "." in target:
        cls, attr = target.split(".")
        monkeypatch.setattr(getattr(module, cls), attr, fn)
    else:
        assert hasattr(module, target), target
        monkeypatch.setattr(module, target, fn)


def test_checks_pass_on_the_real_code():
    """The baseline: every check used below passes without an injected mistake."""
    assert _failures(MODERN_CHECKS) == []
    assert _failures(ATTENTION_CHECKS) == []


@pytest.mark.parametrize("variant", sorted(MODERN_VARIANTS))
def test_modern_variant_is_caught(variant, monkeypatch):
    """Checks that a wrong update or energy of chapter 4 (eqs. (4.2), (4.4)) fails the suite."""
    target, fn = MODERN_VARIANTS[variant]
    _patch(monkeypatch, modern, target, fn)
    assert _failures(MODERN_CHECKS), f"no check caught {variant!r}"


@pytest.mark.parametrize("variant", sorted(ATTENTION_VARIANTS))
def test_attention_variant_is_caught(variant, monkeypatch):
    """Checks that a wrong attention step, layer or energy of chapter 5 (eqs. (5.4)-(5.7))
    fails the suite."""
    target, fn = ATTENTION_VARIANTS[variant]
    _patch(monkeypatch, attention, target, fn)
    assert _failures(ATTENTION_CHECKS), f"no check caught {variant!r}"


# ---------------------------------------------------------------------------------------------
# wrong variants of the sharded memory and of data-parallel training (run in the workers)
# ---------------------------------------------------------------------------------------------


def _dist_update_without_rescaling(self, s, beta, chunk_size):
    import torch.distributed as dist

    wd = self._work.dtype
    _, l_sum, acc = modern._softmax_partials(s.to(wd), self._work, beta, chunk_size)
    packed = torch.cat([acc, l_sum], dim=-1)
    dist.all_reduce(packed, group=self.group)
    return (packed[:, :-1] / packed[:, -1:]).to(s.dtype)


def _dist_energy_with_local_n(self, s, beta, chunk_size):
    n_total = self.n
    self.n = self.patterns.shape[0]
    try:
        return _REAL_ENERGY_KERNEL(self, s, beta, chunk_size)
    finally:
        self.n = n_total


def _shard_batch_first_slice(batch, *, group=None):
    import torch.distributed as dist

    return batch[: batch.shape[0] // dist.get_world_size(group)]


_REAL_ENERGY_KERNEL = None

DISTRIBUTED_VARIANTS = {
    "sharded update: partial sums not rescaled": "memory",
    "sharded energy: local N instead of the total": "memory",
    "ddp: every process trains on the same slice": "ddp",
}


def apply_distributed_variant(name: str) -> None:
    """Install a wrong variant in a spawned worker (called by test_distributed._entry)."""
    global _REAL_ENERGY_KERNEL
    from ebmlib import distributed

    if name == "sharded update: partial sums not rescaled":
        distributed.ShardedMemory._update_kernel = _dist_update_without_rescaling
    elif name == "sharded energy: local N instead of the total":
        _REAL_ENERGY_KERNEL = distributed.ShardedMemory._energy_kernel
        distributed.ShardedMemory._energy_kernel = _dist_energy_with_local_n
    elif name == "ddp: every process trains on the same slice":
        distributed.shard_batch = _shard_batch_first_slice
    else:
        raise ValueError(f"unknown variant {name!r}")


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(DISTRIBUTED_VARIANTS))
def test_distributed_variant_is_caught(variant, tmp_path):
    """Checks that a wrong distributed combination (eqs. (4.2), (4.4)) or a wrong data split in
    DDP training fails the distributed checks (two gloo processes, as in test_distributed)."""
    import test_distributed as td

    worker = DISTRIBUTED_VARIANTS[variant]
    results = td.run_workers([worker], tmp_path, variant=variant)
    check = td.check_memory if worker == "memory" else td.check_ddp
    with pytest.raises(AssertionError):
        check(results)
