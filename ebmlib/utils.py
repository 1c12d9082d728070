"""Small shared utilities: progress bars for training loops."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["progress_disabled", "progress"]


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

    if disable is None:
        disable = progress_disabled()
    return tqdm(iterable, desc=desc, total=total, disable=disable, **kwargs)
