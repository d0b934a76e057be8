"""The optional ``imitation`` dependency (``pip install 'iale-gym[dagger]'``).

The base install (env, experts, oracle, policies, ``query``, PPO/A2C, evaluation, plots) runs on
any gymnasium 0.29-1.x, stable-baselines3 2.2-2.x and numpy 1.x-2.x. DAgger and ALIL training
(:mod:`agents.dagger`, :func:`agents.alil.train_alil`, :mod:`agents.diagnostics.imitability`) run on
``imitation``, which pins gymnasium 0.29 and stable-baselines3 2.2, so it comes only with the
``dagger`` extra. Without it, what needs it raises :class:`ModuleNotFoundError` with one line
that says what to install, and the commands print that line and exit 2.
"""

from __future__ import annotations

import importlib.util

#: How to install what DAgger and ALIL training need.
DAGGER_INSTALL = "pip install 'iale-gym[dagger]'"


def has_imitation() -> bool:
    """Whether ``imitation`` is installed (without importing it)."""
    return importlib.util.find_spec("imitation") is not None


def missing_imitation(what: str) -> ModuleNotFoundError:
    """The one-line error for ``what`` (e.g. ``"DAgger training"``) without ``imitation``."""
    return ModuleNotFoundError(
        f"{what} needs the 'imitation' package, which is not installed: {DAGGER_INSTALL}",
        name="imitation",
    )


def is_missing_imitation(exc: BaseException) -> bool:
    """Whether ``exc`` is the import of ``imitation`` itself failing (not one of its own
    dependencies, nor a bug inside it)."""
    name = getattr(exc, "name", None) or ""
    return isinstance(exc, ModuleNotFoundError) and name.split(".")[0] == "imitation"


def require_imitation(what: str) -> None:
    """Raise :func:`missing_imitation` for ``what`` unless ``imitation`` is installed."""
    if not has_imitation():
        raise missing_imitation(what)
