"""Helpers shared by the components: eager parameter checks and fixed latencies.

Components take keyword-only parameters and check them in the constructor. A component whose
constructor raises would otherwise also trigger Amaranth's "created but never used" warning when
it is collected; the checks silence that warning for the failed object.

A latency that no parameter changes (it is fixed by how many register stages a component has) is
declared with :class:`fixed_latency`: it reads like a property on an instance and also on the
class, so an owner can size one part from another's latency before it builds them (the XPU sizes
the result FIFO from the address generator's and the readout's latencies).
"""

from __future__ import annotations

from collections.abc import Callable

from ..models.configs import XpuParams

__all__ = ["positive_int", "xpu_params", "fixed_latency"]


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


class fixed_latency:  # noqa: N801 (used as a decorator, like ``property``)
    """A read-only latency in cycles, fixed by a component's structure, on the class and instances.

    Decorate a function of the class (``def latency(cls) -> int``); its docstring says which
    register stages make the latency. ``tests/test_latencies.py`` measures every one in
    simulation.
    """

    def __init__(self, fget: Callable[[type], int]):
        self._fget = fget
        self.__doc__ = fget.__doc__
        self.__name__ = fget.__name__

    def __get__(self, obj: object, owner: type | None = None) -> int:
        return self._fget(type(obj) if owner is None else owner)

    def __set__(self, obj: object, value: object) -> None:
        raise AttributeError(f"{self.__name__} is a fixed latency and cannot be set")
