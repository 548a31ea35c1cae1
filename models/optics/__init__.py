"""Behavioural models of OXBNN's optical side: OXG, DWDM link and photo-charge accumulator.

Pure numpy, vectorised over lanes, XPEs and slots; no simulator imports. SI units throughout.
"""

from .dwdm import DwdmLink, LinkBudget, link_budget, max_lanes, sensitivity_W
from .oxg import Oxg, drive_state, xnor_from_states
from .pca import CapacitorBusyError, Effects, Pca, PcaBank, Readout

__all__ = [
    "Oxg",
    "drive_state",
    "xnor_from_states",
    "DwdmLink",
    "LinkBudget",
    "link_budget",
    "max_lanes",
    "sensitivity_W",
    "Effects",
    "Pca",
    "PcaBank",
    "CapacitorBusyError",
    "Readout",
]
