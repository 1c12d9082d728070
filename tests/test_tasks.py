"""Tests of ebmlib.tasks: the learning tasks of chapter 5 (MIL bags, key-value recall)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ebmlib import attention
from ebmlib.tasks import (
    MILClassifier,
    RecallModel,
    TrainingHistory,
    accuracy,
    make_mil_bags,
    make_recall_task,
    mil_log_likelihood_ratio,
    recall_targets,
    train_classifier,
)
from ebmlib.utils import Result

F64 = torch.float64


def test_mil_bags_and_bayes_score(gen):
    """Checks eq. (5.9): the log-likelihood ratio equals the explicit Gaussian density ratio."""
    bags, labels = make_mil_bags(200, bag_size=5, dim=3, signal_shift=2.0, generator=gen, dtype=F64)
    assert bags.shape == (200, 5, 3) and set(labels.tolist()) <= {0, 1}
    mu = torch.tensor([2.0, 0, 0], dtype=F64)
    # p(bag | pos) / p(bag | neg) = mean_i N(x_i; mu, I) / N(x_i; 0, I)
    ratio = torch.exp(-0.5 * ((bags - mu) ** 2).sum(-1) + 0.5 * (bags**2).sum(-1)).mean(-1)
    torch.testing.assert_close(mil_log_likelihood_ratio(bags, 2.0), ratio.log())
    # exactly one shifted instance in a positive bag: its first coordinate carries the shift
    with pytest.raises(ValueError, match="signal_shift"):
        make_mil_bags(5, signal_shift=0)


def test_hopfield_pooling_solves_mil_and_beats_mean_pooling():
    """Checks the chapter's MIL numbers (same seeds and sizes as the notebook) against eq. (5.9).

    Bags of 16 instances in d = 16, signal shift 5.5, 2000 training and 4000 test bags, 10
    epochs. Hopfield pooling must reach >= 95% test accuracy and cannot beat the Bayes rule
    (eq. (5.9)) by more than sampling noise; mean pooling cannot beat the linear-rule ceiling
    Phi(5.5 / (2 sqrt(16))) = 0.754 by more than sampling noise. With 4000 test bags the
    standard error of an accuracy is at most sqrt(0.25 / 4000) = 0.008; we allow 3 of them.
    """
    shift, n_inst, dim = 5.5, 16, 16
    g = torch.Generator().manual_seed(2)
    xtr, ytr = make_mil_bags(2000, n_inst, dim, shift, generator=g)
    xte, yte = make_mil_bags(4000, n_inst, dim, shift, generator=g)
    noise = 3 * math.sqrt(0.25 / 4000)
    bayes = float(((mil_log_likelihood_ratio(xte, shift) > 0).long() == yte).double().mean())
    limit = 0.5 * (1 + math.erf(shift / (2 * math.sqrt(n_inst)) / math.sqrt(2)))
    acc = {}
    for pooling in ("hopfield", "mean"):
        torch.manual_seed(2)
        model = MILClassifier(dim, pooling=pooling)
        hist = train_classifier(
            model, xtr, ytr, epochs=10, lr=1e-2, batch_size=50, test=(xte, yte), generator=g
        )
        acc[pooling] = hist["test_accuracy"][-1]
        assert acc[pooling] == pytest.approx(accuracy(model, xte, yte))
    assert acc["hopfield"] >= 0.95
    assert acc["hopfield"] <= bayes + noise
    assert acc["mean"] <= limit + noise


def test_recall_task_is_learned_by_one_attention_layer():
    """Checks the chapter's recall numbers (notebook seeds and sizes) with eq. (5.8)'s statistic.

    One Hopfield layer (eq. (5.5)) with 4 heads learns key-value recall (chance 1/16); every
    head moves from mixtures (mean softmax-mass count above 4 of 8 pairs at initialisation) to
    the single-pattern regime (count 1 for at least 40% of 400 test queries).
    """
    g = torch.Generator().manual_seed(1)
    tr = make_recall_task(4000, 8, 16, generator=g)
    te = make_recall_task(1000, 8, 16, generator=g)
    assert bool((recall_targets(tr[1], tr[2]) == tr[1][torch.arange(4000), tr[2]]).all())
    assert all(len(set(row.tolist())) == 8 for row in tr[0][:50])  # distinct keys
    torch.manual_seed(1)
    model = RecallModel(16, 32, 4)

    def counts():
        with torch.no_grad():
            q, items = model.inputs(*(t[:400] for t in te))
            c = model.attention.softmax_mass_count(q, items)  # [400, 4, 1]
            # the layer's statistic is chapter 4's (eq. (4.8)), counted here by hand for one
            # query and head: sort the softmax weights, take the first k holding 90%
            qq, kk, _ = model.attention.project(q, items)
            p = torch.softmax(model.attention.beta * kk[7, 2] @ qq[7, 2, 0], -1).double()
            cum = p.sort(descending=True).values.cumsum(0)
            assert int(c[7, 2, 0]) == int((cum < 0.9 * (1 - 1e-12)).sum()) + 1
            return c[:, :, 0].double()

    before = counts()
    hist = train_classifier(
        model,
        tr,
        recall_targets(tr[1], tr[2]),
        epochs=4,
        lr=1e-2,
        batch_size=64,
        test=(te, recall_targets(te[1], te[2])),
        generator=g,
    )
    after = counts()
    assert hist["test_accuracy"][-1] >= 0.99
    assert bool((before.mean(0) > 4).all())
    assert bool(((after == 1).double().mean(0) >= 0.4).all())
    assert bool((after.mean(0) < before.mean(0)).all())


def test_training_history_is_a_result():
    """Checks the result type of the training loop (used for the curves of eq. (5.9)'s task)."""
    g = torch.Generator().manual_seed(3)
    x, y = make_mil_bags(64, 4, 3, 4.0, generator=g)
    torch.manual_seed(0)
    hist = train_classifier(MILClassifier(3, pooling="mean"), x, y, epochs=2, generator=g)
    assert isinstance(hist, TrainingHistory) and isinstance(hist, Result)
    assert hist.keys() == ["loss", "train_accuracy", "test_accuracy"]
    assert len(hist.loss) == 2 and hist["train_accuracy"] == hist.train_accuracy
    assert hist.test_accuracy is None
    hist2 = train_classifier(
        MILClassifier(3, pooling="max"), x, y, epochs=1, test=(x, y), generator=g
    )
    assert len(hist2["test_accuracy"]) == 1


def test_models_follow_the_randomness_policy():
    """Checks the initial weights of the task models: global RNG by default, or a generator.

    ``torch.manual_seed`` reproduces them and another seed changes them; an explicit
    generator reproduces them without advancing the global generator.
    """

    def weights(model):
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    for make in (
        lambda **kw: MILClassifier(6, **kw),
        lambda **kw: MILClassifier(6, pooling="mean", **kw),
        lambda **kw: RecallModel(8, 16, 2, **kw),
    ):
        torch.manual_seed(0)
        a = weights(make())
        torch.manual_seed(0)
        b = weights(make())
        torch.manual_seed(1)
        c = weights(make())
        assert torch.equal(a, b) and not torch.equal(a, c)
        state = torch.get_rng_state()
        g1 = weights(make(generator=torch.Generator().manual_seed(5)))
        g2 = weights(make(generator=torch.Generator().manual_seed(5)))
        assert torch.equal(g1, g2) and torch.equal(torch.get_rng_state(), state)


def test_bad_inputs_are_named():
    """Checks that the task helpers reject bad arguments with errors naming them."""
    g = torch.Generator().manual_seed(0)
    x, y = make_mil_bags(8, 4, 3, generator=g)
    model = MILClassifier(3)
    with pytest.raises(ValueError, match="n_bags"):
        make_mil_bags(0)
    with pytest.raises(TypeError, match="dtype"):
        make_mil_bags(4, dtype=torch.long)
    with pytest.raises(ValueError, match="pooling"):
        MILClassifier(3, pooling="sum")
    with pytest.raises(ValueError, match="n_symbols"):
        make_recall_task(4, n_items=8, n_symbols=4)
    with pytest.raises(ValueError, match="query"):
        recall_targets(torch.zeros(3, 4, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="query"):
        recall_targets(torch.zeros(2, 3, dtype=torch.long), torch.tensor([5, 0]))
    with pytest.raises(TypeError, match="model"):
        train_classifier(nn.Linear, x, y)
    with pytest.raises(ValueError, match="targets"):
        train_classifier(model, x, y[:-1])
    with pytest.raises(ValueError, match="lr"):
        train_classifier(model, x, y, lr=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        train_classifier(model, x, y, weight_decay=-1.0)
    with pytest.raises(TypeError, match="inputs"):
        train_classifier(model, [1, 2], y)
    with pytest.raises(ValueError, match="targets"):
        accuracy(model, x, y[:3])
    with pytest.raises(TypeError, match="generator"):
        train_classifier(model, x, y, generator=0)


def test_training_stops_on_a_non_finite_loss():
    """Checks that a NaN in the data stops training with an error instead of training on NaN."""
    g = torch.Generator().manual_seed(1)
    x, y = make_mil_bags(16, 4, 3, generator=g)
    x[3, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="inputs must contain only finite values"):
        train_classifier(MILClassifier(3), x, y, epochs=1, generator=g)


def test_deprecated_aliases_in_attention_warn_and_work():
    """Checks that the old names in ebmlib.attention still work, with a DeprecationWarning."""
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    with pytest.warns(DeprecationWarning, match="ebmlib.tasks.make_mil_bags"):
        old = attention.make_mil_bags(5, 3, 2, generator=g1)
    new = make_mil_bags(5, 3, 2, generator=g2)
    assert torch.equal(old[0], new[0]) and torch.equal(old[1], new[1])
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match="ebmlib.tasks.MILClassifier"):
        m_old = attention.MILClassifier(3)
    torch.manual_seed(0)
    m_new = MILClassifier(3)
    assert isinstance(m_old, MILClassifier)
    for a, b in zip(m_old.state_dict().values(), m_new.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for name in (
        "mil_log_likelihood_ratio",
        "make_recall_task",
        "recall_targets",
        "train_classifier",
        "accuracy",
        "RecallModel",
    ):
        assert callable(getattr(attention, name))
        assert name not in attention.__all__
    with pytest.warns(DeprecationWarning, match="RecallModel"):
        attention.RecallModel(8, 8, 2)
