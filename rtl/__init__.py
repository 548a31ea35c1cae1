"""Amaranth HDL of the digital side of one OXBNN XPU."""
