"""The optical bridge: the optical side of one XPU, stepped once per clock cycle.

Each cycle the RTL drives, per XPE ``e``, the N activation and N weight bits of the slot
(``act[e]``, ``wgt[e]``), ``pca_reset[e]`` (discharge before this slot integrates) and
``pca_sample[e]`` (the ADC samples at the end of this slot). The bridge runs the OXG + DWDM + PCA
models of :mod:`oxbnn.models.optics` on them and returns ``adc_valid[e]`` / ``adc_code[e]``
exactly ``adc_latency`` cycles after the sample (DESIGN.md §3).

Timing convention of :meth:`OpticalBridge.step`: call it once per clock cycle ``t`` with what the
RTL drives during cycle ``t``; it returns what the ADC drives during cycle ``t + 1``. A sample in
cycle ``t`` is therefore seen by the RTL as ``adc_valid`` during cycle ``t + adc_latency`` (for
``adc_latency >= 1``), i.e. registered at the clock edge that ends that cycle.

The bridge has no simulator imports: the cocotb testbench and the Amaranth-simulator harness both
drive it, and so can a plain Python loop.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..models.configs import Preset, XpuParams, load_preset
from ..models.optics import DwdmLink, Effects, Pca, PcaBank

__all__ = ["OpticalBridge", "unpack_lanes"]


def unpack_lanes(value: int, m: int, n: int) -> np.ndarray:
    """An ``m * n``-bit integer (XPE ``e``, lane ``i`` at bit ``e * n + i``) as an (m, n) array."""
    nbytes = (m * n + 7) // 8
    raw = np.frombuffer(int(value).to_bytes(nbytes, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[: m * n].reshape(m, n)


class OpticalBridge:
    """OXG + DWDM + PCA of the M XPEs of one XPU, with the ADC's latency.

    Parameters
    ----------
    xpu : XpuParams
        N (lanes), M (XPEs), ADC bits and latency.
    effects : Effects
        ``Effects.ideal()`` makes the code the popcount; ``Effects.physical()`` applies the ring
        physics, crosstalk, noise, leakage and saturation of the preset.
    preset : Preset or str, optional
        The physics (default ``"oxbnn50"``). Its link is built at the XPU's N, whatever N the
        preset's own budget would give, so small test XPUs work too.
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
        if preset is None or isinstance(preset, str):
            preset = load_preset(preset or "oxbnn50")
        self.preset = preset
        self.link = DwdmLink(preset, xpu.n_lanes)
        self.rng = np.random.default_rng(seed)
        self.pca = Pca(self.link, self.effects, rng=self.rng)
        self.bank = PcaBank(self.pca, xpu.n_xpes)
        self._full_scale = (1 << xpu.adc_bits) - 1
        m = xpu.n_xpes
        idle = (np.zeros(m, dtype=bool), np.zeros(m, dtype=np.int64))
        self._pipe: deque[tuple[np.ndarray, np.ndarray]] = deque(
            [idle] * (xpu.adc_latency - 1), maxlen=max(xpu.adc_latency - 1, 0) or None
        )
        self.cycles = 0
        self.samples = 0
        self.slots_lit = 0

    def step(
        self, act: np.ndarray, wgt: np.ndarray, reset: np.ndarray, sample: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One clock cycle; returns ``(adc_valid, adc_code)`` for the next cycle, shape (M,)."""
        codes, sampled = self.bank.step(act, wgt, reset, sample)
        # The RTL's code port has adc_bits bits; the PCA model already clips at full scale.
        codes = np.minimum(codes, self._full_scale)
        self.cycles += 1
        self.samples += int(np.count_nonzero(sampled))
        if self.xpu.adc_latency == 1:
            return sampled, codes
        out = self._pipe.popleft()
        self._pipe.append((sampled, codes))
        return out

    def run(
        self, act: np.ndarray, wgt: np.ndarray, reset: np.ndarray, sample: np.ndarray
    ) -> np.ndarray:
        """T cycles at once, without the ADC delay: codes (T, M) of the sampled XPEs (else 0).

        ``act``/``wgt`` (T, M, N); ``reset``/``sample`` (T, M). The caller drives each code
        ``adc_latency`` cycles after its sample. The co-simulation calls this once per sample
        with the cycles since the previous one, which is much cheaper than stepping each cycle.
        """
        codes = np.minimum(self.bank.run(act, wgt, reset, sample), self._full_scale)
        self.cycles += len(act)
        self.samples += int(np.count_nonzero(sample))
        return codes

    @property
    def saturation_events(self) -> int:
        """Readouts that went past the capacitor's capacity (reported, never hidden)."""
        return self.bank.saturation_events

    @property
    def clip_events(self) -> int:
        """ADC conversions clipped at full scale."""
        return self.bank.clip_events
