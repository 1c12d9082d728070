"""Modern Hopfield update (chapter 4): ebmlib.modern.update versus the explicit expression and SDPA.

Three comparisons, each on the same data in the same process:

* ``modern_update``: one update ``X softmax(beta X^T xi)`` of ``B = 1024`` states against
  ``N = 16384`` patterns in ``d = 64`` (float32), ``ebmlib.modern.update`` against the plain
  expression ``torch.softmax(beta * s @ X.T, -1) @ X`` (target: at least 0.95x its speed) and
  against ``F.scaled_dot_product_attention(s, X, X, scale=beta)``; on a GPU also in float16,
  where ``update`` dispatches to SDPA.
* ``modern_chunked``: the streaming path (``chunk_size``) on a large pattern set, in patterns
  per second, against the unchunked update on the same data (which must hold the whole
  ``[B, N]`` score matrix).
* ``modern_checks``: the price of the NaN scan. ``update`` with its default ``validate=True``
  against ``validate=False`` on the same data, for a few states against many patterns (where
  scanning the patterns is a visible share of the work). On a GPU the scan also waits for the
  device; ``retrieve`` pays it once, not per step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ebmlib import modern

from .harness import Row, register, sync, timeit


def _data(b: int, n: int, d: int, device, dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g) / d**0.5
    s = torch.randn(b, d, generator=g) / d**0.5
    return s.to(device, dtype), x.to(device, dtype)


@register("modern_update")
def run_update(quick: bool) -> list[Row]:
    rows = []
    b, n, d, beta = 1024, 16384, 64, 1.0
    configs = [("cpu", torch.float32)]
    if torch.cuda.is_available():
        configs += [("cuda", torch.float32), ("cuda", torch.float16)]
    repeat = 3 if quick else 7
    for device, dtype in configs:
        s, x = _data(b, n, d, device, dtype)

        def ours(s=s, x=x):
            return modern.update(s, x, beta)

        def plain(s=s, x=x):
            return torch.softmax(beta * s @ x.T, dim=-1) @ x

        def sdpa(s=s, x=x):
            return F.scaled_dot_product_attention(s, x, x, scale=beta)

        tol = 1e-4 if dtype == torch.float32 else 2e-2
        assert torch.allclose(ours().float(), plain().float(), atol=tol)
        # interleave the three so that load changes on a shared machine hit them alike
        t_ours, t_plain, t_sdpa = [], [], []
        for _ in range(repeat):
            t_ours.append(timeit(ours, repeat=1, warmup=1, device=device))
            t_plain.append(timeit(plain, repeat=1, warmup=1, device=device))
            t_sdpa.append(timeit(sdpa, repeat=1, warmup=1, device=device))
        t_o, t_p, t_s = (sorted(t)[len(t) // 2] for t in (t_ours, t_plain, t_sdpa))
        case = f"B={b}, N={n}, d={d}, {device} {str(dtype).replace('torch.', '')}"
        rows.append(Row("modern_update", case, t_o, t_p, "softmax-matmul", target=0.95))
        rows.append(Row("modern_update", case, t_o, t_s, "SDPA"))
    return rows


@register("modern_chunked")
def run_chunked(quick: bool) -> list[Row]:
    rows = []
    d, b, beta = 64, 64, 8.0
    n = 200_000 if quick else 1_000_000
    device = "cuda" if torch.cuda.is_available() else "cpu"
    s, x = _data(b, n, d, device, torch.float32, seed=1)
    chunk = 65_536

    def ours():
        return modern.update(s, x, beta, chunk_size=chunk)

    def unchunked():
        return modern.update(s, x, beta)

    assert torch.allclose(ours(), unchunked(), atol=1e-5)
    sync(device)
    t_ours = timeit(ours, repeat=3 if quick else 5, warmup=1, device=device)
    t_full = timeit(unchunked, repeat=3 if quick else 5, warmup=1, device=device)
    # throughput: stored patterns visited per second (for all B states)
    rows.append(
        Row(
            "modern_chunked",
            f"N={n}, B={b}, d={d}, chunk={chunk}, {device} float32",
            n / t_ours,
            n / t_full,
            f"unchunked ([B, N] = {b * n * 4 / 2**20:.0f} MiB of scores)",
            unit="patterns/s",
            higher_is_better=True,
        )
    )
    return rows


@register("modern_checks")
def run_checks(quick: bool) -> list[Row]:
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for b, n in ((16, 200_000), (1024, 16384)):
            s, x = _data(b, n, 64, device, torch.float32, seed=2)

            def checked(s=s, x=x):
                return modern.update(s, x, 4.0)

            def unchecked(s=s, x=x):
                return modern.update(s, x, 4.0, validate=False)

            assert torch.equal(checked(), unchecked())
            repeat = 3 if quick else 7
            t_c = timeit(checked, repeat=repeat, warmup=1, device=device, min_time=0.05)
            t_u = timeit(unchecked, repeat=repeat, warmup=1, device=device, min_time=0.05)
            rows.append(
                Row(
                    "modern_checks",
                    f"B={b}, N={n}, d=64, {device} float32",
                    t_c,
                    t_u,
                    "same call, validate=False",
                )
            )
    return rows
