"""The optical bridge: the optical side of one XPU, evaluated once per readout.

Each clock cycle the RTL drives, per XPE ``e``, its optical port (``optical_port_signature`` in
:mod:`oxbnn.rtl.xpu`): S slots of N activation and N weight bits (``act``, ``wgt``), and the
S-bit masks ``pca_reset`` (bit ``s``: discharge before slot ``s`` integrates) and
``pca_sample`` (bit ``s``: the ADC samples at the end of slot ``s``). A testbench keeps the
port words of the cycles since the last readout and, in the cycle of a sample, hands them to
:meth:`OpticalBridge.readout`, which unpacks them into slots (:func:`unpack_port`) and runs the
OXG + DWDM + PCA models of :mod:`oxbnn.models.optics` on all of them at once (docs/design.md
§3).

Inside one cycle an XPE may sample several times (S > gamma, or a vector's last chunk after a
gamma-th one) and may reset right after a sample: :meth:`oxbnn.models.optics.PcaBank.run`
applies, slot by slot in time order, the reset before the slot integrates and the sample at its
end, so the bridge only orders the samples: the j-th sample of an XPE in a cycle (in slot
order) is its sample ``j`` (:class:`CycleCodes`), converted on channel ``j`` of the ADC bank
the cycle uses. A bank has ``XpuParams.samples_per_cycle`` channels, the most samples a cycle
can hold, and a cycle with more breaks the port contract and is refused. Choosing the bank
(``adc_banks`` banks in rotation) and driving each code ``adc_latency`` cycles after its sample
is the testbench's ADC (:class:`oxbnn.testbenches.env.XpuEnv`).

The PCAs' capacitors (``pca_capacitors`` in rotation, each discharging for
``reset_dead_slots`` slots after its sample) are followed by :class:`~oxbnn.models.optics.PcaBank`
from the strobes, in every mode (ideal and physical): a run that starts on a capacitor still
discharging raises :class:`~oxbnn.models.optics.CapacitorBusyError`, the optics' check of the
sequencer's waits.

The bridge has no simulator imports: the cocotb testbench and the Amaranth-simulator harness
both drive it (through the same environment), and so can a plain Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..models.configs import S1_SUFFIX, Preset, XpuParams, load_preset, preset_names
from ..models.optics import DwdmLink, Effects, Pca, PcaBank

__all__ = [
    "CycleCodes",
    "OpticalBridge",
    "default_preset",
    "port_rows",
    "port_width",
    "unpack_counts",
    "unpack_port",
    "unpack_rows",
]


def port_width(m: int, n: int, s: int) -> int:
    """Bits of the optical-port slice of ``watch`` for M XPEs of N lanes at S slots per cycle."""
    return 2 * m * s + 2 * m * s * n


def unpack_port(
    words: Sequence[int], m: int, n: int, s: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Optical-port words of T cycles as T * S slots, in time order.

    Each word is ``reset | sample | act | wgt`` from bit 0 up (the ``opt_*`` fields of
    :class:`~oxbnn.testbenches.cosim_top.CosimTop`): bit ``e * S + s`` of ``reset`` and
    ``sample`` is slot ``s`` of XPE ``e``; bit ``e * S * N + s * N + i`` of ``act`` and ``wgt``
    is slot ``s`` of lane ``i`` of XPE ``e`` (inside one XPE's port, bit ``s * N + i`` is slot
    ``s`` of lane ``i``). Slot ``s`` of cycle ``t`` is slot ``t * S + s`` of the result: slots
    within a cycle go out on the waveguide in the order ``s = 0 .. S - 1``.

    Returns
    -------
    act, wgt : ndarray of uint8, shape (T * S, M, N)
    reset, sample : ndarray of bool, shape (T * S, M)
    """
    return unpack_rows(port_rows(words, m, n, s), m, n, s)


def port_rows(words: Sequence[int], m: int, n: int, s: int) -> np.ndarray:
    """Optical-port words as byte rows, ``(T, ceil(port_width / 8))`` uint8, little-endian: the
    form :func:`unpack_rows` and :meth:`OpticalBridge.readout_rows` take."""
    nbytes = (port_width(m, n, s) + 7) // 8
    raw = b"".join(w.to_bytes(nbytes, "little") for w in words)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(words), nbytes)


def unpack_rows(
    rows: np.ndarray, m: int, n: int, s: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`unpack_port` of the same words given as bytes: ``rows`` (T, B) uint8, row ``t``
    being word ``t`` little-endian (``B >= ceil(port_width / 8)``; the event-driven testbench
    hands its recorded rows over this way, without Python integers)."""
    t = rows.shape[0]
    bits = np.unpackbits(rows, axis=1, bitorder="little")
    ms, msn = m * s, m * s * n

    def masks(lo: int) -> np.ndarray:
        return bits[:, lo : lo + ms].reshape(t, m, s).transpose(0, 2, 1).reshape(t * s, m)

    def lanes(lo: int) -> np.ndarray:
        return bits[:, lo : lo + msn].reshape(t, m, s, n).transpose(0, 2, 1, 3).reshape(t * s, m, n)

    return lanes(2 * ms), lanes(2 * ms + msn), masks(0).astype(bool), masks(ms).astype(bool)


def unpack_counts(
    rows: np.ndarray, m: int, n: int, s: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What ideal optics need of :func:`unpack_rows`: per slot and XPE the number of lanes whose
    activation and weight bits are equal (the bright OXGs, XNOR = 1), ``(T * S, M)`` int64, and
    the ``reset`` and ``sample`` masks. The lanes are compared where they lie in the word, so
    the big lane arrays are never reordered."""
    t = rows.shape[0]
    bits = np.unpackbits(rows, axis=1, bitorder="little")
    ms, msn = m * s, m * s * n
    act, wgt = bits[:, 2 * ms : 2 * ms + msn], bits[:, 2 * ms + msn : 2 * ms + 2 * msn]
    differ = np.count_nonzero((act != wgt).reshape(t, m, s, n), axis=-1)  # (T, M, S)
    counts = (n - differ).transpose(0, 2, 1).reshape(t * s, m)

    def masks(lo: int) -> np.ndarray:
        return bits[:, lo : lo + ms].reshape(t, m, s).transpose(0, 2, 1).reshape(t * s, m)

    return counts.astype(np.int64), masks(0).astype(bool), masks(ms).astype(bool)


def default_preset(xpu: XpuParams) -> Preset:
    """The physics :class:`OpticalBridge` takes when it is given none: the shipped preset named
    ``xpu.name`` (its ``-s1`` idealisation included), else oxbnn50."""
    if xpu.name.removesuffix(S1_SUFFIX) in preset_names():
        return load_preset(xpu.name)
    return load_preset("oxbnn50")


class CycleCodes(NamedTuple):
    """The ADC conversions of the samples of one cycle, per sample and XPE.

    Row ``j`` of XPE ``e`` is the ``j``-th sample of XPE ``e`` in the cycle, in slot order,
    which channel ``j`` of the cycle's ADC bank converts (docs/design.md §3); the rows past an
    XPE's last sample are not valid. P = ``XpuParams.samples_per_cycle`` rows.

    Attributes
    ----------
    valid : ndarray of bool, shape (P, M)
        XPE ``e`` took a ``j``-th sample in the cycle.
    codes : ndarray of int64, shape (P, M)
        Its code (0 where not valid).
    slots : ndarray of int64, shape (P, M)
        The slot ``s`` (0 .. S - 1) of the cycle at whose end it was taken (-1 where not
        valid).
    """

    valid: np.ndarray
    codes: np.ndarray
    slots: np.ndarray


class OpticalBridge:
    """OXG + DWDM + PCA of the M XPEs of one XPU.

    Parameters
    ----------
    xpu : XpuParams
        N (lanes), M (XPEs), S (slots per cycle), ADC bits.
    effects : Effects
        ``Effects.ideal()`` makes the code the popcount; ``Effects.physical()`` applies the ring
        physics, crosstalk, noise, leakage and saturation of the preset.
    preset : Preset or str, optional
        The physics. Default: the shipped preset the XPU is named after (``xpu.name``, such as
        ``"oxbnn5"`` or ``"oxbnn50-s1"``), else ``"oxbnn50"`` (a test XPU, a custom name), so an
        oxbnn5 XPU never gets oxbnn50's physics by omission. Its link is built at the XPU's N,
        whatever N the preset's own budget would give, so small test XPUs work too.
    seed : int
        Seed of the one ``numpy.random.Generator`` behind every noise draw.
    """

    def __init__(
        self,
        xpu: XpuParams,
        effects: Effects | None = None,
        preset: Preset | str | None = None,
        seed: int = 0,
    ) -> None:
        self.xpu = xpu
        self.effects = effects or Effects.ideal()
        if preset is None:
            preset = default_preset(xpu)
        elif isinstance(preset, str):
            preset = load_preset(preset)
        self.preset = preset
        self.link = DwdmLink(preset, xpu.n_lanes)
        self.rng = np.random.default_rng(seed)
        self.pca = Pca(self.link, self.effects, rng=self.rng)
        self.bank = PcaBank(
            self.pca,
            xpu.n_xpes,
            capacitors=xpu.pca_capacitors,
            reset_dead_slots=xpu.reset_dead_slots,
        )
        self._full_scale = (1 << xpu.adc_bits) - 1

    def start_layer(self) -> None:
        """A layer starts (its cycle 0): the PCAs' capacitor rotation restarts at capacitor 0,
        all discharged, as the XPU's ``start`` clears it; the slots of every later cycle must
        reach :meth:`run` in order (the environment hands every cycle to :meth:`readout`)."""
        self.bank.start_layer()

    def run(
        self, act: np.ndarray, wgt: np.ndarray, reset: np.ndarray, sample: np.ndarray
    ) -> np.ndarray:
        """T slots at once: codes (T, M) of the sampled XPEs (else 0), without the ADC delay.

        ``act``/``wgt`` (T, M, N); ``reset``/``sample`` (T, M), in slot order
        (:func:`unpack_port`).
        """
        # The RTL's code port has adc_bits bits; the PCA model already clips at full scale.
        return np.minimum(self.bank.run(act, wgt, reset, sample), self._full_scale)

    def readout(self, words: Sequence[int]) -> CycleCodes:
        """The optics over the cycles since the last readout; the last word holds a sample.

        ``words`` are the optical-port words (:func:`unpack_port`) of those cycles, in order;
        every slot of every word is integrated (a reset after the last sample of the last
        cycle, and the slots it starts, stay in the PCA for the next readout). Returns the
        codes of every sample of the last cycle, row ``j`` of XPE ``e`` being the ``j``-th
        sample of ``e`` in slot order (:class:`CycleCodes`, shape (P, M) with P =
        ``xpu.samples_per_cycle``). ``ValueError`` if an XPE sampled more than P times in the
        cycle.
        """
        xpu = self.xpu
        return self.readout_rows(port_rows(words, xpu.n_xpes, xpu.n_lanes, xpu.symbols_per_cycle))

    def readout_rows(self, rows: np.ndarray) -> CycleCodes:
        """:meth:`readout` of the port words given as byte rows (:func:`port_rows`; the
        event-driven testbench records them so). With ideal optics only the bright-lane counts
        are unpacked (:func:`unpack_counts`, :meth:`~oxbnn.models.optics.PcaBank.run_counts`):
        the same codes."""
        xpu = self.xpu
        m, n, s, per_bank = xpu.n_xpes, xpu.n_lanes, xpu.symbols_per_cycle, xpu.samples_per_cycle
        if self.bank.counts_only:
            counts, reset, sample = unpack_counts(rows, m, n, s)
            codes = np.minimum(self.bank.run_counts(counts, reset, sample), self._full_scale)
        else:
            act, wgt, reset, sample = unpack_rows(rows, m, n, s)
            codes = self.run(act, wgt, reset, sample)
        last = sample[-s:]  # the slots of the sampling cycle, (S, M)
        slot, xpe = np.nonzero(last)  # in slot order
        j = (np.cumsum(last, axis=0) - 1)[slot, xpe]  # the j-th sample of its XPE
        if len(j) and int(j.max()) >= per_bank:
            e = int(xpe[np.argmax(j)])
            raise ValueError(
                f"XPE {e} sampled its PCA {int(last[:, e].sum())} times in one cycle (slots "
                f"{np.flatnonzero(last[:, e]).tolist()}); an ADC bank has samples_per_cycle = "
                f"{per_bank} channels at S = {s}, gamma = {xpu.gamma}"
            )
        shape = (per_bank, xpu.n_xpes)
        valid = np.zeros(shape, dtype=bool)
        out = np.zeros(shape, dtype=np.int64)
        slots = np.full(shape, -1, dtype=np.int64)
        valid[j, xpe] = True
        out[j, xpe] = codes[-s:][slot, xpe]
        slots[j, xpe] = slot
        return CycleCodes(valid, out, slots)

    @property
    def saturation_events(self) -> int:
        """Readouts that went past the capacitor's capacity (reported, never hidden)."""
        return self.bank.saturation_events

    @property
    def clip_events(self) -> int:
        """ADC conversions clipped at full scale."""
        return self.bank.clip_events
