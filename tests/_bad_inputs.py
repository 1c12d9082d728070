"""Machinery of the bad-input suite (``tests/test_bad_inputs_*.py``).

Every public function, method and constructor of ``ebmlib`` is described once by a :class:`Spec`:
how to call it with good input (``args``, and ``obj`` for a method) and, where a result comes
back, an independent check of it (``ref``). From the good call the suite derives the bad ones
argument by argument, in families:

========== ===================================================================================
family     what the argument becomes, and what must happen
========== ===================================================================================
nan, inf   one entry of a float tensor / array, or a float scalar, set to NaN / +-inf:
           a ``ValueError`` naming the argument (never a NaN result)
empty      a zero-size tensor (leading or trailing axis): a named error or a finite result
numpy      the tensor as a numpy array: a named ``TypeError`` or the same result as the tensor
noncontig  the same values in a non-contiguous tensor: the same result
ndim       one dimension more or fewer, or a 0-d tensor: a named error or a finite result
shape      one more row / column: a named error or a finite result
dtype      integer / bool / half / complex version: a named error or a finite (for exact
           integer values, the same) result; complex is refused
device     the tensor on a second device (``meta`` on a CPU-only machine) while the others stay:
           a named error
mixdtype   float32 <-> float64 while the other floating arguments stay: ``TypeError`` naming
           both (the policy); a lone floating argument may follow its own dtype
domain     a value outside {-1, +1} or {0, 1} in a discrete argument: a named ``ValueError``
wrongtype  a string, a list or a tensor where a number is expected: a named error (a list
           may instead give the same result)
int        0, -1 and 10**6 for an integer argument: a named error or a finite result
positive   0 and -1 for a parameter that must be > 0 (beta, T, lr, ...): a named ``ValueError``
extreme    beta / T at 1e-3 and 1e3: a finite result that passes the spec's reference check
choice     an unknown string option: a named ``ValueError``
generator  a non-generator as ``generator``: a named ``TypeError``
========== ===================================================================================

After any refused call, the object the method was called on must be unchanged (no corrupted
state); after any accepted call its parameters must be finite.

A "named" error is a ``ValueError`` or ``TypeError`` whose message contains the argument's name
as a word. Any other exception (``RuntimeError`` from deep inside torch, ``IndexError``,
``KeyError``, ``ZeroDivisionError``, ...) fails the test: the user cannot tell which argument
was wrong.

Random functions are called with ``torch.manual_seed(0)`` set and with fresh generators, so two
calls that should agree (non-contiguous vs contiguous input, numpy vs tensor) can be compared.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import os
import re
import signal
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

# ------------------------------------------------------------------------------------ helpers

SECOND_DEVICE = "cuda" if torch.cuda.is_available() else "meta"

NAMED = "named"  # must raise a ValueError/TypeError naming the argument(s)
NAMED_OR_FINITE = "named_or_finite"
NAMED_OR_EQUAL = "named_or_equal"  # named error, or the same result as the good call
EQUAL = "equal"  # must succeed with the same result as the good call
FINITE = "finite"  # must succeed with a finite result (and pass ``ref``)

#: Names of float parameters that must be strictly positive.
POSITIVE = {
    "beta",
    "T",
    "lr",
    "step_size",
    "sigma",
    "T_start",
    "T_end",
    "T0",
    "temperature",
    "radius_positive",
    "signal_shift_positive",
    "panel_size",
}
#: The large integer tried for every integer argument (an index out of range, a size larger
#: than the data); a spec can choose another per argument (``big``).
BIG_INT = 1000
#: Seconds one call may take before the suite calls it a hang.
CALL_LIMIT_S = 20

#: String parameters that hold free text (any string is valid), not one of a set of options.
FREE_TEXT = {
    "text",
    "letters",
    "desc",
    "html",
    "old",
    "new",
    "since",
    "suptitle",
    "title",
    "name",
    "cmap",
    "env_id",
    "agent",
    "path",
    "note",
    "what",  # a name for error messages
}

#: Names of float parameters tried at 1e-3 and 1e3.
EXTREME = {"beta", "T"}


def gen(seed: int = 0) -> torch.Generator:
    """A fresh CPU generator."""
    return torch.Generator().manual_seed(seed)


def pm1(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Random +-1 tensor."""
    g = gen(seed)
    return (torch.randint(0, 2, shape, generator=g) * 2 - 1).to(dtype)


def bits(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Random 0/1 tensor."""
    return torch.randint(0, 2, shape, generator=gen(seed)).to(dtype)


def normal(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Standard normal tensor."""
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def simplex(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Rows that sum to one (strictly positive entries)."""
    x = torch.rand(*shape, generator=gen(seed), dtype=dtype) + 0.1
    return x / x.sum(-1, keepdim=True)


# ----------------------------------------------------------------------------------- the spec


@dataclasses.dataclass
class Spec:
    """How to call one public callable with good input, and what its result must satisfy.

    ``name`` is the public dotted name (``"ebmlib.modern.update"`` or
    ``"ebmlib.rbm.RBM.free_energy"``); ``obj`` builds the instance a method is called on (None for
    functions, constructors and static/class methods, which are looked up on the class).
    """

    name: str
    args: Callable[[], dict[str, Any]] = dict
    obj: Callable[[], Any] | None = None
    ref: Callable[[dict[str, Any], Any], None] | None = None
    positive: Iterable[str] = ()
    extreme: Iterable[str] | None = None
    discrete: Iterable[str] = ()
    fixed: Iterable[str] = ()
    skip: dict[str, str] = dataclasses.field(default_factory=dict)
    xfail: dict[str, str] = dataclasses.field(default_factory=dict)
    allow_inf: bool = False
    allow_nan: bool = False
    ignore: Iterable[str] = ("time", "seconds", "elapsed")
    rtol: float = 1e-5
    big: dict[str, int] = dataclasses.field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    inf_signs: dict[str, tuple[float, ...]] = dataclasses.field(default_factory=dict)
    scalar_like: Iterable[str] = ()  # tensors of numbers (temperatures), exempt from mixdtype
    real_ok: Iterable[str] = ()  # integer arguments that also accept real numbers (a time t)
    drawn_exclude: Iterable[str] = ()  # families a finding's own strict xfail test covers
    complex_ok: bool = False  # a pass-through (slicing) function may return complex input
    key: str | None = None  # distinguishes two specs of one callable
    call: Callable[..., Any] | None = None  # custom call(fn, obj, kwargs)

    def __post_init__(self) -> None:
        self.positive = set(self.positive)
        self.discrete = set(self.discrete)
        self.fixed = set(self.fixed) | {"ax", "axes", "progress_bar"}
        self.ignore = set(self.ignore)
        self.scalar_like = set(self.scalar_like)
        self.real_ok = set(self.real_ok)

    @property
    def id(self) -> str:
        short = self.name.removeprefix("ebmlib.")
        return f"{short}[{self.key}]" if self.key else short

    def target(self, obj: Any) -> Callable[..., Any]:
        """The callable itself (bound to ``obj`` for methods)."""
        parts = self.name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                mod = importlib.import_module(".".join(parts[:i]))
            except ModuleNotFoundError:
                continue
            rest = parts[i:]
            break
        if obj is not None:
            return getattr(obj, rest[-1])
        out: Any = mod
        for p in rest:
            out = getattr(out, p)
        return out

    def positive_args(self, kwargs: dict[str, Any]) -> set[str]:
        auto = {k for k, v in kwargs.items() if k in POSITIVE and _is_float(v)}
        return (auto | set(self.positive)) - set(self.fixed)

    def extreme_args(self, kwargs: dict[str, Any]) -> set[str]:
        if self.extreme is not None:
            return set(self.extreme)
        return {k for k, v in kwargs.items() if k in EXTREME and _is_float(v)} - set(self.fixed)


@dataclasses.dataclass
class Variant:
    family: str
    arg: str
    label: str
    kwargs: dict[str, Any]
    expect: str
    names: tuple[str, ...] = ()  # names the message must contain (default: arg)
    any_of: tuple[str, ...] = ()  # or: naming one of these is enough (a mismatch of two)
    ref: bool = False  # also apply the spec's reference check


def _is_float(v: Any) -> bool:
    return isinstance(v, float) or (isinstance(v, (np.floating,)))


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


# ---------------------------------------------------------------------------- picking details


class First:
    """Deterministic picker: the canonical variant of every family."""

    def choice(self, seq: list[Any]) -> Any:
        return seq[0]

    def integer(self, lo: int, hi: int) -> int:
        return lo


class Last(First):
    """Deterministic picker: the other end of every choice (second axis, -inf, last entry)."""

    def choice(self, seq: list[Any]) -> Any:
        return seq[-1]

    def integer(self, lo: int, hi: int) -> int:
        return hi


class Drawn:
    """Picker driven by hypothesis."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self.data = data
        self.st = st

    def choice(self, seq: list[Any]) -> Any:
        return self.data.draw(self.st.sampled_from(seq))

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(self.st.integers(lo, hi))


# ----------------------------------------------------------------------------------- families


def _replace(kwargs: dict[str, Any], arg: str, value: Any) -> dict[str, Any]:
    out = dict(kwargs)
    out[arg] = value
    return out


def _set_entry(x: Any, pick: Any, value: float) -> Any:
    if isinstance(x, np.ndarray):
        y = np.array(x, dtype=np.float64 if x.dtype.kind != "f" else x.dtype, copy=True)
        if y.size == 0:
            return None
        y.reshape(-1)[pick.integer(0, y.size - 1)] = value
        return y
    y = x.clone()
    if y.numel() == 0:
        return None
    y.view(-1)[pick.integer(0, y.numel() - 1)] = value
    return y


def _floating(x: Any) -> bool:
    return (isinstance(x, torch.Tensor) and x.is_floating_point()) or (
        isinstance(x, np.ndarray) and x.dtype.kind == "f"
    )


def _discrete_values(x: torch.Tensor) -> bool:
    if x.numel() == 0:
        return False
    v = x.detach().double()
    return bool(((v == 1) | (v == -1)).all()) or bool(((v == 0) | (v == 1)).all())


def _others_have_tensors(spec: Spec, obj_factory_present: bool, kwargs: dict, arg: str) -> bool:
    return obj_factory_present or any(
        isinstance(v, torch.Tensor) for k, v in kwargs.items() if k != arg
    )


def fam_nan(spec, kwargs, arg, pick):
    x = kwargs[arg]
    out = []
    if _floating(x):
        y = _set_entry(x, pick, math.nan)
        if y is not None:
            out.append(Variant("nan", arg, "one NaN entry", _replace(kwargs, arg, y), NAMED))
    elif _is_float(x):
        out.append(Variant("nan", arg, "NaN", _replace(kwargs, arg, math.nan), NAMED))
    return out


def fam_inf(spec, kwargs, arg, pick):
    x = kwargs[arg]
    out = []
    sign = pick.choice(list(spec.inf_signs.get(arg, (1.0, -1.0))))
    if _floating(x):
        y = _set_entry(x, pick, sign * math.inf)
        if y is not None:
            out.append(
                Variant("inf", arg, f"one {sign * math.inf} entry", _replace(kwargs, arg, y), NAMED)
            )
    elif _is_float(x):
        out.append(
            Variant("inf", arg, f"{sign * math.inf}", _replace(kwargs, arg, sign * math.inf), NAMED)
        )
    return out


def fam_empty(spec, kwargs, arg, pick):
    x = kwargs[arg]
    out = []
    if isinstance(x, torch.Tensor) and x.dim() >= 1:
        axes = [0] if x.dim() == 1 else [0, x.dim() - 1]
        axis = pick.choice(axes)
        idx = [slice(None)] * x.dim()
        idx[axis] = slice(0, 0)
        out.append(
            Variant(
                "empty",
                arg,
                f"size 0 on axis {axis}",
                _replace(kwargs, arg, x[tuple(idx)]),
                NAMED_OR_FINITE,
            )
        )
    elif isinstance(x, np.ndarray) and x.ndim >= 1:
        out.append(Variant("empty", arg, "size 0", _replace(kwargs, arg, x[:0]), NAMED_OR_FINITE))
    return out


def fam_numpy(spec, kwargs, arg, pick):
    x = kwargs[arg]
    if isinstance(x, torch.Tensor) and not x.requires_grad:
        return [
            Variant("numpy", arg, "numpy array", _replace(kwargs, arg, x.numpy()), NAMED_OR_EQUAL)
        ]
    if isinstance(x, np.ndarray):
        return [
            Variant(
                "numpy",
                arg,
                "torch tensor instead of numpy",
                _replace(kwargs, arg, torch.from_numpy(x.copy())),
                NAMED_OR_EQUAL,
            )
        ]
    return []


def fam_noncontig(spec, kwargs, arg, pick):
    x = kwargs[arg]
    if not isinstance(x, torch.Tensor) or x.numel() < 2:
        return []
    how = pick.choice(["strided", "transposed"] if x.dim() >= 2 else ["strided"])
    if how == "strided":
        y = torch.stack([x, torch.zeros_like(x)], dim=-1)[..., 0]
    else:
        y = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert not y.is_contiguous() and torch.equal(y, x)
    return [Variant("noncontig", arg, how, _replace(kwargs, arg, y), EQUAL)]


def fam_ndim(spec, kwargs, arg, pick):
    x = kwargs[arg]
    if not isinstance(x, torch.Tensor):
        return []
    options = [
        ("extra leading dim", lambda t: t.unsqueeze(0).expand(2, *t.shape).clone()),
        ("extra trailing dim", lambda t: t.unsqueeze(-1)),
    ]
    if x.dim() >= 1 and x.numel() >= 1:
        options.append(("one dim fewer", lambda t: t[0].clone()))
        options.append(("0-d", lambda t: t.reshape(-1)[0].clone()))
    out = []
    if isinstance(pick, First):
        chosen = options
    else:
        chosen = [pick.choice(options)]
    for label, f in chosen:
        out.append(Variant("ndim", arg, label, _replace(kwargs, arg, f(x)), NAMED_OR_FINITE))
    return out


def fam_shape(spec, kwargs, arg, pick):
    x = kwargs[arg]
    if not isinstance(x, (torch.Tensor, np.ndarray)) or x.ndim < 1:
        return []
    if (x.numel() if isinstance(x, torch.Tensor) else x.size) == 0:
        return []
    if isinstance(x, torch.Tensor) and x.requires_grad:
        return []
    axes = [x.ndim - 1] if x.ndim == 1 else [x.ndim - 1, 0]
    axis = pick.choice(axes)
    extra = pick.integer(1, 3)
    if isinstance(x, np.ndarray):
        y = np.concatenate([x] + [np.take(x, [0], axis=axis)] * extra, axis=axis)
    else:
        y = torch.cat([x] + [x.narrow(axis, 0, 1)] * extra, dim=axis)
    return [
        Variant(
            "shape",
            arg,
            f"{extra} more along axis {axis}",
            _replace(kwargs, arg, y),
            NAMED_OR_FINITE,
        )
    ]


def fam_dtype(spec, kwargs, arg, pick):
    x = kwargs[arg]
    if not isinstance(x, torch.Tensor) or x.numel() == 0 or x.requires_grad:
        return []
    out = []
    exact_int = bool((x.double() == x.double().round()).all()) if x.is_floating_point() else True
    if x.is_floating_point():
        expect = NAMED_OR_EQUAL if exact_int else NAMED_OR_FINITE
        dt = pick.choice([torch.int64, torch.int8, torch.int32])
        out.append(Variant("dtype", arg, f"{dt}", _replace(kwargs, arg, x.round().to(dt)), expect))
        if exact_int and bool(((x == 0) | (x == 1)).all()):
            out.append(
                Variant("dtype", arg, "bool", _replace(kwargs, arg, x.bool()), NAMED_OR_EQUAL)
            )
        out.append(
            Variant("dtype", arg, "float16", _replace(kwargs, arg, x.half()), NAMED_OR_FINITE)
        )
        out.append(
            Variant(
                "dtype",
                arg,
                "complex",
                _replace(kwargs, arg, x.to(torch.complex128)),
                NAMED_OR_FINITE if spec.complex_ok else NAMED,
            )
        )
    elif x.dtype != torch.bool:
        out.append(
            Variant(
                "dtype",
                arg,
                "float64 version of an integer tensor",
                _replace(kwargs, arg, x.double()),
                NAMED_OR_EQUAL,
            )
        )
        out.append(
            Variant("dtype", arg, "complex", _replace(kwargs, arg, x.to(torch.complex64)), NAMED)
        )
    if isinstance(pick, First):
        return out
    return [pick.choice(out)] if out else []


def fam_device(spec, kwargs, arg, pick):
    x = kwargs[arg]
    if not isinstance(x, torch.Tensor):
        return []
    if not _others_have_tensors(spec, spec.obj is not None, kwargs, arg):
        return []
    return [
        Variant(
            "device",
            arg,
            f"on {SECOND_DEVICE}",
            _replace(kwargs, arg, x.detach().to(SECOND_DEVICE)),
            NAMED,
        )
    ]


def fam_mixdtype(spec, kwargs, arg, pick):
    # 0-d tensors stand for numbers (a log Z, a temperature), not data: they may differ
    x = kwargs[arg]
    if (
        not isinstance(x, torch.Tensor)
        or not x.is_floating_point()
        or x.requires_grad
        or x.dim() == 0
        or arg in spec.scalar_like
    ):
        return []
    other = torch.float32 if x.dtype == torch.float64 else torch.float64
    y = x.to(other)
    partners = tuple(
        k
        for k, v in kwargs.items()
        if k != arg
        and isinstance(v, torch.Tensor)
        and v.is_floating_point()
        and v.dim() > 0
        and k not in spec.scalar_like
    )
    if partners:
        return [
            Variant(
                "mixdtype",
                arg,
                f"{other} against {partners}",
                _replace(kwargs, arg, y),
                NAMED,
                names=(arg, *partners),
            )
        ]
    return [Variant("mixdtype", arg, f"{other}", _replace(kwargs, arg, y), NAMED_OR_FINITE)]


def fam_domain(spec, kwargs, arg, pick):
    x = kwargs[arg]
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.requires_grad:
        return []
    if arg not in spec.discrete and not _discrete_values(x):
        return []
    value = pick.choice([0.5, 2.0, -3.0])
    y = _set_entry(x, pick, value)
    if y is None:
        return []
    expect = NAMED if arg in spec.discrete else NAMED_OR_FINITE
    return [Variant("domain", arg, f"an entry {value}", _replace(kwargs, arg, y), expect)]


def fam_wrongtype(spec, kwargs, arg, pick):
    x = kwargs[arg]
    out = []
    if isinstance(x, torch.Tensor):
        out.append(Variant("wrongtype", arg, "a string", _replace(kwargs, arg, "spam"), NAMED))
        if not x.requires_grad and x.numel() < 500:
            out.append(
                Variant(
                    "wrongtype", arg, "a list", _replace(kwargs, arg, x.tolist()), NAMED_OR_EQUAL
                )
            )
    elif _is_float(x) or _is_int(x):
        out.append(Variant("wrongtype", arg, "a string", _replace(kwargs, arg, "1"), NAMED))
        out.append(
            Variant(
                "wrongtype",
                arg,
                "a 2-element tensor",
                _replace(kwargs, arg, torch.tensor([1.0, 2.0])),
                NAMED_OR_FINITE,
            )
        )
        if _is_int(x):
            out.append(
                Variant(
                    "wrongtype",
                    arg,
                    "a float",
                    _replace(kwargs, arg, float(x) + 0.5),
                    NAMED_OR_FINITE if arg in spec.real_ok else NAMED,
                )
            )
    elif callable(x) and not isinstance(x, (torch.Tensor, np.ndarray, type)):
        out.append(
            Variant(
                "wrongtype",
                arg,
                "a number instead of a callable/model",
                _replace(kwargs, arg, 42),
                NAMED,
            )
        )
    elif isinstance(x, torch.dtype):
        out.append(
            Variant(
                "wrongtype", arg, "a complex dtype", _replace(kwargs, arg, torch.complex64), NAMED
            )
        )
        out.append(
            Variant(
                "wrongtype",
                arg,
                "an integer dtype",
                _replace(kwargs, arg, torch.int64),
                NAMED_OR_FINITE,
            )
        )
        out.append(Variant("wrongtype", arg, "a string", _replace(kwargs, arg, "spam"), NAMED))
    if isinstance(pick, First) or not out:
        return out
    return [pick.choice(out)]


def fam_int(spec, kwargs, arg, pick):
    x = kwargs[arg]
    if not _is_int(x):
        return []
    big = spec.big.get(arg, BIG_INT)
    values = [0, -1, big] if isinstance(pick, First) else [pick.choice([0, -1, -7, big])]
    return [Variant("int", arg, f"{v}", _replace(kwargs, arg, v), NAMED_OR_FINITE) for v in values]


def fam_positive(spec, kwargs, arg, pick):
    if arg not in spec.positive_args(kwargs):
        return []
    values = [0.0, -1.0] if isinstance(pick, First) else [pick.choice([0.0, -0.0, -1.0, -1e-12])]
    return [Variant("positive", arg, f"{v}", _replace(kwargs, arg, v), NAMED) for v in values]


def fam_extreme(spec, kwargs, arg, pick):
    if arg not in spec.extreme_args(kwargs):
        return []
    if isinstance(pick, First):
        values = [1e-3, 1e3]
    else:
        values = [pick.choice([1e-3, 1e3, 3e-3, 3e2, 0.02, 50.0])]
    return [
        Variant("extreme", arg, f"{v:g}", _replace(kwargs, arg, v), FINITE, ref=True)
        for v in values
    ]


def fam_choice(spec, kwargs, arg, pick):
    x = kwargs[arg]
    if not isinstance(x, str):
        return []
    bad = "no-such-option"
    if arg == "path" or arg.endswith("_path"):
        # a file name beside the good one (a temporary directory): a writing function must not
        # create the file in the current directory
        bad = str(Path(x).with_name(bad))
    return [
        Variant(
            "choice",
            arg,
            "unknown option",
            _replace(kwargs, arg, bad),
            NAMED_OR_FINITE if arg in FREE_TEXT else NAMED,
        )
    ]


def fam_generator(spec, kwargs, arg, pick):
    if arg != "generator":
        return []
    bad = pick.choice([42, "seed", np.random.default_rng(0)])
    return [Variant("generator", arg, f"{type(bad).__name__}", _replace(kwargs, arg, bad), NAMED)]


FAMILIES: dict[str, Callable[..., list[Variant]]] = {
    "nan": fam_nan,
    "inf": fam_inf,
    "empty": fam_empty,
    "numpy": fam_numpy,
    "noncontig": fam_noncontig,
    "ndim": fam_ndim,
    "shape": fam_shape,
    "dtype": fam_dtype,
    "device": fam_device,
    "mixdtype": fam_mixdtype,
    "domain": fam_domain,
    "wrongtype": fam_wrongtype,
    "int": fam_int,
    "positive": fam_positive,
    "extreme": fam_extreme,
    "choice": fam_choice,
    "generator": fam_generator,
}


def variants(spec: Spec, family: str, pick: Any) -> list[Variant]:
    """The variants of one family for every argument; with the deterministic picker, those of
    both ends of every choice (both axes, both signs of inf, first and last entry)."""
    if isinstance(pick, First) and not isinstance(pick, Last):
        seen, out = set(), []
        for v in _variants(spec, family, First()) + _variants(spec, family, Last()):
            if (v.arg, v.label) not in seen:
                seen.add((v.arg, v.label))
                out.append(v)
        return out
    return _variants(spec, family, pick)


def _variants(spec: Spec, family: str, pick: Any) -> list[Variant]:
    kwargs = spec.args()
    out = []
    for arg in kwargs:
        if arg in spec.fixed:
            continue
        if arg == "generator" and family != "generator":
            continue
        found = FAMILIES[family](spec, kwargs, arg, pick)
        if family in MISMATCH_FAMILIES:
            # a shape that no longer matches another argument: naming either one is fair
            partners = tuple(
                k
                for k, x in kwargs.items()
                if isinstance(x, (torch.Tensor, np.ndarray, list, tuple))
            )
            found = [dataclasses.replace(v, any_of=partners) for v in found]
        out.extend(found)
    return out


MISMATCH_FAMILIES = {"empty", "ndim", "shape"}


def families_of(spec: Spec) -> list[str]:
    """The families with at least one variant for this spec (on its good input)."""
    fams = [f for f in FAMILIES if f not in spec.skip and variants(spec, f, First())]
    return ["valid", *fams]


# ------------------------------------------------------------------------------------ oracle


def _walk(x: Any, path: str, seen: set[int]) -> Iterable[tuple[str, Any]]:
    if id(x) in seen:
        return
    if isinstance(x, (torch.Tensor, np.ndarray, float, int, bool, str, np.generic)) or x is None:
        yield path, x
        return
    seen.add(id(x))
    if isinstance(x, torch.nn.Module):
        for k, v in x.state_dict().items():
            yield f"{path}.{k}", v
        return
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            yield from _walk(getattr(x, f.name), f"{path}.{f.name}", seen)
        return
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _walk(v, f"{path}[{k!r}]", seen)
        return
    if isinstance(x, (list, tuple)):
        if len(x) > 2000:
            return
        for i, v in enumerate(x):
            yield from _walk(v, f"{path}[{i}]", seen)
        return
    if isinstance(x, (set, frozenset)):
        yield path, tuple(sorted(map(repr, x)))
        return


def leaves(x: Any, ignore: set[str] = frozenset()) -> list[tuple[str, Any]]:
    out = []
    for path, v in _walk(x, "result", set()):
        if any(re.search(rf"\b{re.escape(k)}\b", path) for k in ignore):
            continue
        out.append((path, v))
    return out


def assert_finite(x: Any, spec: Spec, what: str = "result") -> None:
    for path, v in leaves(x, spec.ignore):
        if isinstance(v, torch.Tensor):
            if v.is_floating_point() or v.is_complex():
                if v.device.type == "meta":
                    continue
                bad = ~torch.isfinite(v)
                if spec.allow_inf:
                    bad = torch.isnan(v)
                if spec.allow_nan:
                    continue
                assert not bool(bad.any()), f"{what} {path} holds non-finite values: {v}"
        elif isinstance(v, np.ndarray) and v.dtype.kind in "fc":
            bad = ~np.isfinite(v) if not spec.allow_inf else np.isnan(v)
            assert spec.allow_nan or not bad.any(), f"{what} {path} holds non-finite values: {v}"
        elif isinstance(v, (float, np.floating)):
            ok = math.isfinite(v) or (spec.allow_inf and not math.isnan(v)) or spec.allow_nan
            assert ok, f"{what} {path} is {v}"


def assert_same(a: Any, b: Any, spec: Spec) -> None:
    la, lb = leaves(a, spec.ignore), leaves(b, spec.ignore)
    assert [p for p, _ in la] == [p for p, _ in lb], "results have different structure"
    for (path, x), (_, y) in zip(la, lb, strict=True):
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(np.ascontiguousarray(x))
        if isinstance(y, np.ndarray):
            y = torch.from_numpy(np.ascontiguousarray(y))
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            x = torch.as_tensor(x)
            y = torch.as_tensor(y)
            assert x.shape == y.shape, f"{path}: shape {tuple(x.shape)} != {tuple(y.shape)}"
            if x.is_floating_point() or y.is_floating_point():
                x, y = x.double(), y.double()
                assert torch.allclose(x, y, rtol=spec.rtol, atol=1e-6, equal_nan=True), (
                    f"{path} differs from the good call's result: {x} vs {y}"
                )
            else:
                assert torch.equal(x.long(), y.long()), f"{path} differs: {x} vs {y}"
        elif isinstance(x, (float, np.floating)) or isinstance(y, (float, np.floating)):
            assert math.isclose(float(x), float(y), rel_tol=spec.rtol, abs_tol=1e-6) or (
                math.isnan(float(x)) and math.isnan(float(y))
            ), f"{path}: {x} != {y}"
        else:
            assert x == y, f"{path}: {x!r} != {y!r}"


def snapshot(obj: Any) -> list[tuple[str, Any]]:
    """A copy of the numbers an object holds (tensors, arrays, scalars, sub-modules)."""
    if obj is None:
        return []
    out = []
    if isinstance(obj, torch.nn.Module):
        for k, v in obj.state_dict().items():
            out.append((k, v.detach().clone() if isinstance(v, torch.Tensor) else v))
    for k, v in sorted(getattr(obj, "__dict__", {}).items()):
        if isinstance(v, torch.Tensor):
            out.append((k, v.detach().clone()))
        elif isinstance(v, np.ndarray):
            out.append((k, v.copy()))
        elif isinstance(v, (int, float, bool, str, type(None), tuple)):
            out.append((k, v))
        elif isinstance(v, torch.nn.Module) and k not in ("_modules",):
            out.extend((f"{k}.{kk}", vv.detach().clone()) for kk, vv in v.state_dict().items())
    return out


def assert_unchanged(before: list, after: list, name: str) -> None:
    assert [k for k, _ in before] == [k for k, _ in after], f"{name}: attributes changed"
    for (k, x), (_, y) in zip(before, after, strict=True):
        if isinstance(x, torch.Tensor):
            same = (
                x.shape == y.shape
                and x.dtype == y.dtype
                and (x.device.type == "meta" or torch.equal(x.nan_to_num(), y.nan_to_num()))
            )
        elif isinstance(x, np.ndarray):
            same = x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
        elif isinstance(x, float) and math.isnan(x):
            same = isinstance(y, float) and math.isnan(y)
        else:
            try:
                same = bool(x == y)
            except Exception:
                same = True
        assert same, f"refused call changed the object's state ({k}: {x!r} -> {y!r})"


def mentions(message: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


class Inconclusive(Exception):
    """A variant that the CPU-only stand-in for a second device cannot decide."""


#: Errors that only the ``meta`` stand-in raises (it holds no values): a value check that ran
#: before the device check. On a real second device the value check would pass and the device
#: check would speak, so these variants are inconclusive here, not failures.
META_ONLY = (
    "cannot be called on meta tensors",
    "Cannot copy out of meta tensor",
    "meta tensors do not",
    "on meta tensors",
)


class CallTooSlow(BaseException):
    """Raised by the alarm when one call runs past ``CALL_LIMIT_S``."""


def _alarm(signum: int, frame: Any) -> None:
    raise CallTooSlow(f"the call ran longer than {CALL_LIMIT_S} s")


class Call:
    """The outcome of one call: a result or an exception, and the object's state."""

    def __init__(self, spec: Spec, kwargs: dict[str, Any]):
        torch.manual_seed(1234)
        self.obj = spec.obj() if spec.obj is not None else None
        self.before = snapshot(self.obj)
        fn = spec.target(self.obj)
        torch.manual_seed(0)
        self.error: BaseException | None = None
        self.result: Any = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            old = signal.signal(signal.SIGALRM, _alarm)
            signal.alarm(CALL_LIMIT_S)
            try:
                if spec.call is not None:
                    self.result = spec.call(fn, self.obj, kwargs)
                else:
                    self.result = fn(**kwargs)
            except Exception as err:  # noqa: BLE001 - the point is to classify it
                self.error = err
            except CallTooSlow as err:
                self.error = AssertionError(f"{spec.id}: {err} (a hang on bad input?)")
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, old)
        self.after = snapshot(self.obj)


_BASELINES: dict[str, Call] = {}


def baseline(spec: Spec) -> Call:
    key = spec.id
    if key not in _BASELINES:
        _BASELINES[key] = Call(spec, spec.args())
    return _BASELINES[key]


def check_valid(spec: Spec) -> None:
    """The good call succeeds, gives a finite result and passes the reference check."""
    kwargs = spec.args()
    if spec.call is None:  # the good arguments fit the signature (no stale spec)
        inspect.signature(spec.target(spec.obj() if spec.obj else None)).bind(**kwargs)
    c = baseline(spec)
    if c.error is not None:
        raise AssertionError(f"the good call failed: {c.error!r}") from c.error
    assert_finite(c.result, spec)
    assert_finite(c.after, spec, "object state")
    if spec.ref is not None:
        apply_ref(spec, kwargs, c)


def check_variant(spec: Spec, v: Variant) -> None:
    """Run one bad call and apply the family's rule."""
    where = f"{spec.id}({v.arg}: {v.family}, {v.label})"
    # fresh good arguments (models and generators in them are stateful), one of them bad
    kwargs = spec.args()
    kwargs[v.arg] = v.kwargs[v.arg]
    v = dataclasses.replace(v, kwargs=kwargs)
    c = Call(spec, kwargs)
    names = v.names or (v.arg,)
    if isinstance(c.error, AssertionError):
        raise AssertionError(f"{where}: {c.error}")
    if c.error is not None:
        err = c.error
        if v.expect in (EQUAL, FINITE):
            raise AssertionError(f"{where}: good input refused with {err!r}") from err
        if (
            v.family == "device"
            and SECOND_DEVICE == "meta"
            and any(t in str(err) for t in META_ONLY)
        ):
            raise Inconclusive(f"{where}: {type(err).__name__}: {err}")
        if type(err).__module__.startswith("gymnasium") and mentions(str(err).lower(), v.arg):
            # gymnasium's own seeding error ("Seed must be a python integer"), the convention
            # of every gymnasium environment's reset: clear, and naming the argument
            assert_unchanged(c.before, c.after, where)
            return
        if isinstance(err, FileNotFoundError) and str(v.kwargs[v.arg]) in str(err):
            # a path to a missing file: Python's own error, naming the file, is the clear one
            assert_unchanged(c.before, c.after, where)
            return
        if not isinstance(err, (ValueError, TypeError)):
            raise AssertionError(
                f"{where}: obscure {type(err).__name__} instead of a ValueError/TypeError "
                f"naming {names}: {err}"
            ) from err
        msg = str(err)
        missing = [n for n in names if not mentions(msg, n)]
        if v.any_of and any(mentions(msg, n) for n in v.any_of):
            missing = []
        if any(mentions(msg, n) for n in spec.aliases.get(v.arg, ())):
            missing = []
        # A mixed-dtype message must name the changed argument and at least one partner.
        if v.family == "mixdtype" and len(names) > 1:
            missing = (
                []
                if mentions(msg, names[0]) and any(mentions(msg, n) for n in names[1:])
                else list(names)
            )
        assert not missing, f"{where}: {type(err).__name__} does not name {missing}: {msg!r}"
        if v.family == "mixdtype" and len(names) > 1:
            assert isinstance(err, TypeError), f"{where}: mixed dtypes must raise TypeError"
        assert_unchanged(c.before, c.after, where)
        return
    if v.expect == NAMED:
        raise AssertionError(
            f"{where}: accepted silently (expected a ValueError/TypeError naming {names}); "
            f"result: {_short(c.result)}"
        )
    try:
        assert_finite(c.result, spec)
        assert_finite(c.after, spec, "object state")
    except AssertionError as err:
        raise AssertionError(f"{where}: {err}") from None
    if v.expect in (EQUAL, NAMED_OR_EQUAL):
        b = baseline(spec)
        try:
            assert_same(c.result, b.result, spec)
            assert_same(c.after, b.after, spec)
        except AssertionError as err:
            raise AssertionError(f"{where}: {err}") from None
    if v.ref and spec.ref is not None:
        try:
            apply_ref(spec, v.kwargs, c)
        except AssertionError as err:
            raise AssertionError(f"{where}: {err}") from None


def apply_ref(spec: Spec, kwargs: dict[str, Any], c: Call) -> None:
    """The spec's independent check: ``ref(kwargs, result)`` or ``ref(kwargs, result, obj)``
    (``obj`` as it was before the call, rebuilt from its factory)."""
    if len(inspect.signature(spec.ref).parameters) == 3:
        torch.manual_seed(1234)
        spec.ref(kwargs, c.result, spec.obj() if spec.obj is not None else None)
    else:
        spec.ref(kwargs, c.result)


def _short(x: Any) -> str:
    s = repr(x)
    return s if len(s) < 300 else s[:300] + "..."


# ----------------------------------------------------------------------------- test builders

MAX_EXAMPLES = int(os.environ.get("EBMLIB_BAD_INPUT_EXAMPLES", "6"))


def cases(specs: list[Spec]) -> list[Any]:
    """``pytest.param(spec, family)`` for every applicable family, with known findings xfailed."""
    out = []
    for spec in specs:
        for fam in families_of(spec):
            marks = []
            if fam in spec.xfail:
                marks.append(pytest.mark.xfail(strict=True, reason=spec.xfail[fam]))
            out.append(pytest.param(spec, fam, id=f"{spec.id}-{fam}", marks=marks))
    return out


def run_family(spec: Spec, family: str) -> None:
    if family == "valid":
        check_valid(spec)
        return
    failures, inconclusive = [], []
    vs = variants(spec, family, First())
    for v in vs:
        try:
            check_variant(spec, v)
        except AssertionError as err:
            failures.append(str(err))
        except Inconclusive as err:
            inconclusive.append(str(err))
    assert not failures, "\n".join(failures)
    if inconclusive and len(inconclusive) == len(vs):
        pytest.skip(
            "the meta device stands in for a second device but holds no values, and a value "
            "check runs before the device check here (decided on a machine with a GPU): "
            + "; ".join(inconclusive)
        )


def run_drawn(spec: Spec, data: Any) -> None:
    """One hypothesis example: a family (not a known finding), an argument, a variant."""
    pick = Drawn(data)
    fams = [
        f
        for f in families_of(spec)
        if f != "valid" and f not in spec.xfail and f not in spec.drawn_exclude
    ]
    if not fams or "valid" in spec.xfail:
        return
    fam = pick.choice(fams)
    vs = variants(spec, fam, pick)
    if not vs:
        return
    try:
        check_variant(spec, pick.choice(vs))
    except Inconclusive:
        pass  # see run_family: undecidable with the meta stand-in


def make_tests(specs: list[Spec]) -> tuple[Callable[..., None], Callable[..., None]]:
    """The two test functions of an area file: every family once, and hypothesis draws."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @pytest.mark.parametrize(("spec", "family"), cases(specs))
    def test_bad_input(spec: Spec, family: str) -> None:
        """Each family of bad input, per argument: a named error or a finite, correct result."""
        run_family(spec, family)

    @pytest.mark.parametrize("spec", [pytest.param(s, id=s.id) for s in specs])
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def test_bad_input_drawn(spec: Spec, data: Any) -> None:
        """Hypothesis picks the family, the argument, the entry and the bad value."""
        run_drawn(spec, data)

    return test_bad_input, test_bad_input_drawn
