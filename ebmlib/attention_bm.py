r"""The Boltzmann machine behind attention (chapter 8).

A modern Hopfield network (chapter 4) has a stochastic twin. Take a continuous state
:math:`\xi \in \mathbb{R}^d` and a pattern index :math:`i \in \{1, \dots, N\}` and define the joint
Boltzmann distribution (chapter 8, eq. (8.1))

.. math::

    p(\xi, i) = \frac{1}{Z} \exp\!\big(-\beta\,(\tfrac12 \lVert\xi\rVert^2 - x_i^\top \xi)\big).

Its conditionals are the two halves of a block Gibbs sampler,

* :math:`p(i \mid \xi) = \mathrm{softmax}(\beta X^\top \xi)_i` (the attention weights), and
* :math:`p(\xi \mid i) = \mathcal{N}(x_i, I/\beta)`,

its marginal is :math:`p(\xi) \propto e^{-\beta E(\xi)}` with :math:`E` the modern-Hopfield
energy of :func:`ebmlib.modern.energy`, and the normaliser is known in closed form,
:math:`Z = (2\pi/\beta)^{d/2} \sum_i e^{\beta \lVert x_i \rVert^2 / 2}`. Replacing the sampled
index by its posterior mean gives :math:`\xi \leftarrow X \mathrm{softmax}(\beta X^\top \xi)`:
the Hopfield update, i.e. one attention step, is the mean-field step of this machine.

Patterns are stored as **rows** (``patterns`` has shape ``[N, d]``), states are ``[B, d]``; the
book's :math:`X^\top \xi` is ``states @ patterns.T``. ``beta`` is the raw inverse temperature.

The module also holds the classical precursor (a Hebbian Hopfield network is an RBM with
Gaussian hidden units, by the Hubbard-Stratonovich identity): :func:`hopfield_log_partition` and
:func:`hubbard_stratonovich_log_partition` compute its partition function in both pictures.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from . import modern
from ._validation import (
    check_choice,
    check_generator,
    check_int,
    check_pm1,
    check_positive,
    check_same_device,
    check_tensor,
)
from .rbm import enumerate_states
from .utils import progress

__all__ = [
    "AttentionBM",
    "GibbsResult",
    "hopfield_log_partition",
    "hubbard_stratonovich_log_partition",
    "draw_annealing",
]


class GibbsResult(NamedTuple):
    """Result of :meth:`AttentionBM.gibbs`: unpacks as ``states, indices``.

    ``trace`` holds the states after every step (``[steps, B, d]``) when asked for, else None.
    """

    states: torch.Tensor
    indices: torch.Tensor
    trace: torch.Tensor | None = None


class AttentionBM(nn.Module):
    r"""A Boltzmann machine over a continuous state and a pattern index (chapter 8).

    .. math::

        p(\xi, i) \propto \exp\!\big(-\beta\,(\tfrac12\lVert\xi\rVert^2 - x_i^\top\xi)\big),
        \qquad \xi \in \mathbb{R}^d,\ i \in \{1, \dots, N\}.

    The stored patterns are an ``nn.Parameter`` (so the machine can learn them with
    :meth:`fit`, move with ``.to(device)`` and round-trip through ``state_dict``); ``beta`` is a
    fixed inverse temperature.

    Parameters
    ----------
    patterns : torch.Tensor
        Initial stored patterns as rows, shape ``[N, d]``, floating point. Copied.
    beta : float
        Inverse temperature, > 0. The conditional ``p(xi | i)`` has covariance ``I / beta``.

    Examples
    --------
    >>> X = torch.tensor([[-2.0], [1.0], [3.0]])
    >>> bm = AttentionBM(X, beta=2.0)
    >>> bm.mean_field_step(torch.tensor([[0.5]])).shape
    torch.Size([1, 1])
    """

    def __init__(self, patterns: torch.Tensor, beta: float):
        super().__init__()
        check_tensor(patterns, "patterns", ndim=2, floating=True)
        self.beta = check_positive(beta, "beta")
        self.patterns = nn.Parameter(patterns.detach().clone())

    # -- sizes and checks -------------------------------------------------------------------

    @property
    def n_patterns(self) -> int:
        """Number of stored patterns ``N``."""
        return self.patterns.shape[0]

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the state."""
        return self.patterns.shape[1]

    def extra_repr(self) -> str:
        return f"N={self.n_patterns}, d={self.dim}, beta={self.beta:g}"

    def _check_states(self, states: torch.Tensor, name: str = "states") -> torch.Tensor:
        check_tensor(states, name, ndim=(1, 2), floating=True)
        check_same_device(**{name: states, "patterns": self.patterns})
        if states.shape[-1] != self.dim:
            raise ValueError(
                f"{name} must have last dimension d = {self.dim} to match the stored patterns, "
                f"got shape {tuple(states.shape)}"
            )
        if states.dtype != self.patterns.dtype:
            raise TypeError(
                f"{name} must have the dtype of the patterns ({self.patterns.dtype}), "
                f"got {states.dtype}"
            )
        return states

    def _check_indices(self, indices: torch.Tensor) -> torch.Tensor:
        if not isinstance(indices, torch.Tensor):
            raise TypeError(f"indices must be a torch.Tensor, got {type(indices).__name__}")
        if indices.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"indices must have an integer dtype, got {indices.dtype}")
        if indices.numel() == 0:
            raise ValueError("indices must not be empty")
        if bool((indices < 0).any()) or bool((indices >= self.n_patterns).any()):
            raise ValueError(
                f"indices must lie in [0, {self.n_patterns - 1}] (N = {self.n_patterns})"
            )
        check_same_device(indices=indices, patterns=self.patterns)
        return indices.long()

    # -- energies, normaliser, densities ----------------------------------------------------

    def joint_energy(self, states: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        r"""Energy of the joint model, :math:`\tfrac12\lVert\xi\rVert^2 - x_i^\top\xi` (eq. (8.1)).

        ``p(xi, i) = exp(-beta * joint_energy) / Z``.

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` (or ``[d]``).
        indices : torch.Tensor
            Integer pattern indices, ``[B]`` (or a scalar tensor).

        Returns
        -------
        torch.Tensor
            ``[B]`` (or a scalar).
        """
        self._check_states(states)
        idx = self._check_indices(indices)
        x = self.patterns[idx]
        return 0.5 * (states * states).sum(-1) - (x * states).sum(-1)

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        r"""The modern-Hopfield energy :math:`E(\xi)` of the marginal (chapter 4, eq. (4.2)).

        Equal to :func:`ebmlib.modern.energy` with this machine's patterns and ``beta``; the
        marginal of the machine is ``p(xi) = exp(-beta E(xi)) / Z_E`` (chapter 8, eq. (8.4)).

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` or ``[d]``.

        Returns
        -------
        torch.Tensor
            ``[B]`` or a scalar.
        """
        self._check_states(states)
        return modern.energy(states, self.patterns, self.beta)

    def log_mixture_weights(self) -> torch.Tensor:
        r"""Log mixture weights :math:`\log w_i`, :math:`w_i \propto e^{\beta\lVert x_i\rVert^2/2}`.

        The marginal is a Gaussian mixture ``sum_i w_i N(x_i, I / beta)`` (chapter 8,
        eq. (8.5)): patterns with larger norm get more weight.

        Returns
        -------
        torch.Tensor
            ``[N]``, ``logsumexp`` of it is 0.
        """
        a = 0.5 * self.beta * (self.patterns * self.patterns).sum(-1)
        return a - torch.logsumexp(a, dim=0)

    def log_partition(self) -> torch.Tensor:
        r"""Exact :math:`\log Z` of the joint model (chapter 8, eq. (8.3)).

        .. math:: Z = (2\pi/\beta)^{d/2} \sum_{i=1}^N e^{\beta \lVert x_i \rVert^2 / 2}.

        Returns
        -------
        torch.Tensor
            A 0-dim tensor.
        """
        a = 0.5 * self.beta * (self.patterns * self.patterns).sum(-1)
        return 0.5 * self.dim * math.log(2 * math.pi / self.beta) + torch.logsumexp(a, dim=0)

    def log_density(self, states: torch.Tensor) -> torch.Tensor:
        r"""Exact, normalised log density of the marginal :math:`\log p(\xi)` (eq. (8.4)).

        .. math::

            \log p(\xi) = \log \sum_i e^{-\beta(\lVert\xi\rVert^2/2 - x_i^\top \xi)} - \log Z
                        = -\beta E(\xi) - \log Z_E .

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` or ``[d]``.

        Returns
        -------
        torch.Tensor
            ``[B]`` or a scalar; integrates to 1 over ``R^d``.
        """
        self._check_states(states)
        scores = self.beta * (states @ self.patterns.T)  # [B, N]
        half_sq = 0.5 * self.beta * (states * states).sum(-1)
        return torch.logsumexp(scores, dim=-1) - half_sq - self.log_partition()

    # -- the two conditionals and the Gibbs sampler ----------------------------------------

    def index_posterior(self, states: torch.Tensor) -> torch.Tensor:
        r"""The conditional :math:`p(i \mid \xi) = \mathrm{softmax}(\beta X^\top\xi)_i` (eq. (8.2)).

        These are exactly the attention weights of a query ``xi`` over keys ``X``.

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` or ``[d]``.

        Returns
        -------
        torch.Tensor
            ``[B, N]`` (or ``[N]``), rows sum to 1.
        """
        self._check_states(states)
        return torch.softmax(self.beta * (states @ self.patterns.T), dim=-1)

    def sample_indices(
        self, states: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw ``i ~ p(i | xi)`` for each state (one half of a Gibbs step, eq. (8.2)).

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]``.
        generator : torch.Generator, optional
            On the device of the states.

        Returns
        -------
        torch.Tensor
            ``[B]`` integer indices.
        """
        check_generator(generator, device=self.patterns.device)
        probs = self.index_posterior(states)
        flat = probs.reshape(-1, self.n_patterns)
        idx = torch.multinomial(flat.detach(), 1, generator=generator).squeeze(-1)
        return idx.reshape(probs.shape[:-1])

    def sample_states(
        self, indices: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        r"""Draw :math:`\xi \sim \mathcal{N}(x_i, I/\beta)` for each index (eq. (8.2)).

        Parameters
        ----------
        indices : torch.Tensor
            Integer indices, any shape ``S``.
        generator : torch.Generator, optional
            On the device of the patterns.

        Returns
        -------
        torch.Tensor
            States of shape ``S + [d]``.
        """
        idx = self._check_indices(indices)
        check_generator(generator, device=self.patterns.device)
        mean = self.patterns.detach()[idx]
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + noise / math.sqrt(self.beta)

    def gibbs(
        self,
        states: torch.Tensor,
        steps: int = 1,
        generator: torch.Generator | None = None,
        return_trace: bool = False,
    ) -> GibbsResult:
        r"""Block Gibbs sampling: alternate ``i ~ p(i | xi)`` and ``xi ~ p(xi | i)`` (eq. (8.6)).

        Each of the ``B`` rows of ``states`` is an independent chain. The chain leaves the
        joint distribution invariant, so its state marginal converges to
        ``p(xi) = exp(-beta E(xi)) / Z_E`` (chapter 8, theorem "Gibbs sampling of the attention
        energy").

        Parameters
        ----------
        states : torch.Tensor
            Initial states, ``[B, d]``.
        steps : int
            Number of full Gibbs steps (>= 1).
        generator : torch.Generator, optional
            On the device of the states.
        return_trace : bool
            Also return the states after every step, ``[steps, B, d]``.

        Returns
        -------
        GibbsResult
            ``(states, indices, trace)``: the final states ``[B, d]``, the last sampled
            indices ``[B]``, and the trace or None.
        """
        self._check_states(states)
        if states.dim() != 2:
            raise ValueError(f"states must have shape [B, d], got {tuple(states.shape)}")
        steps = check_int(steps, "steps", minimum=1)
        check_generator(generator, device=self.patterns.device)
        xi = states.detach()
        trace = [] if return_trace else None
        with torch.no_grad():
            for _ in range(steps):
                idx = self.sample_indices(xi, generator)
                xi = self.sample_states(idx, generator)
                if trace is not None:
                    trace.append(xi)
        return GibbsResult(xi, idx, torch.stack(trace) if trace is not None else None)

    def mean_field_step(self, states: torch.Tensor) -> torch.Tensor:
        r"""Mean-field step :math:`\xi \leftarrow \mathbb{E}[x_i \mid \xi]`, the Hopfield update.

        It is :math:`X\mathrm{softmax}(\beta X^\top\xi)`: replacing the sampled index of a Gibbs
        step by its posterior expectation gives the
        modern-Hopfield update, i.e. one attention step (chapter 8, eq. (8.7)). This method
        calls :func:`ebmlib.modern.update`, so the two agree bit for bit.

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` or ``[d]``.

        Returns
        -------
        torch.Tensor
            Same shape as ``states``.
        """
        self._check_states(states)
        return modern.update(states, self.patterns, self.beta)

    def sample(self, n: int, generator: torch.Generator | None = None) -> GibbsResult:
        """Exact ancestral samples: ``i ~ w``, then ``xi ~ N(x_i, I / beta)`` (eq. (8.5)).

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        generator : torch.Generator, optional
            On the device of the patterns.

        Returns
        -------
        GibbsResult
            ``(states [n, d], indices [n], None)``.
        """
        n = check_int(n, "n", minimum=1)
        check_generator(generator, device=self.patterns.device)
        w = self.log_mixture_weights().detach().exp()
        idx = torch.multinomial(w, n, replacement=True, generator=generator)
        return GibbsResult(self.sample_states(idx, generator), idx, None)

    # -- a discrete likelihood for binary data -----------------------------------------------

    def log_prob_binary(self, v: torch.Tensor) -> torch.Tensor:
        r"""Exact log-probability of binary vectors under the machine, quantised to unit cells.

        A continuous density cannot be compared directly with a model of binary vectors (an
        RBM). Quantising does it exactly: binary vector ``v`` gets the probability that
        ``xi`` falls in the cell ``v + [-1/2, 1/2)^d``, renormalised over the ``2^d`` cells of
        binary vectors. For the mixture of isotropic Gaussians every cell probability factorises
        over coordinates (chapter 8, eq. (8.14)):

        .. math::

            P(v) = \frac{\sum_i w_i \prod_j c_{ij}(v_j)}
                        {\sum_i w_i \prod_j (c_{ij}(0) + c_{ij}(1))},
            \quad c_{ij}(b) = \Phi(\sqrt\beta\,(b + \tfrac12 - x_{ij}))
                              - \Phi(\sqrt\beta\,(b - \tfrac12 - x_{ij})).

        Parameters
        ----------
        v : torch.Tensor
            Binary {0, 1} vectors, ``[B, d]``.

        Returns
        -------
        torch.Tensor
            ``[B]`` log-probabilities (nats); they sum to 1 over all of ``{0, 1}^d``.
        """
        self._check_states(v, "v")
        if not bool(((v == 0) | (v == 1)).all()):
            raise ValueError("v must contain only 0 and 1 entries (binary vectors)")
        log_c0, log_c1 = self._log_cells()  # [N, d] each
        # log prod_j c_ij(v_j) = sum_j [v_j log c1 + (1 - v_j) log c0]
        per = v @ log_c1.T + (1 - v) @ log_c0.T  # [B, N]
        log_w = self.log_mixture_weights()
        num = torch.logsumexp(per + log_w, dim=-1)
        den = torch.logsumexp(torch.logaddexp(log_c0, log_c1).sum(-1) + log_w, dim=0)
        return num - den

    def _log_cells(self) -> tuple[torch.Tensor, torch.Tensor]:
        s = math.sqrt(self.beta)
        x = self.patterns

        def log_interval(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
            # log(Phi(hi) - Phi(lo)) computed on the side of the tail that keeps precision
            a, b = s * lo, s * hi
            flip = (a + b) > 0  # both mostly in the upper tail: use Phi(-a) - Phi(-b)
            lo_, hi_ = torch.where(flip, -b, a), torch.where(flip, -a, b)
            log_hi = torch.special.log_ndtr(hi_)
            log_lo = torch.special.log_ndtr(lo_)
            return log_hi + torch.log(-torch.expm1(log_lo - log_hi))

        return log_interval(-0.5 - x, 0.5 - x), log_interval(0.5 - x, 1.5 - x)

    # -- learning ----------------------------------------------------------------------------

    def ml_gradient(self, data: torch.Tensor) -> torch.Tensor:
        r"""Exact gradient of the mean log-likelihood with respect to the patterns (eq. (8.9)).

        .. math::

            \frac{\partial}{\partial x_i} \frac1n \sum_n \log p(\xi_n)
            = \beta\Big(\mathbb{E}_{\text{data}}[p(i \mid \xi)\,\xi] - w_i\, x_i\Big).

        The first term is the data ("clamped") phase, the second the model ("free") phase:
        :math:`\mathbb{E}_{\text{model}}[p(i\mid\xi)\xi] = w_i x_i` exactly.

        Parameters
        ----------
        data : torch.Tensor
            ``[n, d]``.

        Returns
        -------
        torch.Tensor
            ``[N, d]``, same dtype as the patterns.
        """
        self._check_states(data, "data")
        with torch.no_grad():
            r = self.index_posterior(data)  # [n, N]
            data_term = r.T @ data / data.shape[0]  # [N, d]
            w = self.log_mixture_weights().exp()
            return self.beta * (data_term - w[:, None] * self.patterns)

    def cd_gradient(
        self, data: torch.Tensor, k: int = 1, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        r"""Contrastive-divergence estimate of :meth:`ml_gradient` (eq. (8.10)).

        The model term :math:`w_i x_i = \mathbb{E}_{\text{model}}[p(i\mid\xi)\xi]` is replaced
        by its average over the states reached by ``k`` Gibbs steps started at the data.

        Parameters
        ----------
        data : torch.Tensor
            ``[n, d]``.
        k : int
            Gibbs steps (>= 1).
        generator : torch.Generator, optional
            Source of randomness.

        Returns
        -------
        torch.Tensor
            ``[N, d]``.
        """
        self._check_states(data, "data")
        k = check_int(k, "k", minimum=1)
        with torch.no_grad():
            r = self.index_posterior(data)
            data_term = r.T @ data / data.shape[0]
            neg = self.gibbs(data, k, generator).states
            rn = self.index_posterior(neg)
            model_term = rn.T @ neg / neg.shape[0]
            return self.beta * (data_term - model_term)

    def fit(
        self,
        data: torch.Tensor,
        method: str = "ml",
        epochs: int = 50,
        lr: float = 0.3,
        batch_size: int | None = None,
        k: int = 1,
        generator: torch.Generator | None = None,
        progress_bar: bool | None = None,
    ) -> dict[str, list[float]]:
        r"""Learn the stored patterns from data by gradient ascent on the log-likelihood.

        ``method="ml"`` uses the exact gradient :meth:`ml_gradient` (eq. (8.9)); ``"cd"`` uses
        :meth:`cd_gradient` with ``k`` Gibbs steps (eq. (8.10)). The step is
        ``x_i += (lr / beta) * gradient_i``; ``beta`` stays fixed. Because the mixture weights
        grow with the pattern norms, the curvature along a pattern's norm is about
        ``beta w_i (1 - w_i) |x_i|^2`` and a fixed step can overshoot. With the exact gradient
        on the full data set (``method="ml"``, no ``batch_size``) the step is therefore halved
        whenever it would lower the log-likelihood, so the log-likelihood never falls.

        Parameters
        ----------
        data : torch.Tensor
            Training data ``[n, d]``.
        method : {"ml", "cd"}
            Exact gradient or contrastive divergence.
        epochs : int
            Passes over the data.
        lr : float
            Step size (> 0), in units of ``1 / beta``.
        batch_size : int, optional
            Minibatch size (default: the whole data set each step).
        k : int
            Gibbs steps for ``"cd"``.
        generator : torch.Generator, optional
            Shuffling and CD sampling.
        progress_bar : bool, optional
            Show a progress bar (default: only in an interactive terminal or notebook).

        Returns
        -------
        dict
            ``{"epoch": [...], "log_likelihood": [...], "lr": [...]}``: the mean exact log
            density of the training data after each epoch (nats per example) and the step size
            used.
        """
        self._check_states(data, "data")
        if data.dim() != 2:
            raise ValueError(f"data must have shape [n, d], got {tuple(data.shape)}")
        check_choice(method, "method", ("ml", "cd"))
        epochs = check_int(epochs, "epochs", minimum=1)
        lr = check_positive(lr, "lr")
        k = check_int(k, "k", minimum=1)
        check_generator(generator, device=self.patterns.device)
        n = data.shape[0]
        bs = n if batch_size is None else check_int(batch_size, "batch_size", minimum=1)
        history: dict[str, list[float]] = {"epoch": [], "log_likelihood": [], "lr": []}
        disable = None if progress_bar is None else not progress_bar
        full_batch_ml = method == "ml" and bs >= n
        with torch.no_grad():
            ll_prev = self.log_density(data).mean().item()
        for epoch in progress(range(epochs), desc=f"AttentionBM.fit ({method})", disable=disable):
            if full_batch_ml:
                # exact gradient ascent with step halving: the log-likelihood never falls
                g = self.ml_gradient(data)
                while True:
                    with torch.no_grad():
                        self.patterns.add_(g, alpha=lr / self.beta)
                        ll = self.log_density(data).mean().item()
                    if ll >= ll_prev - 1e-12 or lr < 1e-12:
                        break
                    with torch.no_grad():
                        self.patterns.sub_(g, alpha=lr / self.beta)
                    lr *= 0.5
            else:
                perm = torch.randperm(n, generator=generator, device="cpu").to(data.device)
                for start in range(0, n, bs):
                    batch = data[perm[start : start + bs]]
                    if method == "ml":
                        g = self.ml_gradient(batch)
                    else:
                        g = self.cd_gradient(batch, k=k, generator=generator)
                    with torch.no_grad():
                        self.patterns.add_(g, alpha=lr / self.beta)
                with torch.no_grad():
                    ll = self.log_density(data).mean().item()
            if not math.isfinite(ll):
                raise FloatingPointError(
                    f"log-likelihood became {ll} at epoch {epoch}; lower lr (now {lr})"
                )
            ll_prev = ll
            history["epoch"].append(epoch + 1)
            history["log_likelihood"].append(ll)
            history["lr"].append(lr)
        return history

    def fit_binary(
        self,
        data: torch.Tensor,
        epochs: int = 150,
        lr: float = 0.05,
        progress_bar: bool | None = None,
    ) -> dict[str, list[float]]:
        """Maximise the exact quantised log-likelihood :meth:`log_prob_binary` of binary data.

        For binary data (digits) the continuous density is the wrong yardstick; this fits the
        patterns to the exact discrete likelihood of eq. (8.14) by full-batch Adam on its
        autograd gradient. ``beta`` stays fixed.

        Parameters
        ----------
        data : torch.Tensor
            Binary {0, 1} rows ``[n, d]``.
        epochs : int
            Adam steps (>= 1).
        lr : float
            Adam learning rate (> 0).
        progress_bar : bool, optional
            Show a progress bar (default: only in an interactive terminal or notebook).

        Returns
        -------
        dict
            ``{"epoch": [...], "log_likelihood": [...]}`` in nats per example.
        """
        self._check_states(data, "data")
        epochs = check_int(epochs, "epochs", minimum=1)
        lr = check_positive(lr, "lr")
        self.log_prob_binary(data[:1])  # validates that the data are binary
        opt = torch.optim.Adam([self.patterns], lr=lr)
        history: dict[str, list[float]] = {"epoch": [], "log_likelihood": []}
        disable = None if progress_bar is None else not progress_bar
        for epoch in progress(range(epochs), desc="AttentionBM.fit_binary", disable=disable):
            opt.zero_grad()
            loss = -self.log_prob_binary(data).mean()
            loss.backward()
            opt.step()
            history["epoch"].append(epoch + 1)
            history["log_likelihood"].append(-loss.item())
        return history


# ---------------------------------------------------------------------------------------------
# the classical precursor: Hubbard-Stratonovich
# ---------------------------------------------------------------------------------------------


def _check_hebbian_args(patterns: torch.Tensor, beta: float) -> tuple[torch.Tensor, float]:
    check_tensor(patterns, "patterns", ndim=2, floating=True)
    check_pm1(patterns, "patterns")
    return patterns, check_positive(beta, "beta")


def hopfield_log_partition(patterns: torch.Tensor, beta: float) -> torch.Tensor:
    r"""Exact :math:`\log Z` of a Hebbian Hopfield network by enumerating all ``2^d`` states.

    The network has weights :math:`W = (X X^\top - N I)/d` (Hebbian, zero diagonal; here the
    book's :math:`X` is ``patterns.T``) and energy :math:`E(s) = -\tfrac12 s^\top W s`, so

    .. math::

        Z = \sum_{s \in \{\pm1\}^d} \exp\Big(\frac{\beta}{2d}\sum_\mu (x_\mu^\top s)^2
            - \frac{\beta N}{2}\Big)

    (chapter 8, eq. (8.12)). Feasible for ``d <= 20``.

    Parameters
    ----------
    patterns : torch.Tensor
        +-1 patterns as rows, ``[N, d]``.
    beta : float
        Inverse temperature, > 0.

    Returns
    -------
    torch.Tensor
        0-dim, float64.
    """
    patterns, beta = _check_hebbian_args(patterns, beta)
    n, d = patterns.shape
    if d > 20:
        raise ValueError(f"patterns must have d <= 20 for exact enumeration, got d = {d}")
    x = patterns.to(torch.float64)
    states = enumerate_states(d, dtype=torch.float64, device=x.device) * 2 - 1  # [2^d, d]
    overlaps = states @ x.T  # [2^d, N]
    log_terms = beta / (2 * d) * (overlaps**2).sum(-1) - beta * n / 2
    return torch.logsumexp(log_terms, dim=0)


def hubbard_stratonovich_log_partition(
    patterns: torch.Tensor, beta: float, n_quadrature: int = 40
) -> torch.Tensor:
    r"""The same :math:`\log Z` computed as an RBM with Gaussian hidden units (eq. (8.13)).

    The Hubbard-Stratonovich identity
    :math:`e^{a^2/2} = \int \frac{dz}{\sqrt{2\pi}} e^{-z^2/2 + a z}` turns each squared overlap
    into a Gaussian hidden unit :math:`z_\mu` coupled linearly to the spins. Summing the spins
    out then gives

    .. math::

        Z = e^{-\beta N/2} \int \frac{d^N z}{(2\pi)^{N/2}} e^{-\lVert z\rVert^2/2}
            \prod_{j=1}^d 2\cosh\Big(\sqrt{\beta/d}\,\sum_\mu z_\mu x_{\mu j}\Big),

    an RBM whose visible units are the ``d`` spins and whose ``N`` hidden units are Gaussian
    (Barra et al. 2012). The integral is done by Gauss-Hermite quadrature on a tensor grid
    (``n_quadrature ** N`` points), exact to round-off for small ``N``.

    Parameters
    ----------
    patterns : torch.Tensor
        +-1 patterns as rows, ``[N, d]`` with ``N <= 4``.
    beta : float
        Inverse temperature, > 0.
    n_quadrature : int
        Quadrature nodes per hidden unit.

    Returns
    -------
    torch.Tensor
        0-dim, float64.
    """
    patterns, beta = _check_hebbian_args(patterns, beta)
    n, d = patterns.shape
    if n > 4:
        raise ValueError(f"patterns must have N <= 4 for the quadrature grid, got N = {n}")
    n_quadrature = check_int(n_quadrature, "n_quadrature", minimum=2)
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_quadrature)  # weight exp(-z^2/2)
    log_w1 = np.log(weights) - 0.5 * math.log(2 * math.pi)
    x = patterns.to(torch.float64).cpu()
    grid = torch.tensor(list(itertools.product(nodes, repeat=n)), dtype=torch.float64)  # [G, N]
    log_w = torch.tensor(
        [sum(c) for c in itertools.product(log_w1, repeat=n)], dtype=torch.float64
    )  # [G]
    fields = math.sqrt(beta / d) * grid @ x  # [G, d]
    log_2cosh = torch.logaddexp(fields, -fields)  # log(2 cosh f)
    total = torch.logsumexp(log_w + log_2cosh.sum(-1), dim=0) - beta * n / 2
    return total.to(patterns.device)


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------


def draw_annealing(
    beta: float = 1.0,
    n_samples: int = 600,
    steps: int = 20,
    seed: int = 0,
    ax=None,
):
    """Gibbs samples of a 2-D AttentionBM at inverse temperature ``beta`` (chapter 8 demo).

    Four stored patterns on a circle of radius 2; ``n_samples`` chains run ``steps`` Gibbs
    steps from random starts. Small ``beta``: samples spread over one broad blob (the global
    average regime); large ``beta``: they sit on the patterns (retrieval). The exact density
    is drawn as contours.

    Parameters
    ----------
    beta : float
        Inverse temperature (> 0).
    n_samples, steps : int
        Chains and Gibbs steps.
    seed : int
        Seed of the generator.
    ax : matplotlib Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    beta = check_positive(beta, "beta")
    angles = torch.tensor([0.3, 1.9, 3.4, 4.9], dtype=torch.float64)
    X = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
    bm = AttentionBM(X, beta)
    gen = torch.Generator().manual_seed(seed)
    start = 3.0 * torch.randn(n_samples, 2, generator=gen, dtype=torch.float64)
    res = bm.gibbs(start, steps=steps, generator=gen)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 4.0))
    else:
        fig = ax.figure
    g = torch.linspace(-4.5, 4.5, 121, dtype=torch.float64)
    gx, gy = torch.meshgrid(g, g, indexing="xy")
    dens = bm.log_density(torch.stack([gx.ravel(), gy.ravel()], 1)).exp().reshape(121, 121)
    ax.contour(gx.numpy(), gy.numpy(), dens.detach().numpy(), levels=6, cmap="Blues")
    s = res.states.numpy()
    ax.scatter(s[:, 0], s[:, 1], s=4, alpha=0.35, color="#d1495b", label="Gibbs samples")
    ax.scatter(X[:, 0], X[:, 1], marker="*", s=160, color="black", label="stored patterns")
    ax.set_xlim(-4.5, 4.5)
    ax.set_ylim(-4.5, 4.5)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\xi_1$")
    ax.set_ylabel(r"$\xi_2$")
    ax.set_title(rf"$\beta$ = {beta:g}", fontsize=10)
    ax.legend(loc="upper right", fontsize=7)
    return fig
