"""Eager parameter checks shared by the components (STYLE.md item 2).

A component whose constructor raises would otherwise also trigger Amaranth's "created but never
used" warning when it is collected; the checks silence that warning for the failed object.
"""

from __future__ import annotations

from ..models.configs import XpuParams

__all__ = ["positive_int", "xpu_params"]


def _fail(component: object, exc: Exception) -> Exception:
    component._MustUse__silence = True  # the object never became a component
    return exc


def positive_int(component: object, name: str, value: object) -> int:
    """``value`` if it is a positive integer, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(component, ValueError(f"{name} must be a positive integer, not {value!r}"))
    return value


def xpu_params(component: object, value: object) -> XpuParams:
    """``value`` if it is an :class:`XpuParams`, else a TypeError."""
    if not isinstance(value, XpuParams):
        raise _fail(component, TypeError(f"xpu must be an XpuParams, not {type(value).__name__}"))
    return value
