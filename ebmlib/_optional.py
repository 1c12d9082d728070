"""Optional dependencies: import them on first use, or say which extra installs them.

The core of ``ebmlib`` needs only torch and numpy. Plotting, widgets, the RL environments and
the digits data live in extras (``pip install "ebmlib[viz]"``, ``[rl]``, ``[data]``); a module
that needs one calls :func:`require` at the point of use, so ``import ebmlib`` stays light and a
missing package gives an error that names the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str, *, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` naming the extra that provides it.

    Parameters
    ----------
    module : str
        The importable name, for example ``"gymnasium"`` or ``"matplotlib.pyplot"``.
    extra : str
        The ``ebmlib`` extra that installs it (``"viz"``, ``"rl"``, ``"data"``, ...).
    feature : str, optional
        What needs it, for the message (``"ebmlib.rl"``); defaults to ``module``.

    Returns
    -------
    module
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        what = feature or module
        raise ImportError(
            f"{what} needs the optional package {top!r}, which is not installed; "
            f'install it with: pip install "ebmlib[{extra}]"'
        ) from err
