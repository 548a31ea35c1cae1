"""CMOS technology nodes: how gate delay scales from the 180 nm synthesis library to a target node.

``oxbnn timing`` (:mod:`oxbnn.tools.sta`) measures the critical path of the XPU in a 180 nm
standard-cell library and in FO4 delays of that library, then converts it to the preset's
``[architecture] target_node_nm``. The conversion is a delay-scaling factor per node:

    FO4(node) = FO4(180 nm library, measured) x delay_factor(node)

Source: A. Stillmaker and B. Baas, "Scaling equations for the accurate prediction of CMOS device
performance from 180 nm to 7 nm", Integration, the VLSI Journal 58 (2017) 74-81. The paper fits
HSPICE simulations (PTM and ITRS device models) with a third-order polynomial of the supply
voltage per node, ``d(V) = a3 V^3 + a2 V^2 + a1 V + a0``; :data:`NODES` keeps the delay
polynomial of each node and evaluates it at that node's nominal supply (the PTM model's
nominal Vdd; high-performance devices from 45 nm down, the digital back end of an accelerator
being a performance design). ``delay_factor`` is ``d(node) / d(180 nm)``.

Decisions:

* The anchor is measured, not assumed: the paper gives delay *ratios*; the absolute FO4 at
  180 nm is the one measured on the synthesis library (OSU 0.18 um at 1.8 V, typical corner,
  an inverter chain timed by OpenSTA; docs/timing.md). The library's node and supply are the
  paper's 180 nm reference point, so no second anchor enters.
* Corner: typical process, nominal supply, room temperature (the library's and the paper's).
  Wires are not modelled (no wire load, no extraction): the scaled figure is the gate delay.
* 28 nm and 22 nm are not among the paper's nodes; their factor is interpolated geometrically
  (log delay linear in log node) between the paper's 32 nm and 20 nm points, and the entry says
  so. The paper's 20 nm point is slower than its 32 nm point at their nominal supplies (a
  different device model family), so the two interpolated nodes are too; the table keeps what
  the source gives rather than smoothing it.
* A node not in the table is refused (:class:`TechnologyError`, naming the preset key and the
  known nodes); nothing is extrapolated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "NODES",
    "REFERENCE_NODE_NM",
    "Node",
    "TechnologyError",
    "delay_factor",
    "fo4_ps",
    "node",
]

#: The node the delay factors are relative to (the paper's reference and the library's node).
REFERENCE_NODE_NM = 180

_PAPER = (
    "Stillmaker & Baas, Integration, the VLSI Journal 58 (2017) 74-81: fitted delay "
    "polynomial at the nominal supply"
)


class TechnologyError(ValueError):
    """A technology node that is not in :data:`NODES`."""


@dataclass(frozen=True)
class Node:
    """One CMOS node: its nominal supply and the paper's delay polynomial.

    Parameters
    ----------
    nm : int
        Node name in nm.
    vdd_V : float
        Nominal supply voltage in V at which the delay is evaluated.
    coefficients : tuple of float
        ``(a3, a2, a1, a0)`` of the fitted delay ``d(V)``; only ratios of ``d`` are used.
    source : str
        Where the entry comes from.
    """

    nm: int
    vdd_V: float
    coefficients: tuple[float, float, float, float]
    source: str

    @property
    def delay(self) -> float:
        """The fitted delay ``d(vdd_V)`` (the paper's unit; only ratios are used)."""
        a3, a2, a1, a0 = self.coefficients
        v = self.vdd_V
        return ((a3 * v + a2) * v + a1) * v + a0


def _paper(nm: int, vdd: float, coefficients: tuple[float, float, float, float]) -> Node:
    family = "PTM bulk" if nm >= 65 else ("PTM HP" if nm >= 32 else "PTM-MG HP")
    return Node(nm, vdd, coefficients, f"{_PAPER} {vdd} V ({family})")


_TABLE = [
    _paper(180, 1.8, (0.0, 97.09, -356.7, 406.5)),
    _paper(130, 1.3, (-76.65, 334.9, -493.4, 275.8)),
    _paper(90, 1.2, (-60.34, 262.5, -384.2, 210.9)),
    _paper(65, 1.1, (-53.3, 230.4, -333.9, 178.6)),
    _paper(45, 1.0, (-501.6, 1567.0, -1619.0, 566.1)),
    _paper(32, 0.9, (-1047.0, 2982.0, -2797.0, 873.5)),
    _paper(20, 0.9, (0.0, 34.63, -66.37, 41.15)),
    _paper(16, 0.85, (0.0, 24.8, -47.52, 28.87)),
    _paper(14, 0.8, (-40.66, 109.2, -100.6, 35.92)),
    _paper(10, 0.75, (-34.95, 93.65, -85.99, 30.4)),
    _paper(7, 0.7, (-28.58, 76.6, -70.26, 24.69)),
]


def _interpolated(nm: int, lo: Node, hi: Node) -> Node:
    """A node between two of the paper's, log delay linear in log node (stated in ``source``)."""
    t = math.log(nm / lo.nm) / math.log(hi.nm / lo.nm)
    d = math.exp((1 - t) * math.log(lo.delay) + t * math.log(hi.delay))
    # Both neighbours are evaluated at 0.9 V; the interpolated delay is a constant polynomial.
    return Node(
        nm,
        lo.vdd_V,
        (0.0, 0.0, 0.0, d),
        f"interpolated (log delay linear in log node) between the {lo.nm} nm and {hi.nm} nm "
        f"points of {_PAPER}; the paper has no {nm} nm model",
    )


def _build() -> dict[int, Node]:
    table = {n.nm: n for n in _TABLE}
    for nm in (28, 22):
        table[nm] = _interpolated(nm, table[32], table[20])
    return dict(sorted(table.items(), reverse=True))


#: The known nodes, largest first: node in nm -> :class:`Node`.
NODES: dict[int, Node] = _build()


def node(nm: float, *, key: str = "target node") -> Node:
    """The :class:`Node` of ``nm`` nm; a :class:`TechnologyError` naming ``key`` if unknown."""
    if isinstance(nm, (int, float)) and not isinstance(nm, bool) and math.isfinite(nm):
        for n in NODES.values():
            if abs(n.nm - nm) < 1e-9:
                return n
    known = ", ".join(str(n) for n in NODES)
    raise TechnologyError(
        f"{key} = {nm!r} nm is not a node oxbnn knows the delay of; expected one of {known} "
        f"(oxbnn.models.technology.NODES)"
    )


def delay_factor(nm: float, *, key: str = "target node") -> float:
    """Gate delay at node ``nm`` relative to :data:`REFERENCE_NODE_NM` (1 at 180 nm)."""
    return node(nm, key=key).delay / NODES[REFERENCE_NODE_NM].delay


def fo4_ps(nm: float, *, fo4_reference_ps: float, key: str = "target node") -> float:
    """FO4 in ps at node ``nm``, from the FO4 measured at the 180 nm reference (in ps)."""
    if not (math.isfinite(fo4_reference_ps) and fo4_reference_ps > 0):
        raise TechnologyError(
            f"FO4 at {REFERENCE_NODE_NM} nm must be > 0 ps, not {fo4_reference_ps}"
        )
    return fo4_reference_ps * delay_factor(nm, key=key)
