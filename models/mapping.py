"""The mapping of a layer onto the X XPUs of an accelerator: shares and per-XPU cycle counts.

An :class:`AcceleratorModel` is a system preset (:mod:`oxbnn.models.system_preset`) with the
XPU parameters the cycle model runs with (:func:`~oxbnn.models.system_preset.preset_xpu_params`:
N and gamma from the optics for OXBNN) and its eDRAM as a tile stream sees it
(:func:`memory_for`).

The dataflow
------------
Each XPU share runs in the dataflow the cycle model counts fewer cycles for (:data:`DATAFLOW` =
``"auto"``, :func:`oxbnn.models.timing.layer_cycles`, docs/design.md §4.2), as the host does:
weight broadcast (the M XPEs share one filter and work on M units, output positions or pooled
2 x 2 windows, of a group) or activation broadcast (one unit, M filters). A vector of K bits is
``L = ceil(K/N)`` chunks, one readout every gamma chunks and at the vector's end, in either. The
plan's :attr:`~oxbnn.models.tiling.TilingPlan.dataflow` of every share's breakdown says which
was taken.

Splitting a layer over the X XPUs (:func:`plan_split`)
------------------------------------------------------
Every compute layer becomes ``(LayerSpec, repeat)`` jobs
(:meth:`~oxbnn.models.workloads.Network.to_layer_specs`, which also fuses a 2 x 2 max-pool into
the conv before it):

* ``repeat >= X`` (depthwise and grouped layers with many groups): whole groups are dealt out,
  ``ceil(repeat / X)`` per XPU, run one after the other;
* otherwise each group gets ``g = X // repeat`` XPUs, split ``gc x gs``: the output channels in
  ``gc`` shares of ``ceil(C_out / gc)`` filters, the output rows in ``gs`` bands of
  ``ceil(rows / gs)`` rows (2-row units when the layer pools). Every XPU of a share loads the
  activations its rows need (halo included) and the weights of its filters. Among the channel
  counts ``ceil(C_out / gc)`` for ``gc = 1 .. g`` (each with the most row bands the remaining
  XPUs allow), a closed-form estimate keeps the three best and :func:`timing.layer_cycles`
  picks the fastest. A row band is timed as an interior band: an unpadded layer of the input
  rows it reads, with the left/right padding columns stored as data (its positions and vectors
  are exact; its loads exceed the real ones by ``2 * padding`` columns).

Cycles and seconds of a share
-----------------------------
Each XPU's time is ``cycles / f_clk`` with ``cycles`` from :func:`oxbnn.models.timing.layer_cycles`
(the closed-form model that equals the RTL) at ``XpuParams.clock_hz`` = bit rate / S (a cycle
carries S slots per lane; S = ``XpuParams.symbols_per_cycle``), fed by a
:class:`~oxbnn.models.timing.MemoryModel` built from the eDRAM (:func:`memory_for`): latency
``ceil(t_access * f_clk)`` cycles and ``ceil(b * streams * t_access * f_clk / access_bits)``
cycles per word, where ``b`` is the number of bits a word of this layer carries (N for wide
layers, 1 for a depthwise pixel) and the activation and weight streams share the XPU's eDRAM.
Buffer refills are therefore inside the cycle count, as the double-buffered RTL sees them.

**Readout rate.** The RTL accepts a ``pca_sample`` every cycle (a pipelined ADC). The preset's
readout unit converts ``units_per_xpe * sample_rate_Sps`` codes per second per XPE
(:attr:`AcceleratorModel.readout_rate_Sps`); an XPU share that needs ``jobs * ceil(L / gamma)``
conversions per XPE takes at least that many over this rate. OXBNN_50's ADC runs at 50 Gb/s /
gamma = 3.6 GS/s, so a vector shorter than gamma chunks (L < 14: depthwise 3x3, thin 1x1 convs)
can be readout bound. ``readout_bound=False`` drops this term (a what-if: an ADC as fast as the
RTL assumes).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache

from . import tiling, timing
from .configs import XpuParams
from .layer import LayerSpec
from .system_preset import SystemPreset, load_system_preset, preset_xpu_params

__all__ = [
    "DATAFLOW",
    "AcceleratorModel",
    "Share",
    "accelerator_model",
    "clear_cache",
    "memory_for",
    "plan_split",
    "share_seconds",
    "sram_words_per_chunk",
    "unit_grid",
]

#: The host's dataflow policy this mapping follows (docs/design.md §4.2): per share, the faster.
DATAFLOW = "auto"
#: Split candidates evaluated with the exact cycle model after the closed-form estimate.
_EXACT_CANDIDATES = 3


@dataclass(frozen=True)
class AcceleratorModel:
    """A system preset with its XPU parameters and memory model.

    Parameters
    ----------
    preset : SystemPreset
    xpu : XpuParams
        What :func:`timing.layer_cycles` is run with (derived from the optics for OXBNN): the
        one source of N, M, gamma, S and the clock for the evaluation.
    memory : timing.MemoryModel
        The eDRAM as the XPU's tile streams see it for full N-bit words (a layer whose words
        carry fewer bits streams faster: :func:`memory_for`).
    """

    preset: SystemPreset
    xpu: XpuParams
    memory: timing.MemoryModel

    @property
    def name(self) -> str:
        return self.preset.name

    @property
    def label(self) -> str:
        return self.preset.label

    @property
    def clock_hz(self) -> float:
        """Clock of the cycle counts, ``XpuParams.clock_hz`` (bit rate / S)."""
        return self.xpu.clock_hz

    @property
    def n_xpus(self) -> int:
        return self.preset.architecture.n_xpus

    @property
    def peak_xnor_per_s(self) -> float:
        """Optical peak ``X * M * N * bit_rate`` XNOR/s (one XNOR per lane per slot)."""
        return self.n_xpus * self.xpu.n_xpes * self.xpu.n_lanes * self.xpu.bit_rate_bps

    @property
    def readout_rate_Sps(self) -> float:
        """Conversions per second of one XPE's readout units."""
        r = self.preset.readout
        return r.units_per_xpe * r.sample_rate_Sps


def _memory_model(p: SystemPreset, clock_hz: float, word_bits: float) -> timing.MemoryModel:
    """The eDRAM as a tile stream sees it, for words carrying ``word_bits`` bits on average."""
    m = p.memory
    per_access = m.edram_access_time_s * clock_hz  # cycles per eDRAM access
    latency = max(1, math.ceil(per_access - 1e-9))
    per_word = word_bits * m.streams_per_edram * per_access / m.edram_access_bits
    return timing.MemoryModel(
        latency_cycles=latency, cycles_per_word=max(1, math.ceil(per_word - 1e-9))
    )


def memory_for(spec: LayerSpec, model: AcceleratorModel) -> timing.MemoryModel:
    """The memory model of one layer share: eDRAM bandwidth over the bits its words carry.

    A pixel of C channels is ``ceil(C / N)`` words and a filter ``ceil(K / N)`` words, so a word
    carries ``C / ceil(C / N)`` (activations) or ``K / ceil(K / N)`` (weights) bits on average;
    the eDRAM, which stores the maps packed, must deliver the larger of the two per word.
    A single-channel (depthwise) pixel is a 1-bit word and streams at one word per cycle.
    """
    n = model.xpu.n_lanes
    act = spec.in_channels / -(-spec.in_channels // n)
    wgt = spec.k / -(-spec.k // n)
    return _memory_model(model.preset, model.clock_hz, max(act, wgt))


def _build_model(preset: SystemPreset) -> AcceleratorModel:
    xpu = preset_xpu_params(preset)
    return AcceleratorModel(preset, xpu, _memory_model(preset, xpu.clock_hz, xpu.n_lanes))


@lru_cache(maxsize=32)
def _model_by_name(name: str) -> AcceleratorModel:
    return _build_model(load_system_preset(name))


def accelerator_model(preset: SystemPreset | AcceleratorModel | str) -> AcceleratorModel:
    """The :class:`AcceleratorModel` of a preset (shipped name, path, or loaded preset)."""
    if isinstance(preset, AcceleratorModel):
        return preset
    if isinstance(preset, SystemPreset):
        return _build_model(preset)
    return _model_by_name(str(preset))


@lru_cache(maxsize=65536)
def _breakdown(spec: LayerSpec, xpu: XpuParams, mem: timing.MemoryModel) -> timing.CycleBreakdown:
    """Cycles of one XPU share (cached: networks repeat the same shapes)."""
    return timing.layer_cycles(spec, xpu, mem, dataflow=DATAFLOW)


def sram_words_per_chunk(xpu: XpuParams) -> int:
    """Tile-buffer words an XPU reads per chunk: M + 1 in both dataflows.

    Weight broadcast: M activation words (one per unit) and the one weight word the M XPEs
    share; activation broadcast: the one activation word the M XPEs share and M weight words
    (one per filter). A shared word is read once and broadcast.
    """
    return xpu.n_xpes + 1


def clear_cache() -> None:
    """Forget cached cycle counts (after monkeypatching :mod:`timing` in a test)."""
    _breakdown.cache_clear()


@dataclass(frozen=True)
class Share:
    """How one ``(spec, repeat)`` job is dealt out to the XPUs.

    Attributes
    ----------
    spec : LayerSpec
        What one XPU runs (``instances_per_xpu`` times, back to back).
    channel_shares, row_shares : int
        Splits of one group's output channels and output rows.
    instances_per_xpu : int
        Runs of ``spec`` on the busiest XPU.
    busy_xpus : int
        XPUs with work.
    runs : int
        Runs of ``spec`` over the whole layer (each a share of work; for energy).
    """

    spec: LayerSpec
    channel_shares: int
    row_shares: int
    instances_per_xpu: int
    busy_xpus: int
    runs: int

    def describe(self) -> str:
        """``"3 ch x 2 rows"``-style summary for tables."""
        text = f"{self.spec.out_channels} ch"
        if self.row_shares > 1:
            f = 2 if self.spec.pool else 1
            text += f" x {self.spec.out_h // f} rows"
        if self.instances_per_xpu > 1:
            text += f" x{self.instances_per_xpu}"
        return f"{text} on {self.busy_xpus} XPUs"


def unit_grid(spec: LayerSpec) -> tuple[int, int, int]:
    """``(unit rows, unit columns, pool factor)``: units are pooled positions when pooling."""
    f = 2 if spec.pool else 1
    return spec.out_h // f, spec.out_w // f, f


def _row_share(spec: LayerSpec, rows: int) -> LayerSpec:
    """``spec`` cut to a band of ``rows`` unit rows, as an interior band sees it.

    The band reads the input rows its outputs need, halo included (no padding rows), and the
    layer's left and right padding become stored columns: an unpadded layer of height
    ``(rows * f - 1) * stride + kernel_h`` and width ``W + 2 * padding``. Its positions and
    vectors are exactly the band's; its tile loads exceed the real ones by the ``2 * padding``
    padding columns.
    """
    unit_h, _, f = unit_grid(spec)
    if rows >= unit_h:
        return spec
    return dataclasses.replace(
        spec,
        height=(rows * f - 1) * spec.stride + spec.kernel_h,
        width=spec.width + 2 * spec.padding,
        padding=0,
    )


def _estimate(spec: LayerSpec, model: AcceleratorModel) -> float:
    """Closed-form estimate (cycles) of a share, to rank split candidates.

    The fewer jobs of the two dataflows: weight broadcast, ``ceil(units / M)`` groups per
    filter; activation broadcast, ``ceil(C_out / M)`` filter steps per unit; a job per filter
    (step), group and pooled sub-position; a job's L chunks take ``ceil(L / S)`` cycles.
    """
    xpu, mem = model.xpu, memory_for(spec, model)
    unit_h, unit_w, f = unit_grid(spec)
    units, m = unit_h * unit_w, xpu.n_xpes
    chunks = -(-spec.k // xpu.n_lanes)
    jobs = min(spec.out_channels * -(-units // m), -(-spec.out_channels // m) * units) * f * f
    compute = jobs * -(-chunks // xpu.symbols_per_cycle)
    readout = jobs * -(-chunks // xpu.gamma) * xpu.clock_hz / model.readout_rate_Sps
    in_rows = min(spec.height, (unit_h * f - 1) * spec.stride + spec.kernel_h)
    act_words = in_rows * spec.width * -(-spec.in_channels // xpu.n_lanes)
    wgt_words = spec.out_channels * chunks
    load = (act_words + wgt_words) * mem.cycles_per_word + mem.latency_cycles
    first = min(act_words, xpu.act_buffer_depth) * mem.cycles_per_word
    return max(compute + first, readout, load)


def plan_split(
    spec: LayerSpec, repeat: int, model: AcceleratorModel, *, readout_bound: bool = True
) -> Share:
    """Deal ``repeat`` runs of ``spec`` out to the XPUs (see the module docstring).

    Returns the :class:`Share` whose busiest XPU finishes first (by :func:`timing.layer_cycles`
    and the readout-rate bound) among the best few by estimate that fit the XPU's buffers; ties
    go to fewer runs. Raises :class:`~oxbnn.models.tiling.TilingError` if no share fits.
    """
    x = model.n_xpus
    if repeat >= x:
        return Share(spec, 1, 1, -(-repeat // x), x, repeat)
    g = x // repeat
    c_out = spec.out_channels
    unit_h, _, _ = unit_grid(spec)
    per_xpu: list[int] = []
    for gc in range(1, min(g, c_out) + 1):
        c = -(-c_out // gc)
        if not per_xpu or per_xpu[-1] != c:
            per_xpu.append(c)
    candidates: list[Share] = []
    for c in per_xpu:
        gc = -(-c_out // c)
        gs = min(g // gc, unit_h)
        rows = -(-unit_h // gs)
        gs = -(-unit_h // rows)
        share_spec = _row_share(dataclasses.replace(spec, out_channels=c), rows)
        candidates.append(Share(share_spec, gc, gs, 1, gc * gs * repeat, gc * gs * repeat))
    candidates.sort(key=lambda s: (_estimate(s.spec, model), s.runs))
    timed: list[tuple[float, int, Share]] = []
    error: tiling.TilingError | None = None
    for share in candidates:  # the best few by estimate that the XPU can run at all
        try:
            seconds = share_seconds(share.spec, model, readout_bound)[0]
        except tiling.TilingError as exc:
            error = error or exc
            continue
        timed.append((seconds, share.runs, share))
        if len(timed) == _EXACT_CANDIDATES:
            break
    if not timed:
        assert error is not None
        raise error
    return min(timed, key=lambda t: (t[0], t[1]))[2]


def share_seconds(
    spec: LayerSpec, model: AcceleratorModel, readout_bound: bool
) -> tuple[float, float, timing.CycleBreakdown]:
    """``(seconds, readout-bound seconds, breakdown)`` of one run of a share on one XPU."""
    bd = _breakdown(spec, model.xpu, memory_for(spec, model))
    plan = bd.plan
    t_readout = plan.jobs * plan.readouts / model.readout_rate_Sps
    t_cycles = bd.total / model.clock_hz
    return (max(t_cycles, t_readout) if readout_bound else t_cycles), t_readout, bd
