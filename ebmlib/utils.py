"""Small shared utilities: the result type, deprecation aliases and progress bars."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["Result", "renamed_argument", "progress_disabled", "progress"]

_F = TypeVar("_F", bound=Callable[..., Any])


class Result:
    """Base of every result and training history that ``ebmlib`` returns (one result type).

    Subclasses are dataclasses (``@dataclasses.dataclass(frozen=True)`` for results,
    ``@dataclasses.dataclass`` for histories that grow). Fields are read as attributes
    (``res.log_partition``); for convenience a result also behaves as a read-only mapping of
    its fields (``res["loss"]``, ``dict(res)``, ``res.keys()``), so a history plots with
    ``for name, values in res.items()``, and :meth:`as_dict` gives a plain ``dict``.

    Examples
    --------
    >>> @dataclasses.dataclass(frozen=True)
    ... class Fit(Result):
    ...     loss: list[float]
    >>> Fit(loss=[1.0, 0.5])["loss"]
    [1.0, 0.5]
    """

    def _names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]  # type: ignore[arg-type]

    def keys(self) -> list[str]:
        """The field names, in declaration order."""
        return self._names()

    def values(self) -> list[Any]:
        """The field values, in declaration order."""
        return [getattr(self, n) for n in self._names()]

    def items(self) -> list[tuple[str, Any]]:
        """``(name, value)`` pairs, in declaration order."""
        return [(n, getattr(self, n)) for n in self._names()]

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain ``dict`` (shallow: values are not copied)."""
        return dict(self.items())

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or key not in self._names():
            raise KeyError(f"{type(self).__name__} has no field {key!r}; fields: {self._names()}")
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def renamed_argument(old: str, new: str, since: str) -> Callable[[_F], _F]:
    """Decorator: accept the keyword ``old`` as a deprecated alias of ``new``.

    Calling ``f(old=value)`` warns with a ``DeprecationWarning`` and forwards ``new=value``;
    passing both raises a ``TypeError``.
    """

    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(
                        f"{fn.__qualname__}() got both {old!r} and {new!r}; use {new!r}"
                    )
                warnings.warn(
                    f"{fn.__qualname__}(): the argument {old!r} is deprecated since ebmlib "
                    f"{since}; use {new!r}",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def progress_disabled() -> bool:
    """True when progress bars should stay hidden.

    They are hidden when the environment variable ``CI`` or ``EBMLIB_STATIC`` is set (the book
    build and the test suite) and when standard error is neither a terminal nor a notebook.
    """
    for var in ("CI", "EBMLIB_STATIC"):
        if os.environ.get(var, "").strip().lower() not in ("", "0", "false", "no"):
            return True
    try:
        from IPython import get_ipython

        if get_ipython() is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell":
            return False
    except ImportError:  # pragma: no cover
        pass
    return not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


def progress(
    iterable: Iterable[Any],
    *,
    desc: str | None = None,
    total: int | None = None,
    disable: bool | None = None,
    **kwargs: Any,
) -> Iterable[Any]:
    """Wrap ``iterable`` in a ``tqdm.auto`` progress bar (hidden per :func:`progress_disabled`).

    Parameters
    ----------
    iterable : iterable
        What to iterate over.
    desc : str, optional
        Label of the bar.
    total : int, optional
        Length, when ``iterable`` has none.
    disable : bool, optional
        Force the bar off (True) or on (False); default :func:`progress_disabled`.
    """
    from tqdm.auto import tqdm

    if total is not None:
        if isinstance(total, bool) or not isinstance(total, int):
            raise TypeError(f"total must be None or an integer, got {type(total).__name__}")
        if total < 0:
            raise ValueError(f"total must be >= 0, got {total}")
    if disable is None:
        disable = progress_disabled()
    return tqdm(iterable, desc=desc, total=total, disable=disable, **kwargs)
