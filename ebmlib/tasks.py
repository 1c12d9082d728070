r"""The learning tasks of chapter 5: multiple-instance bags, key-value recall, a training loop.

These are the experiments that show the Hopfield layers of :mod:`ebmlib.attention` learning:

* **Multiple-instance learning** (:func:`make_mil_bags`): a bag of Gaussian instances is
  positive when one instance carries a signal. The Bayes-optimal score is a log-sum-exp of the
  instances against the signal direction, :func:`mil_log_likelihood_ratio`
  (:math:numref:`eq-attention-llr`): the energy term of a Hopfield pooling with the right
  query, which :class:`MILClassifier` learns with :class:`ebmlib.attention.HopfieldPooling`.
* **Key-value recall** (:func:`make_recall_task`): one attention layer learns to read out the
  value stored with a queried key (:class:`RecallModel`).
* :func:`train_classifier` (Adam on minibatches) and :func:`accuracy`, returning a
  :class:`TrainingHistory`.

Models take ``generator`` for their initial weights; ``None`` means torch's global generator,
so ``torch.manual_seed`` makes a run reproducible.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (
    check_finite,
    check_generator,
    check_int,
    check_last_dim,
    check_positive,
    check_tensor,
)
from .utils import Result

__all__ = [
    "make_mil_bags",
    "mil_log_likelihood_ratio",
    "MILClassifier",
    "make_recall_task",
    "recall_targets",
    "RecallModel",
    "TrainingHistory",
    "train_classifier",
    "accuracy",
]


def _linear(in_features: int, out_features: int, generator: torch.Generator | None) -> nn.Linear:
    # nn.Linear's own initialisation, drawn from ``generator`` (see attention._init_linear)
    from .attention import _init_linear

    return _init_linear(in_features, out_features, True, generator, {})


# ---------------------------------------------------------------------------------------------
# multiple-instance learning
# ---------------------------------------------------------------------------------------------


def make_mil_bags(
    n_bags: int,
    bag_size: int = 16,
    dim: int = 16,
    signal_shift: float = 5.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic multiple-instance-learning bags (chapter 5, section on Hopfield pooling).

    Every instance is standard Gaussian noise in ``R^dim``; a positive bag (label 1, half of
    the bags on average) has exactly one instance, at a random position, shifted by
    ``signal_shift`` along the first axis, i.e. drawn from ``N(signal_shift e_1, I)``.

    Parameters
    ----------
    n_bags, bag_size, dim : int
        Number of bags, instances per bag, instance dimension.
    signal_shift : float
        Distance of the signal mean from the noise mean (> 0).
    generator : torch.Generator, optional
        Source of randomness (CPU); default torch's global generator.
    dtype : torch.dtype
        Floating dtype of the bags.

    Returns
    -------
    bags : torch.Tensor, shape ``[n_bags, bag_size, dim]``
    labels : torch.Tensor, shape ``[n_bags]``, dtype long (0 or 1)
    """
    n_bags = check_int(n_bags, "n_bags", minimum=1)
    bag_size = check_int(bag_size, "bag_size", minimum=1)
    dim = check_int(dim, "dim", minimum=1)
    shift = check_positive(signal_shift, "signal_shift")
    check_generator(generator, device="cpu")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    g = generator
    bags = torch.randn(n_bags, bag_size, dim, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 2, (n_bags,), generator=g)
    where = torch.randint(0, bag_size, (n_bags,), generator=g)
    pos = labels.bool()
    bags[pos.nonzero().squeeze(-1), where[pos], 0] += shift
    return bags.to(dtype), labels


def mil_log_likelihood_ratio(bags: torch.Tensor, signal_shift: float = 5.0) -> torch.Tensor:
    r"""Bayes-optimal score of :func:`make_mil_bags`: log p(bag | positive) / p(bag | negative).

    With ``mu = signal_shift e_1`` and ``n`` instances, the ratio is the mean over positions of
    ``exp(mu . x_i - |mu|^2 / 2)``, so (:math:numref:`eq-attention-llr`)

    .. math:: \log \Lambda = \operatorname{lse}(1, X^\top \mu) - \log n - |\mu|^2/2,

    a log-sum-exp of the instances against one "query" ``mu``: the energy term of a Hopfield
    pooling with the right query. Classifying ``log Lambda > 0`` is optimal for balanced labels.

    Parameters
    ----------
    bags : torch.Tensor, shape ``[B, n, dim]``
    signal_shift : float

    Returns
    -------
    torch.Tensor, shape ``[B]``
    """
    check_tensor(bags, "bags", ndim=3, floating=True)
    shift = check_positive(signal_shift, "signal_shift")
    z = shift * bags[..., 0] - 0.5 * shift**2
    return torch.logsumexp(z, dim=-1) - math.log(bags.shape[1])


class MILClassifier(nn.Module):
    """Bag classifier: a pooling of the instances, then a linear layer (chapter 5).

    ``pooling="hopfield"`` uses :class:`ebmlib.attention.HopfieldPooling` (one learned query);
    ``"mean"`` uses the mean of the instances; ``"max"`` their element-wise maximum. The same
    linear classifier ``Linear(dim, 1)`` follows, giving the logit of the positive class.

    Parameters
    ----------
    dim : int
        Instance dimension.
    pooling : {"hopfield", "mean", "max"}
    num_heads : int
        Heads of the Hopfield pooling.
    beta : float, optional
        Inverse temperature of the Hopfield pooling (default ``1/sqrt(dim/num_heads)``).
    generator : torch.Generator, optional
        Draws the initial weights; default torch's global generator.
    """

    def __init__(
        self,
        dim: int,
        pooling: str = "hopfield",
        num_heads: int = 1,
        beta: float | None = None,
        *,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        from .attention import HopfieldPooling

        dim = check_int(dim, "dim", minimum=1)
        if pooling not in ("hopfield", "mean", "max"):
            raise ValueError(f"pooling must be one of 'hopfield', 'mean', 'max'; got {pooling!r}")
        check_generator(generator)
        self.pooling = pooling
        self.pool = (
            HopfieldPooling(dim, num_heads=num_heads, beta=beta, generator=generator)
            if pooling == "hopfield"
            else None
        )
        self.classifier = _linear(dim, 1, generator)

    def forward(self, bags: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` for bags ``[B, n, dim]``."""
        check_tensor(bags, "bags", ndim=3, floating=True, finite=False)
        w = self.classifier.weight
        check_last_dim(bags, "bags", w.shape[1], "dim")
        if bags.device != w.device:
            raise ValueError(f"bags is on {bags.device} but the model is on {w.device}")
        if bags.dtype != w.dtype:
            raise TypeError(f"bags must have the model's dtype {w.dtype}, got {bags.dtype}")
        if self.pooling == "hopfield":
            z = self.pool(bags)[:, 0]
        elif self.pooling == "mean":
            z = bags.mean(1)
        else:
            z = bags.amax(1)
        return self.classifier(z).squeeze(-1)


# ---------------------------------------------------------------------------------------------
# key-value recall
# ---------------------------------------------------------------------------------------------


def make_recall_task(
    n_seqs: int,
    n_items: int = 8,
    n_symbols: int = 16,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Key-value recall sequences for the toy attention model (chapter 5).

    Each sequence holds ``n_items`` (key, value) pairs with distinct keys drawn from
    ``n_symbols`` symbols and values drawn uniformly, then a query key equal to one of the
    stored keys; the target is the value stored with that key (:func:`recall_targets`).

    Parameters
    ----------
    n_seqs, n_items, n_symbols : int
        Number of sequences, pairs per sequence (>= 1), vocabulary size (>= ``n_items``).
    generator : torch.Generator, optional
        Source of randomness (CPU); default torch's global generator.

    Returns
    -------
    keys : torch.Tensor, long, shape ``[n_seqs, n_items]``
    values : torch.Tensor, long, shape ``[n_seqs, n_items]``
    query : torch.Tensor, long, shape ``[n_seqs]`` (index of the queried item, 0..n_items-1)
    """
    n_seqs = check_int(n_seqs, "n_seqs", minimum=1)
    n_items = check_int(n_items, "n_items", minimum=1)
    n_symbols = check_int(n_symbols, "n_symbols", minimum=1)
    if n_symbols < n_items:
        raise ValueError(
            f"n_symbols must be >= n_items = {n_items} (distinct keys), got {n_symbols}"
        )
    check_generator(generator, device="cpu")
    g = generator
    keys = torch.rand(n_seqs, n_symbols, generator=g).argsort(-1)[:, :n_items]
    values = torch.randint(0, n_symbols, (n_seqs, n_items), generator=g)
    query = torch.randint(0, n_items, (n_seqs,), generator=g)
    return keys, values, query


def recall_targets(values: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """The value stored with the queried key: ``values[b, query[b]]``."""
    check_tensor(values, "values", ndim=2)
    check_tensor(query, "query", ndim=1)
    for name, t in (("values", values), ("query", query)):
        if t.is_floating_point() or t.is_complex():
            raise TypeError(f"{name} must be an integer tensor, got {t.dtype}")
    if query.device != values.device:
        raise ValueError(f"query is on {query.device} but values is on {values.device}")
    if query.shape[0] != values.shape[0]:
        raise ValueError(
            f"query must hold one index per sequence ({values.shape[0]}), got {query.shape[0]}"
        )
    if query.is_floating_point() or bool(((query < 0) | (query >= values.shape[1])).any()):
        raise ValueError(f"query must hold integer indices in [0, {values.shape[1]})")
    return values.gather(1, query.unsqueeze(1)).squeeze(1)


class RecallModel(nn.Module):
    """A one-layer attention model for :func:`make_recall_task` (chapter 5).

    Item ``i`` is embedded as ``E_key[k_i] + E_value[v_i]``; the query token is
    ``E_key[q] + e_query``. One :class:`ebmlib.attention.Hopfield` layer (``num_heads`` heads,
    one step) lets the query token attend to the items, and a linear read-out predicts the
    value symbol.

    Parameters
    ----------
    n_symbols : int
        Vocabulary size of keys and values.
    d_model : int
        Embedding dimension.
    num_heads : int
        Heads of the attention layer.
    generator : torch.Generator, optional
        Draws the initial weights; default torch's global generator.
    """

    def __init__(
        self,
        n_symbols: int = 16,
        d_model: int = 32,
        num_heads: int = 4,
        *,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        from .attention import Hopfield

        n_symbols = check_int(n_symbols, "n_symbols", minimum=2)
        d_model = check_int(d_model, "d_model", minimum=1)
        check_generator(generator)
        dev = torch.get_default_device()
        self.key_emb = nn.utils.skip_init(nn.Embedding, n_symbols, d_model, device=dev)
        self.value_emb = nn.utils.skip_init(nn.Embedding, n_symbols, d_model, device=dev)
        with torch.no_grad():  # nn.Embedding's own initialisation, N(0, 1)
            self.key_emb.weight.normal_(generator=generator)
            self.value_emb.weight.normal_(generator=generator)
        self.query_flag = nn.Parameter(torch.zeros(d_model))
        self.attention = Hopfield(d_model, num_heads=num_heads, generator=generator)
        self.readout = _linear(d_model, n_symbols, generator)

    def inputs(self, keys: torch.Tensor, values: torch.Tensor, query: torch.Tensor):
        """Embedded (query token ``[B, 1, d]``, items ``[B, n, d]``)."""
        dev = self.query_flag.device
        for name, t, ndim in (("keys", keys, 2), ("values", values, 2), ("query", query, 1)):
            check_tensor(t, name, ndim=ndim)
            if t.is_floating_point() or t.is_complex():
                raise TypeError(f"{name} must be an integer tensor (symbols), got {t.dtype}")
            if t.device != dev:
                raise ValueError(f"{name} is on {t.device} but the model is on {dev}")
        if values.shape != keys.shape or query.shape[0] != keys.shape[0]:
            raise ValueError(
                "keys and values must have one shape [B, n] and query shape [B], got "
                f"{tuple(keys.shape)}, {tuple(values.shape)} and {tuple(query.shape)}"
            )
        items = self.key_emb(keys) + self.value_emb(values)
        qkey = keys.gather(1, query.unsqueeze(1))  # [B, 1]
        q = self.key_emb(qkey) + self.query_flag
        return q, items

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Logits ``[B, n_symbols]`` for a batch ``(keys, values, query)``."""
        keys, values, query = batch
        q, items = self.inputs(keys, values, query)
        return self.readout(self.attention(q, items)[:, 0])


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TrainingHistory(Result):
    """Per-epoch record of :func:`train_classifier`.

    Attributes
    ----------
    loss : list of float
        Mean training loss of each epoch.
    train_accuracy : list of float
        Accuracy on the whole training set after each epoch.
    test_accuracy : list of float or None
        Accuracy on the test set after each epoch (None without a test set).
    """

    loss: list[float] = dataclasses.field(default_factory=list)
    train_accuracy: list[float] = dataclasses.field(default_factory=list)
    test_accuracy: list[float] | None = None


def _index(batch: Any, idx: torch.Tensor) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch[idx]
    return tuple(t[idx] for t in batch)


def _length(batch: Any, name: str) -> int:
    if isinstance(batch, torch.Tensor):
        if batch.dim() == 0:
            raise ValueError(f"{name} must have a first (sample) dimension")
        return batch.shape[0]
    if (
        isinstance(batch, (tuple, list))
        and batch
        and all(isinstance(t, torch.Tensor) and t.dim() >= 1 for t in batch)
    ):
        n = batch[0].shape[0]
        if any(t.shape[0] != n for t in batch):
            raise ValueError(f"the tensors of {name} must share their first dimension")
        return n
    raise TypeError(f"{name} must be a tensor or a tuple of tensors, got {type(batch).__name__}")


def _check_data(model: Any, inputs: Any, targets: Any) -> int:
    """Checks of :func:`accuracy` and :func:`train_classifier`, once at the entry."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    n = _length(inputs, "inputs")
    check_tensor(targets, "targets", ndim=1)
    if targets.is_complex():
        raise TypeError(f"targets must be real (class labels), got {targets.dtype}")
    if targets.shape[0] != n:
        raise ValueError(f"targets must hold {n} entries (one per input), got {targets.shape[0]}")
    param = next(iter(model.parameters()), None)
    for t in (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs):
        if param is not None and t.device != param.device:
            raise ValueError(f"inputs is on {t.device} but the model is on {param.device}")
        check_finite(t, "inputs")
    if param is not None and targets.device != param.device:
        raise ValueError(f"targets is on {targets.device} but the model is on {param.device}")
    return n


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if logits.dim() == 1:
        return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
    return F.cross_entropy(logits, targets)


@torch.no_grad()
def accuracy(model: nn.Module, inputs: Any, targets: torch.Tensor) -> float:
    """Fraction of correct predictions (logit > 0 for binary ``[B]`` logits, else argmax).

    The model is evaluated in ``eval`` mode and put back in the mode it was in.
    """
    _check_data(model, inputs, targets)
    was = model.training
    model.eval()
    logits = model(inputs)
    model.train(was)
    pred = (logits > 0).long() if logits.dim() == 1 else logits.argmax(-1)
    return float((pred == targets).double().mean())


def train_classifier(
    model: nn.Module,
    inputs: Any,
    targets: torch.Tensor,
    epochs: int = 10,
    lr: float = 1e-2,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    test: tuple[Any, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> TrainingHistory:
    """Train a classifier with Adam on minibatches (used by chapter 5's experiments).

    Binary tasks give logits ``[B]`` (binary cross-entropy), multi-class tasks ``[B, C]``
    (cross-entropy). A non-finite loss stops training with a ``ValueError`` (learning rate too
    large, or NaN in the data) instead of training on NaN.

    Parameters
    ----------
    model : nn.Module
        Maps a batch of ``inputs`` to logits.
    inputs : tensor or tuple of tensors, first dimension the samples
    targets : torch.Tensor, shape ``[n]``, long
    epochs, batch_size : int
    lr, weight_decay : float
    test : (inputs, targets), optional
        Evaluated after every epoch.
    generator : torch.Generator, optional
        Shuffles the minibatches; default torch's global generator.

    Returns
    -------
    TrainingHistory
        ``loss`` (mean training loss per epoch), ``train_accuracy`` and, with ``test``,
        ``test_accuracy`` per epoch.
    """
    from .utils import progress

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    lr = check_positive(lr, "lr")
    if not isinstance(weight_decay, (int, float)) or isinstance(weight_decay, bool):
        raise TypeError(f"weight_decay must be a number, got {type(weight_decay).__name__}")
    if not math.isfinite(weight_decay) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
    check_generator(generator, device="cpu")
    n = _check_data(model, inputs, targets)
    if test is not None and (not isinstance(test, (tuple, list)) or len(test) != 2):
        raise TypeError("test must be a pair (inputs, targets)")
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    hist = TrainingHistory(test_accuracy=[] if test is not None else None)
    for epoch in progress(range(epochs), desc="epochs"):
        model.train()
        perm = torch.randperm(n, generator=generator)
        total = torch.zeros((), dtype=torch.float64)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            loss = _loss(model(_index(inputs, idx)), targets[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.detach().double().cpu() * len(idx)
        mean_loss = float(total) / n
        if not math.isfinite(mean_loss):
            raise ValueError(
                f"the training loss became {mean_loss} in epoch {epoch + 1}: lower lr or check "
                "the inputs for NaN"
            )
        hist.loss.append(mean_loss)
        hist.train_accuracy.append(accuracy(model, inputs, targets))
        if test is not None:
            hist.test_accuracy.append(accuracy(model, *test))
    return hist
