"""``oxbnn optics``: the figures a preset's physics gives, and plots of the OXG and the PCA.

The plots are presentation and stay here, beside the command that draws them. ``--seed`` seeds
the random chunks of the PCA staircase and its physical noise.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..models.atomic import write_bytes
from ..models.derive import OpticsDerivation, derive_optics
from ..models.optics import Effects, Pca
from .options import add_json, add_out, add_preset, add_seed

#: Units of the printed figures, by key suffix.
_LABELS = [
    ("n_lanes", "N, lanes (wavelengths) per XPE (link budget)"),
    ("gamma", "gamma, slots per PCA readout (capacity / N)"),
    ("adc_bits", "ADC bits"),
    ("bit_rate_bps", "bit rate [bit/s]"),
    ("clock_hz", "clock at S = 1 [Hz]"),
    ("extinction_ratio_dB", "OXG extinction ratio [dB]"),
    ("insertion_loss_dB", "OXG insertion loss, bright state [dB]"),
    ("crosstalk_penalty_dB", "inter-lane crosstalk penalty, worst lane [dB]"),
    ("channel_spacing_nm", "channel spacing [nm]"),
    ("fsr_nm", "ring FSR [nm]"),
    ("fwhm_nm", "ring linewidth (FWHM) [nm]"),
    ("loaded_q", "ring loaded Q"),
    ("ring_bandwidth_GHz", "ring optical bandwidth [GHz]"),
    ("shift_per_junction_nm", "resonance shift per driven junction [nm]"),
    ("laser_power_per_wavelength_dBm", "laser power per wavelength [dBm]"),
    ("ring_input_power_dBm", "power per line entering the rings [dBm]"),
    ("one_level_dBm", "'1' level at the PD [dBm]"),
    ("zero_level_dBm", "'0' level at the PD [dBm]"),
    ("sensitivity_dBm", "receiver sensitivity at this bit rate [dBm]"),
    ("link_margin_dB", "link margin at N [dB]"),
    ("pca_capacity_counts", "PCA capacity [counts]"),
    ("count_charge_fC", "charge per count [fC]"),
    ("lsb_mV", "ADC LSB [mV]"),
    ("capacitance_fF", "PCA capacitance [fF]"),
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "optics",
        help="derive N, gamma, extinction and crosstalk from a preset; plot OXG and PCA",
        description="Derive the lane count N (link budget), gamma (PCA capacity), extinction "
        "ratio and crosstalk penalty of a preset, and write PNG plots under OUT.",
    )
    add_preset(p)
    add_json(p)
    add_seed(p)
    add_out(p, "optics")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    d = derive_optics(args.preset)
    summary = d.summary()
    if not args.no_plots:
        out = args.out
        out.mkdir(parents=True, exist_ok=True)
        summary["plots"] = {
            "spectra": str(plot_spectra(d, _plot_path(d, out, "oxg_spectra"))),
            "pca_staircase": str(plot_staircase(d, _plot_path(d, out, "pca_staircase"), args.seed)),
        }
    summary["preset_file"] = str(d.preset.path)
    summary["sources"] = {row["key"]: row["source"] for row in d.preset.coefficients()}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"oxbnn optics: preset {d.preset.name} ({d.preset.path})")
        for key, label in _LABELS:
            value = summary[key]
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            print(f"  {label:<52} {text}")
        for name, path in summary.get("plots", {}).items():
            print(f"  plot {name:<47} {path}")
    return 0


def _plot_path(d: OpticsDerivation, out: Path, what: str) -> Path:
    """``out/<preset name>_<what>.png``; refused when the name would leave ``out``."""
    filename = f"{d.preset.name}_{what}.png"
    if Path(filename).name != filename or "\\" in filename or filename.startswith("."):
        raise ValueError(
            f"{d.preset.path}: preset name {d.preset.name!r} cannot name a file in {out}; "
            "expected letters, digits, '_', '-' or '.'"
        )
    return out / filename


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path, dpi: int = 120) -> Path:
    """Write a matplotlib figure as a PNG atomically (rendered in memory, then renamed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return write_bytes(path, buf.getvalue())


def _save(plt: Any, fig: Any, ax: Any, path: Path) -> Path:
    """Grid, tight layout, write the PNG and free the figure."""
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return path


def plot_spectra(d: OpticsDerivation, path: Path) -> Path:
    """Through-port spectra of one OXG in its four (a, w) states around its laser line."""
    plt = _pyplot()
    oxg = d.link.oxg
    span = 3 * max(oxg.shift_m, oxg.fwhm_m)
    detune = np.linspace(-span, span, 2001)  # wavelength - laser line, m
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (a, w), style in zip([(0, 0), (0, 1), (1, 0), (1, 1)], ["-", "--", ":", "-."], strict=True):
        s = a + w
        # The resonance sits at line - (1 - s) * shift, so wavelength - resonance is:
        t = oxg.through(detune + (1 - s) * oxg.shift_m)
        ax.plot(detune * 1e9, 10 * np.log10(t), style, label=f"a={a}, w={w} (XNOR={int(a == w)})")
    ax.axvline(0.0, color="k", lw=0.8)
    ax.text(0.0, -1.0, " laser line", va="top")
    ax.set_xlabel("wavelength - laser line [nm]")
    ax.set_ylabel("through-port transmission [dB]")
    ax.set_title(
        f"{d.preset.name}: OXG, Q = {oxg.loaded_q:.0f}, ER = {oxg.extinction_ratio_dB:.1f} dB"
    )
    ax.legend(loc="lower left", fontsize=8)
    return _save(plt, fig, ax, path)


def plot_staircase(d: OpticsDerivation, path: Path, seed: int) -> Path:
    """PCA voltage over gamma slots of random chunks: ideal and physical, with ADC codes."""
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    n, gamma = d.n_lanes, d.gamma
    act = rng.integers(0, 2, (gamma, n))
    wgt = rng.integers(0, 2, (gamma, n))
    ones = np.cumsum((act == wgt).sum(axis=1))
    ideal = Pca(d.link, Effects.ideal())
    phys = Pca(d.link, Effects.physical(), rng=np.random.default_rng(seed))
    r_ideal = ideal.integrate(act, wgt)
    r_phys = phys.integrate(act, wgt)
    slots = np.arange(1, gamma + 1)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    # Within a slot the photocurrent is constant, so the voltage ramps linearly to the next point.
    ax.plot(
        np.r_[0, slots],
        np.r_[0, r_ideal.voltages_V] * 1e3,
        "o-",
        ms=3,
        label="ideal (1 count = 1 LSB)",
    )
    ax.plot(
        np.r_[0, slots],
        np.r_[0, r_phys.voltages_V] * 1e3,
        "s-",
        ms=3,
        label="physical (crosstalk, noise, leakage, dark)",
    )
    ax.axhline(d.preset.pca.voltage_swing_V * 1e3, color="r", lw=0.8, ls="--")
    ax.text(
        gamma,
        d.preset.pca.voltage_swing_V * 1e3,
        "voltage swing",
        va="bottom",
        ha="right",
        color="r",
    )
    ax.set_xlabel("slot (chunk of N bits)")
    ax.set_ylabel("capacitor voltage [mV]")
    ax.set_title(
        f"{d.preset.name}: PCA over gamma = {gamma} slots, N = {n}; popcount "
        f"{ones[-1]}, codes ideal {int(r_ideal.codes)} / physical "
        f"{int(r_phys.codes)}",
        fontsize=9,
    )
    ax.legend(loc="upper left", fontsize=8)
    return _save(plt, fig, ax, path)
