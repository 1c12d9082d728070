"""RBM training and AIS: ebmlib against scikit-learn's ``BernoulliRBM`` (chapter 7).

Three comparisons, each timing both sides in the same process on the same data:

* ``rbm_pcd_throughput``: training throughput (rows per second) on one problem, 784 visible
  and 500 hidden units, batch 100, PCD-1, learning rate 0.05, one epoch over 10 000 binary
  rows, float32 on both sides (scikit-learn keeps float32 input in float32), every other
  argument at its default on both sides (ebmlib shuffles the rows and initialises the visible
  biases; neither records a training error). Both are bound by the same five matrix products
  per minibatch, so the ratio measures the work around them. The two sides run alternately
  and the median of several rounds is reported, once with each library's default threading and
  once with one thread each (which is far less sensitive to other load on a shared machine:
  numpy's multi-threaded BLAS slows down a lot when the cores are busy). On a GPU a third row
  times ebmlib on the GPU against scikit-learn on the CPU.
* ``rbm_digits_time_to_ll``: wall time to reach the exact test log-likelihood that
  ``BernoulliRBM(n_components=16)`` with its default settings reaches on the binarised 8 x 8
  digits (fixed split: 1437 training, 360 test rows), one row per scikit-learn seed. ebmlib
  trains with better initialisation (weights of standard deviation 0.3, visible biases at the
  data log-odds), momentum 0.5 and a larger learning rate; its time is the end-to-end wall time
  of the shortest ``fit`` (in whole epochs) whose exact test log-likelihood reaches the target.
* ``rbm_ais_throughput``: annealed importance sampling steps (chains x intermediate
  distributions) per second on a 784 x 500 RBM, against the same algorithm written directly in
  numpy (float64 both).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

import ebmlib
from ebmlib.rbm import RBM

from .harness import Row, register, timeit


def _binary_rows(n: int, d: int, seed: int) -> torch.Tensor:
    """``n`` binary {0, 1} rows of length ``d`` with pixel means spread over (0.05, 0.95)."""
    g = torch.Generator().manual_seed(seed)
    means = 0.05 + 0.9 * torch.rand(d, generator=g)
    return (torch.rand(n, d, generator=g) < means).float()


def _interleaved(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median wall time of each function over ``repeat`` rounds that run them in turn.

    Running the contenders alternately, rather than one block after the other, exposes them to
    the same background load, so their ratio stays meaningful on a shared machine.
    """
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


@register("rbm_pcd_throughput")
def pcd_throughput(quick: bool) -> list[Row]:
    from sklearn.neural_network import BernoulliRBM
    from threadpoolctl import threadpool_limits

    n = 2_000 if quick else 10_000
    nv, nh, bs, lr = 784, 500, 100, 0.05
    x = _binary_rows(n, nv, seed=0)
    xn = x.numpy()  # float32, kept float32 by scikit-learn

    def ours(device="cpu", x=x):
        # every argument that does not define the problem is left at its default
        rbm = RBM(nv, nh, generator=torch.Generator().manual_seed(0), device=device)
        g = torch.Generator(device=device).manual_seed(1)
        rbm.fit(x, method="pcd", k=1, epochs=1, lr=lr, batch_size=bs, generator=g)

    def peer():
        BernoulliRBM(n_components=nh, learning_rate=lr, batch_size=bs, n_iter=1,
                     random_state=0).fit(xn)  # fmt: skip

    repeat = 3 if quick else 7
    case = f"{nv}x{nh}, batch {bs}, PCD-1, {n} rows, default arguments"
    rows = []
    t = _interleaved({"ours": ours, "peer": peer}, repeat)
    rows.append(Row("rbm_pcd_throughput", case + f" (CPU, default threads, median of {repeat})",
                    n / t["ours"], n / t["peer"], "sklearn BernoulliRBM", unit="rows/s",
                    higher_is_better=True, target=1.1))  # fmt: skip
    # One thread on each side: the same work per core, much less sensitive to other load.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            t = _interleaved({"ours": ours, "peer": peer}, repeat)
    finally:
        torch.set_num_threads(threads)
    rows.append(Row("rbm_pcd_throughput", case + f" (CPU, 1 thread each, median of {repeat})",
                    n / t["ours"], n / t["peer"], "sklearn BernoulliRBM", unit="rows/s",
                    higher_is_better=True, target=1.1))  # fmt: skip
    if torch.cuda.is_available():
        xc = x.cuda()

        def ours_gpu():
            ours("cuda", xc)
            torch.cuda.synchronize()

        t = _interleaved({"ours": ours_gpu, "peer": peer}, repeat)
        rows.append(
            Row(
                "rbm_pcd_throughput",
                case + " (ebmlib on GPU vs sklearn on CPU)",
                n / t["ours"],
                n / t["peer"],
                "sklearn BernoulliRBM (CPU)",
                unit="rows/s",
                higher_is_better=True,
                target=30.0,
            )  # fmt: skip
        )
    return rows


def _digits_split() -> tuple[torch.Tensor, torch.Tensor]:
    x, _ = ebmlib.digits(binarize=True)
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    return x[perm[:1437]], x[perm[1437:]]


def _from_sklearn(sk) -> RBM:
    rbm = RBM(sk.components_.shape[1], sk.n_components, dtype=torch.float64)
    with torch.no_grad():
        rbm.W.copy_(torch.from_numpy(np.asarray(sk.components_, dtype=np.float64).T))
        rbm.b.copy_(torch.from_numpy(np.asarray(sk.intercept_visible_, dtype=np.float64)))
        rbm.c.copy_(torch.from_numpy(np.asarray(sk.intercept_hidden_, dtype=np.float64)))
    return rbm


# ebmlib's recipe for the digits (16 hidden units): initialisation, momentum, step size
_DIGITS_RECIPE = dict(method="cd", k=1, lr=1.0, batch_size=100, momentum=0.5)


def _train_ours(train: torch.Tensor, epochs: int, seed: int) -> RBM:
    rbm = RBM(64, 16, init_std=0.3, generator=torch.Generator().manual_seed(seed))
    rbm.fit(train, epochs=epochs, progress_bar=False,
            generator=torch.Generator().manual_seed(seed + 1), **_DIGITS_RECIPE)  # fmt: skip
    return rbm


@register("rbm_digits_time_to_ll")
def digits_time_to_ll(quick: bool) -> list[Row]:
    from sklearn.neural_network import BernoulliRBM

    train, test = _digits_split()
    train_np = train.double().numpy()  # scikit-learn's default float64 path
    rows = []
    seeds = [0] if quick else [0, 1, 2]
    repeat = 3 if quick else 5
    for seed in seeds:
        sk = BernoulliRBM(n_components=16, random_state=seed).fit(train_np)
        target = float(_from_sklearn(sk).log_likelihood(test))
        t_peer = timeit(
            lambda seed=seed: BernoulliRBM(n_components=16, random_state=seed).fit(train_np),
            repeat=repeat,
        )
        # the fewest whole epochs with which ebmlib's run reaches the target
        epochs, reached = None, None
        for e in range(1, 21):
            ll = float(_train_ours(train, e, seed).log_likelihood(test))
            if ll >= target:
                epochs, reached = e, ll
                break
        if epochs is None:
            raise RuntimeError(f"ebmlib did not reach {target:.3f} in 20 epochs (seed {seed})")
        t_ours = timeit(lambda e=epochs, seed=seed: _train_ours(train, e, seed), repeat=repeat)
        case = (
            f"digits 64x16, sklearn seed {seed}: target LL {target:.2f}; "
            f"ebmlib {epochs} epoch(s) -> {reached:.2f}"
        )
        rows.append(
            Row(
                "rbm_digits_time_to_ll",
                case,
                t_ours,
                t_peer,
                "sklearn BernoulliRBM defaults",
                unit="s",
                target=3.0,
            )  # fmt: skip
        )
    return rows


def _numpy_ais(W, b, c, n_chains, betas, rng):
    """Reference AIS in numpy (the same algorithm as ``RBM.ais_log_weights``, zero base)."""
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    nv = W.shape[0]
    v = (rng.random((n_chains, nv)) < 0.5).astype(np.float64)
    log_w = np.zeros(n_chains)
    a = v @ W + c
    vb = v @ b
    prev = 0.0
    for beta in betas[1:]:
        log_w += (beta - prev) * vb + (np.logaddexp(0, beta * a) - np.logaddexp(0, prev * a)).sum(1)
        h = (rng.random(a.shape) < sig(beta * a)).astype(np.float64)
        v = (rng.random((n_chains, nv)) < sig(beta * (h @ W.T + b))).astype(np.float64)
        a = v @ W + c
        vb = v @ b
        prev = beta
    return log_w


@register("rbm_ais_throughput")
def ais_throughput(quick: bool) -> list[Row]:
    nv, nh, chains = 784, 500, 100
    n_betas = 30 if quick else 100
    rbm = RBM(nv, nh, init_std=0.05, generator=torch.Generator().manual_seed(0),
              dtype=torch.float64)  # fmt: skip
    W = rbm.W.detach().numpy()
    b = rbm.b.detach().numpy()
    c = rbm.c.detach().numpy()
    betas = np.linspace(0.0, 1.0, n_betas)

    def ours(rbm=rbm, device="cpu"):
        g = torch.Generator(device=device).manual_seed(0)
        rbm.log_partition_ais(chains, n_betas, generator=g)

    def peer():
        _numpy_ais(W, b, c, chains, betas, np.random.default_rng(0))

    repeat = 3
    t_ours = timeit(ours, repeat=repeat)
    t_peer = timeit(peer, repeat=repeat)
    steps = chains * (n_betas - 1)
    case = f"{nv}x{nh}, {chains} chains x {n_betas} betas, float64"
    rows = [
        Row(
            "rbm_ais_throughput",
            case + " (CPU)",
            steps / t_ours,
            steps / t_peer,
            "numpy reference",
            unit="chain-steps/s",
            higher_is_better=True,
        ),  # fmt: skip
    ]
    if torch.cuda.is_available():
        gpu = RBM(nv, nh, dtype=torch.float64, device="cuda")
        gpu.load_state_dict(rbm.state_dict())
        t_gpu = timeit(lambda: ours(gpu, "cuda"), repeat=repeat, device="cuda")
        rows.append(
            Row(
                "rbm_ais_throughput",
                case + " (ebmlib on GPU vs numpy on CPU)",
                steps / t_gpu,
                steps / t_peer,
                "numpy reference (CPU)",
                unit="chain-steps/s",
                higher_is_better=True,
            )  # fmt: skip
        )
    return rows
