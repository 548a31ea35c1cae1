"""Closed-form cycle model of one XPU running one layer; it equals the RTL's count exactly.

The model mirrors the schedule of :mod:`oxbnn.rtl` (``Xpu``) stage by stage; it does not simulate
cycles. The tests run the RTL under Amaranth's simulator on many random layers and require the
measured cycle count to *equal* :func:`layer_cycles` and every ``pca_sample`` strobe to fall on a
slot of :func:`sample_slots`. Nothing here imports amaranth or ``oxbnn.rtl``.

Counting convention
-------------------
Cycle 0 is the cycle in which the host holds ``start`` high (the descriptor is latched at the end
of it). The layer's count is the index of the cycle in which ``done`` is high. Everything is in
clock cycles of ``xpu.clock_hz = bit_rate / S``: a cycle carries S slots per lane (S =
``xpu.symbols_per_cycle``; :attr:`CycleBreakdown.slots` is the count in slots). Strobes are
given per slot: slot ``s`` of cycle ``t`` is slot index ``t S + s``.

The schedule the RTL follows (docs/design.md §4)
------------------------------------------------
**Work** (:data:`~oxbnn.models.tiling.DATAFLOWS`). A unit is one output position, or, when the
layer pools, one pooled position whose 2 x 2 window is computed as four consecutive *sub-jobs*
by the same XPE (the readout ORs them). Units are numbered row-major over the unit grid
``unit_h x unit_w``. In the weight-broadcast dataflow all M XPEs work on one filter and M
different units (a *group* is M consecutive units of one band); in the activation-broadcast
dataflow they work on one unit and M filters (a group is one unit, a filter step M filters). A
job is one vector on every XPE of a group. Both dataflows walk the same loop nest and every
vector has the same schedule, so the count below serves both; only the number of jobs of a
(band, weight tile) pair differs (:meth:`~oxbnn.models.tiling.TilingPlan.pair_jobs`).

**Dataflow choice** (``layer_cycles(dataflow="auto")``, the default everywhere): the
host runs each layer in the dataflow this model counts fewer cycles for (weight broadcast on a
tie, and whenever activation broadcast cannot map: a weight bank that cannot hold M filters).
The descriptor's ``act_bcast`` bit carries the choice to the XPU.

**Tiling plan**: see :mod:`oxbnn.models.tiling` (bands, weight tiles, the walk and the
load order).

**Vector (job) schedule** (:func:`~oxbnn.models.tiling.beat_cycles`). One vector is ``L =
ceil(K/N)`` chunks in ``ceil(L/S)`` *beats*: beat ``b`` puts chunks ``b S .. b S + S - 1`` on
the S slots of one cycle (chunk ``b S + s`` in slot ``s``; slots past the vector's end are dark,
and the next vector starts at slot 0 of its own cycle). Each XPE has S *slot engines*; engine
``s`` builds chunk ``b S + s`` from the words of the im2col vector it touches
(:func:`~oxbnn.models.tiling.chunk_reads`: word ``j`` starts at bit ``(j // W_p) * C + (j % W_p)
* N``, ``W_p`` words per pixel), reading up to three of them per cycle
(:data:`~oxbnn.models.tiling.READS_PER_SLOT`), so chunk ``k`` takes ``ceil(reads_k / 3)`` cycles
and a beat, whose engines run in lock-step, the largest of its chunks. A chunk touches at most
three words unless the pixels are thinner than about ``N / 2`` (``C = 3`` first layers are read
bound), so a vector normally takes ``ceil(L/S)`` cycles. Jobs follow each other with no bubble.

**Pipeline.** A beat whose last reads issue in cycle ``t`` is on the optical port in cycle ``t + 2``
(:data:`ISSUE_TO_PORT_CYCLES`: the tile buffers' read and the gearbox's output register);
``pca_reset`` comes with the first chunk of every run of γ chunks and ``pca_sample`` with the last
one and with the last chunk of the vector, each in the slot of its chunk. The codes of the samples
of port cycle ``P`` (one ADC channel per sample of the cycle, ``XpuParams.adc_channels``) arrive in
``P + adc_latency``; the result of a unit enters the result FIFO then and is offered on the result
stream in ``P + adc_latency + 1`` (:data:`CODE_TO_RESULT_CYCLES`); ``done`` is high one cycle after
the last result is accepted (:data:`RESULT_TO_DONE_CYCLES`). A beat also waits, before it
leaves, for its ADC bank (``adc_conversion_cycles > 1``) and, for each ``pca_reset`` in it, for
the capacitor that run integrates on to have discharged (``reset_dead_slots`` R slots after
its sample; the runs take the ``pca_capacitors`` capacitors in rotation): :class:`_BeatClock`.
These constants restate the RTL's latencies (this model does not import the RTL);
``tests/test_latencies.py`` measures each in simulation and holds it equal to the RTL
component's property and to the constant here.

**Loads.** A tile load is *requested* in the first cycle ``q`` in which the buffer's write stream
is ready after the previous tile of that stream was complete; the external memory
(:class:`MemoryModel`) presents word ``i`` in cycle ``q + latency + i * cycles_per_word`` and the
buffer accepts it at once, so a tile of ``n`` words is complete in ``z = q + latency + (n - 1) *
cycles_per_word`` and usable from ``z + 1``. Both loaders start in cycle 1
(:data:`RUN_START_CYCLE`); a loader asks for its next tile in ``z + 1`` if the other bank is
free, else in the cycle after the last issue cycle that read the bank it will overwrite. A pair
starts in the first cycle in which the previous pair has issued its last cycle and its tiles
(and, for the first pair, the thresholds) are usable.

**Back-pressure.** The sequencer only starts a unit when the result FIFO is sure to have room for
it (credits); the FIFO is deep enough that a host that is always ready never causes a stall. The
model predicts that no-stall count; a host that drops ``ready`` can only delay the layer, so the
measured count is then at least the prediction (the stall cycles interact with the load schedule,
so they do not simply add up).

Micro-cases (checked by ``tests/test_timing.py``; ``N = 4, M = 2``, ADC latency 2, memory latency
1 and one word per cycle, buffers large unless stated)
---------------------------------------------------------------------------------------------------
1. **1x1 conv, K = 10, gamma = 2**: ``H x W x C = 1 x 2 x 10``, one filter. A pixel is 3 words
   (4 + 4 + 2 bits), ``L = 3``, each chunk needs one word: ``T_v = 3``. Two units, one group, one
   job. Activation tile 2 x 3 = 6 words: requested in 1, complete in 1 + 1 + 5 = 7. Weights 3
   words: complete in 4. Threshold: 2. First issue ``max(1, 8, 5, 3) = 8``; issue cycles 8, 9, 10;
   last chunk on the port in 12, its code in 14, result offered and taken in 15, **done = 16**.
   Samples (every 2 chunks and at the end): ports 11 and 12.
2. **fc, K = 10, 3 filters, gamma = 2**: one unit (one XPE busy, the other dark). Activation
   3 words: complete in 4; weights 9 words: 10; thresholds 3: 4. First issue 11; three jobs of 3
   cycles: last issue 19; **done = 19 + 2 + 2 + 1 + 1 = 25**.
3. **3x3 conv on C = 1 (read bound), gamma = 2**: ``3 x 3 x 1``, padding 1, one filter, ``K = 9``.
   Words are 1 bit: chunk 0 needs 4 words (2 cycles), chunk 1 4 words (2), chunk 2 one word (1):
   ``T_v = 5``. Nine units, five groups. Activation 9 words: complete in 10; weights 3 words: 4;
   first issue 11; 5 jobs x 5 cycles: last issue 35; **done = 35 + 6 = 41**.
4. **Tiling with double buffering, gamma = 2**: ``4 x 1 x 4`` 1x1 conv, 2 filters,
   ``act_buffer_depth = 1`` so each of the 4 bands holds one 1-word row; ``L = T_v = 1``.
   Act loads complete in 2 and 4; weights (2 words) in 3; thresholds (2) in 3. Band 0 issues in
   4-5 and frees bank 0 from 6, so act load 2 is requested in 6 (complete 7); band 1 issues in
   6-7; load 3 is requested in 8 (complete 9); band 2 issues in 8-9, band 3 in 10-11:
   **done = 11 + 6 = 17**.
5. **Max-pool, gamma = 1**: ``2 x 4 x 4`` 1x1 conv, one filter, pooled to 1 x 2: two units, one
   group, four sub-jobs of ``T_v = 1``. Activation 8 words: complete in 9; first issue 10; last
   issue 13; **done = 19**.
6. **K > gamma N, gamma = 2**: ``1 x 1 x 20`` (5 words, ``L = 5``), one filter: three readouts of
   2, 2 and 1 chunks. Loads complete in 6 (act and weights); first issue 7, last 11; samples on
   the port in 10, 12 and 13; **done = 17**.
7. **PCA reset dead slots, R = 3** (a capacitor sampled in slot ``a`` may start a run from ``a +
   4``), case 1's layer (L = 3: runs of chunks 0-1 and chunk 2; first issue 8). **P = 1**: chunk 0
   leaves in 8 (reset, capacitor 0), chunk 1 in 9 (sample: free from 13), chunk 2 (reset and
   sample) waits for capacitor 0 until 13: 3 cycles of ``reset_stall``, **done = 13 + 6 = 19**,
   samples on the port in 11 and 15, resets in 10 and 15. **P = 2**: chunk 2's run is on
   capacitor 1, never used: no wait, **done = 16**. Case 2's layer (three filters, first issue
   11), **P = 2**: job 0 leaves in 11 (capacitor 0), 12 (sample: 0 free from 16), 13 (capacitor
   1; sample: 1 free from 17); job 1's first chunk (capacitor 0) waits until 16, then 17 (0 free
   from 21), 18 (1 is free since 17; 1 free from 22); job 2: 21 (waited 2), 22, 23: 4 cycles of
   ``reset_stall``, **done = 23 + 6 = 29**. **P = 1** there: every run waits 3 cycles for the
   previous one's sample + 4 slots: issue cycles 11, 12, 16 | 20, 21, 25 | 29, 30, 34,
   5 x 3 = 15 stalled, **done = 40**. At **S = 2** (gamma % S = 0, one reset per beat), case 1's
   layer, P = 1: beat 0 (chunks 0, 1) leaves in 8 and samples in slot index 17 (free from 21);
   beat 1 (chunk 2, reset in its slot 0) needs ``2 e >= 21``: e = 11, **done = 17** (not 15);
   samples on the port in slot indices 21 and 26, resets in 20 and 26.
8. **Activation broadcast** (``dataflow="activation_broadcast"``; cases 1-7 are weight
   broadcast). Case 2's layer (fc, K = 10, 3 filters): one unit, filter steps of M = 2
   filters: 2 jobs of 3 cycles. Loads as in case 2 (weights complete in 10); first issue 11,
   last 16; **done = 16 + 6 = 22** (weight broadcast: 25). Case 1's layer with 3 filters
   (``1 x 2 x 10``): 2 units, 2 filter steps: 4 jobs (weight broadcast: 3 filters x 1 group =
   3). Activation tile complete in 7, weights (9 words) in 10, thresholds in 4; first issue 11:
   **done = 22 + 6 = 28** against weight broadcast's **25**, so ``"auto"`` picks weight
   broadcast there. Tiled weights, ``wgt_buffer_depth = 6``, fc K = 10 with 5 filters: tiles
   of 2, 2 and 1 filters (one load each), one job per tile. Activation complete in 4,
   thresholds in 6, tile 0 in 7: pair 0 issues 8-10; tile 1 requested in 8, complete in 14,
   pair 1 issues 15-17; tile 2 requested in 15, complete in 18, pair 2 issues 19-21: **done =
   27** (weight broadcast, 2 + 2 + 1 jobs: 8-13, 15-20, 21-23, **done = 29**).
9. **Weights outside the bands** (weight broadcast, memory 4 cycles per word, latency 1):
   ``2 x 1 x 4`` 1x1 conv, 4 filters, ``act_buffer_depth = 1`` (2 bands of one word, A = 2),
   ``wgt_buffer_depth = 2`` (2 tiles of 2 filters, W = 4). Weights outside: the walk is (w0,
   b0), (w0, b1), (w1, b0), (w1, b1), each band loaded twice (8 words in all, against 10 with
   the bands outside). Pairs have 2 jobs of one cycle. Thresholds (4 words) complete in 1 + 1 +
   3 x 4 = 14; activation loads in 2 and 4; weight tiles in 6 and 12. Pair 0 issues 15-16,
   pair 1 17-18; band 0's second load is requested when its bank is free, in 17 (complete 18):
   pair 2 issues 19-20;
   the last band load is requested in 19 (complete 20): pair 3 issues 21-22, **done = 28**.
   Bands outside would load the weight tiles once per pair: the third weight load waits for
   bank 0 until 17 and completes in 22, the fourth in 28: **done = 36**. The host takes the
   weights outside.
10. **Chaining** (:func:`chain_cycles`): case 2's layer twice. Alone each is done in 25. The
    second is taken in 5 (the first's thresholds are stored in 4), its thresholds stored in
    5 + 1 + 1 + 2 = 9; its activations (3 words) are requested in 6 (queued from the cycle
    after it is taken; the first's are complete in 4): complete in 9; its weights (9 words)
    once the first's are complete (10), in 11: complete in 20. It starts in the first's done,
    25, issues from 27 (the cycle after its ``first``) to 35 and is **done in 41**: 16 cycles
    of its own, the chain 41 against 50.

Chaining
--------
While a layer runs the host may offer the next; the host interface takes it (one deep) once
the running layer's thresholds are stored, loads its thresholds into the other bank at once,
and starts it in the cycle of the running layer's ``done`` (its cycle 0). Each stream's loads
form one queue over the chain: the next layer's first activation and weight tiles are
requested once they are announced (the cycle after it is taken), the stream's previous load is
complete and, from a stream's third load on, the bank of the load two before is free, exactly
as within a layer; its other loads once its walkers run (from its cycle 2). Every bank of a
layer is released by its last issue cycle. A *dependent* layer's activations are the previous
layer's results, which the host streams from that layer's ``done``. The sequencer issues from
a layer's cycle 2, which binds only when its tiles were prefetched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .configs import XpuParams
from .layer import LayerSpec
from .tiling import DATAFLOWS, WALKS, TilingError, TilingPlan, tiling_plan

__all__ = [
    "MemoryModel",
    "DATAFLOW_CHOICES",
    "WALK_CHOICES",
    "plan_cycles",
    "chain_cycles",
    "ChainBreakdown",
    "chip_cycles",
    "ChipBreakdown",
    "GB_MEMORY",
    "CycleBreakdown",
    "layer_cycles",
    "seconds",
    "sample_slots",
    "reset_slots",
    "RUN_START_CYCLE",
    "ISSUE_TO_PORT_CYCLES",
    "CODE_TO_RESULT_CYCLES",
    "RESULT_TO_DONE_CYCLES",
]

#: First cycle in which the loaders and the sequencer act (cycle 0 latches the descriptor).
RUN_START_CYCLE = 1
#: Issue cycle of a chunk's last read -> cycle the chunk is on the optical port.
ISSUE_TO_PORT_CYCLES = 2
#: Cycle a unit's last ADC code arrives -> cycle its result is offered on the result stream.
CODE_TO_RESULT_CYCLES = 1
#: Cycle the last result is accepted -> cycle ``done`` is high.
RESULT_TO_DONE_CYCLES = 1


@dataclass(frozen=True)
class MemoryModel:
    """The external memory that streams tiles into the XPU (one memory port per stream).

    Parameters
    ----------
    latency_cycles : int
        Cycles from a tile request to its first word; at least 1.
    cycles_per_word : int
        Cycles between consecutive words of a tile (1 = one word per cycle, the stream's peak).
    """

    latency_cycles: int = 1
    cycles_per_word: int = 1

    def __post_init__(self) -> None:
        for name in ("latency_cycles", "cycles_per_word"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")

    def tile_end(self, request: int, words: int) -> int:
        """Cycle in which the last word of a tile requested in ``request`` is accepted."""
        return request + self.latency_cycles + (words - 1) * self.cycles_per_word


@dataclass(frozen=True)
class CycleBreakdown:
    """Cycle count of one layer and its parts (``total = fill + compute + adc_stall + reset_stall
    + load + readout + drain``).

    Attributes
    ----------
    total : int
        Index of the cycle in which ``done`` is high (cycle 0 holds ``start``).
    fill : int
        Cycles before the first issue cycle: descriptor latch and the first tile loads.
    compute : int
        Issue cycles of the vectors without ADC stalls: ``jobs * vector_cycles``.
    adc_stall : int
        Issue cycles in which a complete beat waited for its ADC bank (``adc_conversion_cycles
        > 1``).
    reset_stall : int
        Issue cycles in which a complete beat waited for a PCA capacitor to discharge
        (``reset_dead_slots > 0``) beyond any wait for its ADC bank (a beat held by both counts
        its wait up to the bank's free cycle as ``adc_stall``).
    load : int
        Cycles after the first issue in which the sequencer waited for a tile.
    readout : int
        Cycles between the last issue cycle and the acceptance of the last result (port, ADC and
        result pipeline).
    drain : int
        Cycles from the acceptance of the last result to ``done``.
    clock_hz : float
        The clock these cycles are counted in (``bit_rate / S``).
    plan : TilingPlan
        The plan the count assumes.
    pair_starts : tuple of int
        First issue cycle of each (band, weight tile) pair.
    """

    total: int
    fill: int
    compute: int
    load: int
    readout: int
    drain: int
    clock_hz: float
    plan: TilingPlan = field(repr=False)
    pair_starts: tuple[int, ...] = field(repr=False)
    adc_stall: int = 0
    reset_stall: int = 0

    @property
    def seconds(self) -> float:
        """``total`` at ``clock_hz``."""
        return self.total / self.clock_hz

    @property
    def slots(self) -> int:
        """``total`` in slots per lane: cycles x S (``xpu.symbols_per_cycle``)."""
        return self.total * self.plan.xpu.symbols_per_cycle


class _BeatClock:
    """When each beat of a layer's jobs leaves: its reads, its ADC bank and its capacitors.

    All XPEs work in lock-step, so one state serves them all. Beat ``b`` of a vector needs
    ``beat_cycles[b]`` issue cycles, and then waits

    * if it samples, until its **ADC bank** is free (the sampling beats take the ``adc_banks``
      banks in rotation, from bank 0 at the start): a bank that started a conversion in cycle
      ``t`` takes the next in ``t + adc_conversion_cycles``;
    * for every ``pca_reset`` in its slot ``s``, until that run's **capacitor** is free: the runs
      take the ``P = pca_capacitors`` capacitors in rotation (from capacitor 0 at the start, all
      discharged), and a capacitor sampled in slot index ``a = t S + s`` is free from ``a + 1 +
      R`` (``R = reset_dead_slots``), so a reset in slot ``s`` of a beat leaving in cycle ``e``
      needs ``e S + s >= free``, i.e. ``e >= ceil((free - s) / S)``. Only the samples of earlier
      beats count (as in the RTL; XpuParams' rotation check makes that exact).

    The wait is split into ``adc_stall`` (from the end of the reads to the ADC bank's free cycle)
    and ``reset_stall`` (what the capacitors add beyond that): a beat held by both counts first
    as ADC stall. The state between jobs is the banks' first free cycles relative to the job's
    start, the capacitors' free slots relative to its first slot and both rotation pointers;
    jobs from equal states take equal time, so each distinct state is worked out once.
    """

    def __init__(self, plan: TilingPlan) -> None:
        xpu = plan.xpu
        self.conv, self.banks = xpu.adc_conversion_cycles, xpu.adc_banks
        self.r, self.caps = xpu.reset_dead_slots, xpu.pca_capacitors
        self.s = s = xpu.symbols_per_cycle
        self.reads = np.asarray(plan.beat_cycles, dtype=np.int64)
        k = np.arange(plan.chunks)
        sampled = k[((k + 1) % xpu.gamma == 0) | (k == plan.chunks - 1)]
        self.samples = np.zeros(plan.beats, dtype=bool)
        self.samples[sampled // s] = True
        # Per beat: the slots of its resets and of its samples, ascending.
        reset_at = k[k % xpu.gamma == 0]
        self.reset_slots = [tuple(int(c % s) for c in reset_at if c // s == b) for b in
                            range(plan.beats)]  # fmt: skip
        self.sample_slots = [tuple(int(c % s) for c in sampled if c // s == b) for b in
                             range(plan.beats)]  # fmt: skip
        self.tv = int(self.reads.sum())
        self.free = [RUN_START_CYCLE] * self.banks  # first cycle each bank may start
        self.ptr = 0
        self.cap_free = [0] * self.caps  # first slot index each capacitor may start a run
        self.cap_ptr = 0  # the capacitor of the next run
        self.adc_stalled = 0
        self.reset_stalled = 0
        self._memo: dict[tuple, tuple] = {}

    @property
    def trivial(self) -> bool:
        """No beat ever waits: every ADC channel is free by the next cycle and resets are
        instantaneous."""
        return self.conv == 1 and self.r == 0

    def job(self, start: int) -> tuple[int, ...]:
        """Issue cycle in which each beat of a job starting in ``start`` leaves; advances the
        state to the job's end (its last beat's cycle + 1)."""
        s = self.s
        key = (
            self.ptr,
            tuple(max(0, f - start) for f in self.free),
            self.cap_ptr,
            tuple(max(0, f - start * s) for f in self.cap_free),
        )
        hit = self._memo.get(key)
        if hit is None:
            free, ptr, cap_free, cptr = list(key[1]), self.ptr, list(key[3]), self.cap_ptr
            t, emits, adc_wait, cap_wait = 0, [], 0, 0
            beats = zip(self.reads.tolist(), self.samples.tolist(), self.reset_slots,
                        self.sample_slots, strict=True)  # fmt: skip
            for reads, samples, resets, sample_at in beats:
                e0 = t + reads - 1
                e_adc = max(e0, free[ptr]) if samples else e0
                e = e_adc
                for i, slot in enumerate(resets):
                    e = max(e, -(-(cap_free[(cptr + i) % self.caps] - slot) // s))
                adc_wait += e_adc - e0
                cap_wait += e - e_adc
                if samples:
                    free[ptr] = e + self.conv
                    ptr = (ptr + 1) % self.banks
                for slot in sample_at:  # the run of this sample began n_le(slot) resets later
                    n_le = sum(r <= slot for r in resets)
                    cap_free[(cptr + n_le - 1) % self.caps] = e * s + slot + 1 + self.r
                cptr = (cptr + len(resets)) % self.caps
                emits.append(e)
                t = e + 1
            hit = (tuple(free), ptr, tuple(cap_free), cptr, tuple(emits), adc_wait, cap_wait)
            self._memo[key] = hit
        free, self.ptr, cap_free, self.cap_ptr, emits, adc_wait, cap_wait = hit
        self.free = [start + f for f in free]
        self.cap_free = [start * s + f for f in cap_free]
        self.adc_stalled += adc_wait
        self.reset_stalled += cap_wait
        return tuple(start + e for e in emits)

    def run(self, start: int, jobs: int) -> int:
        """Runs ``jobs`` back-to-back jobs from ``start``; returns the cycle after the last."""
        if self.trivial:
            return start + jobs * self.tv
        t = start
        for _ in range(jobs):
            t = self.job(t)[-1] + 1
        return t


#: What ``dataflow=`` accepts: ``"auto"`` (the faster, :func:`layer_cycles`) or one of
#: :data:`~oxbnn.models.tiling.DATAFLOWS`.
DATAFLOW_CHOICES = ("auto", *DATAFLOWS)
#: What ``walk=`` accepts: ``"auto"`` (the faster) or one of :data:`~oxbnn.models.tiling.WALKS`.
WALK_CHOICES = ("auto", *WALKS)


def layer_cycles(
    spec: LayerSpec,
    xpu: XpuParams,
    mem: MemoryModel | None = None,
    *,
    dataflow: str = "auto",
    walk: str = "auto",
) -> CycleBreakdown:
    """Cycles of ``spec`` on ``xpu`` fed by ``mem`` (default :class:`MemoryModel`), no stalls,
    in the plan the host runs: the fewest cycles of the candidate plans.

    ``dataflow`` is one of :data:`DATAFLOW_CHOICES`: a named one, or ``"auto"`` for every
    dataflow that maps; ``walk`` one of :data:`WALK_CHOICES`: ``"bands_outer"``,
    ``"weights_outer"`` (:func:`~oxbnn.models.tiling.tiling_plan`'s ``weights_outer``; a layer
    with one band or one weight tile has only the first), or ``"auto"`` for both. The candidates
    are the plans of those dataflows in those walks; the first of the fewest cycles wins (weight
    broadcast before activation broadcast, bands outside before weights outside).
    ``result.plan`` is the plan chosen (:func:`plan_cycles` counts a given plan).
    """
    if dataflow not in DATAFLOW_CHOICES:
        raise TilingError(
            f"unknown dataflow {dataflow!r}; expected one of {list(DATAFLOW_CHOICES)}"
        )
    if walk not in WALK_CHOICES:
        raise TilingError(f"unknown walk {walk!r}; expected one of {list(WALK_CHOICES)}")
    best, first_error = None, None
    for name in DATAFLOWS if dataflow == "auto" else (dataflow,):
        try:
            plan = tiling_plan(spec, xpu, dataflow=name, weights_outer=walk == "weights_outer")
        except TilingError as exc:
            first_error = first_error or exc
            continue
        plans = [plan]
        if walk == "auto" and len(plan.bands) > 1 and len(plan.weight_tiles) > 1:
            plans.append(tiling_plan(spec, xpu, dataflow=name, weights_outer=True))
        for p in plans:
            bd = plan_cycles(p, mem)
            if best is None or bd.total < best.total:
                best = bd
    if best is None:
        raise first_error
    return best


def plan_cycles(plan: TilingPlan, mem: MemoryModel | None = None) -> CycleBreakdown:
    """Cycles of the layer of ``plan`` walked as ``plan`` says, fed by ``mem``, no stalls (the
    schedule of the module docstring)."""
    mem = MemoryModel() if mem is None else mem
    return _schedule(plan, mem, 0, 0, {"act": _Loads(), "wgt": _Loads()}, False)[0]


@dataclass
class _Loads:
    """One stream's tile loads so far, over a whole chain of layers (the two banks are a queue
    of tiles from layer to layer): the cycle each was complete, and the first cycle its bank
    may be overwritten (the cycle after the last issue cycle that read it)."""

    ends: list[int] = field(default_factory=list)
    frees: dict[int, int] = field(default_factory=dict)


def _schedule(
    plan: TilingPlan,
    mem: MemoryModel,
    t0: int,
    taken: int,
    streams: dict[str, _Loads],
    act_after_start: bool,
    tile_end: Callable[[str, int, int, int], int] | None = None,
) -> tuple[CycleBreakdown, int | None, dict[str, int]]:
    """The layer of ``plan`` starting (``run``) in absolute cycle ``t0``, taken by the host
    interface in ``taken <= t0``, after the loads already in ``streams`` (extended here).

    Its first activation and weight loads may be announced from ``taken + 1`` (prefetch,
    :class:`~oxbnn.rtl.xpu.Xpu`; for a layer that is not queued ``taken = t0``), its others
    from ``t0 + 2`` (the walkers step past a prefetched tile in ``t0 + 1``, their ``first``
    cycle; otherwise the first load is not complete before ``t0 + 2`` anyway);
    ``act_after_start``: its activations are the previous layer's results, which the host has
    from that layer's ``done`` (``t0``), so its first activation load is not requested before
    ``t0``. Returns the layer's breakdown, counted from ``t0``, the absolute cycle its last
    threshold was stored (None without thresholds) and the absolute cycles its first activation
    and weight loads were complete (``{"act": ..., "wgt": ...}``). ``tile_end(stream, load,
    request, words)``, if given, is the cycle a load requested in ``request`` is complete in
    place of ``mem``'s (the chip's shared global buffer, :func:`chip_cycles`)."""
    xpu = plan.xpu
    run = t0 + RUN_START_CYCLE
    words = {
        "act": [plan.bands[b].words for b in plan.act_loads],
        "wgt": [plan.weight_tiles[w].words for w in plan.wgt_loads],
    }
    base = {k: len(v.ends) for k, v in streams.items()}
    loads = [plan.pair_loads(p) for p in range(len(plan.pairs))]
    last_pair = [{a: p for p, (a, _) in enumerate(loads)}, {j: p for p, (_, j) in enumerate(loads)}]

    def load_end(stream: str, i: int) -> int:
        """Cycle load ``i`` of the layer's ``stream`` is complete: requested once it is
        announced, after the stream's previous load is complete and, from the stream's third
        load on, once the bank of the load two before it is free."""
        st, g = streams[stream], base[stream] + i
        if g == len(st.ends):
            if i:  # the walker's: from the cycle after ``first`` (its first tile taken there)
                q = run + 1
            elif stream == "act" and act_after_start:
                q = t0  # the host has the previous layer's last result (taken in t0 - 1)
            else:  # announced from the descriptor, queued or not
                q = taken + RUN_START_CYCLE
            if g:
                q = max(q, st.ends[g - 1] + 1)
            if g >= 2:
                q = max(q, st.frees[g - 2])
            if tile_end is None:
                st.ends.append(mem.tile_end(q, words[stream][i]))
            else:
                st.ends.append(tile_end(stream, i, q, words[stream][i]))
        return st.ends[g]

    thr_end = mem.tile_end(taken + RUN_START_CYCLE, plan.threshold_words) if (
        plan.threshold_words) else None  # fmt: skip
    starts = []
    # The sequencer issues from the cycle after ``run``'s (its slot engines load the latched
    # descriptor in it): binding only when the tiles were prefetched.
    prev_end = run + 1
    waited = 0
    clock = _BeatClock(plan)  # relative to t0: the sequencer clears the ADC and PCA state
    for p, (a, j) in enumerate(loads):
        start = max(prev_end, load_end("act", a) + 1, load_end("wgt", j) + 1)
        if p == 0 and thr_end is not None:
            start = max(start, thr_end + 1)
        if p > 0:
            waited += start - prev_end
        starts.append(start - t0)
        prev_end = t0 + clock.run(start - t0, plan.pair_jobs(p))
        for stream, i, last in (("act", a, last_pair[0]), ("wgt", j, last_pair[1])):
            if last[i] == p:
                streams[stream].frees[base[stream] + i] = prev_end
    last_issue = prev_end - 1 - t0
    result = last_issue + ISSUE_TO_PORT_CYCLES + xpu.adc_latency + CODE_TO_RESULT_CYCLES
    done = result + RESULT_TO_DONE_CYCLES
    bd = CycleBreakdown(
        total=done,
        fill=starts[0],
        compute=plan.jobs * plan.vector_cycles,
        adc_stall=clock.adc_stalled,
        reset_stall=clock.reset_stalled,
        load=waited,
        readout=result - last_issue - 1,
        drain=done - result,
        clock_hz=xpu.clock_hz,
        plan=plan,
        pair_starts=tuple(starts),
    )
    firsts = {k: streams[k].ends[base[k]] for k in streams}
    return bd, thr_end, firsts


@dataclass(frozen=True)
class ChainBreakdown:
    """Cycles of layers run back to back on one XPU with the descriptor queue (chaining).

    Attributes
    ----------
    total : int
        Cycle of the last layer's ``done`` (cycle 0: the first layer's ``start``).
    starts : tuple of int
        Cycle each layer starts (``run``): 0, then the previous layer's ``done``.
    taken : tuple of int
        Cycle each layer's descriptor is taken (queued; the first's: 0).
    layers : tuple of CycleBreakdown
        Each layer's breakdown, counted from its start (``starts[i] + layers[i].total`` is its
        ``done``).
    loaded : tuple of dict
        Per layer, the cycle its thresholds were all stored (``"thr"``, None without) and its
        first activation and weight loads complete (``"act"``, ``"wgt"``): before its start
        they were prefetched.
    """

    total: int
    starts: tuple[int, ...]
    taken: tuple[int, ...]
    layers: tuple[CycleBreakdown, ...]
    loaded: tuple[dict[str, int | None], ...] = ()

    def prefetched(self, i: int) -> dict[str, bool]:
        """Which of layer ``i``'s thresholds (``"thr"``: also true without any) and first
        activation and weight tiles were complete before it started."""
        start = self.starts[i]
        return {k: v is None or v < start for k, v in self.loaded[i].items()}

    @property
    def clock_hz(self) -> float:
        return self.layers[0].clock_hz

    @property
    def seconds(self) -> float:
        return self.total / self.clock_hz


def chain_cycles(
    plans: Sequence[TilingPlan],
    mem: MemoryModel | Sequence[MemoryModel] | None = None,
    *,
    dependent: bool | Sequence[bool] = False,
) -> ChainBreakdown:
    """Cycles of ``plans`` run as a chain on one XPU fed by ``mem``, no stalls.

    The host offers each layer as soon as the previous one is taken; the host interface queues
    it (one deep) once the running layer's thresholds are stored, loads its thresholds at once
    and starts it in the cycle of the running layer's ``done``; its first activation and weight
    tiles load as soon as the running layer's last ones are complete and a bank is free
    (:class:`~oxbnn.rtl.xpu.Xpu`). ``mem``: one memory model, or one per layer (the system
    model's, whose word rate depends on the layer). ``dependent``: a layer takes the previous
    one's output, which the host has only at that layer's ``done``, so its activations are
    streamed from its start (its weights and thresholds are still prefetched); one flag for
    every layer after the first, or one per layer (the first's is ignored).
    """
    if not plans:
        raise ValueError("chain_cycles needs at least one layer")
    n = len(plans)
    mems = [mem] * n if mem is None or isinstance(mem, MemoryModel) else list(mem)
    deps = [dependent] * n if isinstance(dependent, bool) else list(dependent)
    if len(mems) != n or len(deps) != n:
        raise ValueError(
            f"chain_cycles: {n} layers, {len(mems)} memory models and {len(deps)} dependent flags"
        )
    streams = {"act": _Loads(), "wgt": _Loads()}
    t0, taken, thr_end = 0, 0, None
    starts, takens, layers, loaded = [], [], [], []
    for i, plan in enumerate(plans):
        if i:
            # Offered from the cycle after the previous layer was taken (it runs by then);
            # taken once that layer's thresholds are stored.
            taken = max(starts[-1] + 1, (thr_end + 1) if thr_end is not None else 0)
        m = MemoryModel() if mems[i] is None else mems[i]
        bd, thr_end, firsts = _schedule(plan, m, t0, taken, streams, deps[i] and i > 0)
        starts.append(t0)
        takens.append(taken)
        layers.append(bd)
        loaded.append({"thr": thr_end, **firsts})
        t0 += bd.total
    return ChainBreakdown(
        total=t0,
        starts=tuple(starts),
        taken=tuple(takens),
        layers=tuple(layers),
        loaded=tuple(loaded),
    )


#: What an XPU of a chip sees of the global buffer through an uncontended channel
#: (:class:`~oxbnn.rtl.chip.Chip`): a tile's first word two cycles after the tile buffer is
#: ready for it (the channel asks from the cycle after, when the registered ``next_ready`` is
#: high, and a word read in a cycle arrives in the next), then one word per cycle.
GB_MEMORY = MemoryModel(latency_cycles=2, cycles_per_word=1)


@dataclass(frozen=True)
class ChipBreakdown:
    """Cycles of one layer split over the XPUs of a chip (:func:`chip_cycles`).

    Attributes
    ----------
    total : int
        Cycle of the chip's ``done`` (cycle 0: ``start``): the last XPU's ``done``.
    xpus : tuple of CycleBreakdown or None
        Each XPU's share as it runs on the chip (None: the XPU is idle).
    alone : tuple of int or None
        Each XPU's count alone behind an uncontended channel (:data:`GB_MEMORY`).
    channels : int
        Interconnect channels the layer uses (distinct activation and weight streams).
    gb_ports : int
        Read ports of the global buffer.
    waits : int
        Cycles, summed over the channels, in which a channel asked for a read and got no port.
    iterations : int
        Rounds of the schedule / arbiter fixed point (2 when nothing contends: the uncontended
        schedule, and the round that finds it unchanged).
    """

    total: int
    xpus: tuple[CycleBreakdown | None, ...]
    alone: tuple[int | None, ...]
    channels: int
    gb_ports: int
    waits: int
    iterations: int

    @property
    def busy_xpus(self) -> int:
        return sum(bd is not None for bd in self.xpus)

    @property
    def contended(self) -> bool:
        """Whether the interconnect made any XPU slower than alone."""
        return any(
            bd is not None and bd.total != a for bd, a in zip(self.xpus, self.alone, strict=True)
        )


#: Rounds after which :func:`chip_cycles` gives up (it converges in a few on every layer the
#: tests run; each round settles at least one more cycle of the schedule).
CHIP_MAX_ITERATIONS = 10_000


def _arbitrate(
    tiles: dict[int, list[tuple[int, int]]], n_channels: int, ports: int
) -> tuple[dict[int, list[int]], int]:
    """The chip's round-robin arbiter, cycle by cycle (:class:`~oxbnn.rtl.chip.Chip`).

    ``tiles[c]``: channel c's loads in order, ``(ask, words)``, ``ask`` being the first cycle the
    channel may ask for the load (all its members' ``next_ready`` high). A channel asks in every
    cycle it has an open load (asked for, words left); up to ``ports`` asking channels are
    granted, in channel order from the one after the last granted; a word granted in t is taken
    in t + 1. Returns each load's last-word cycle and the cycles channels asked in vain.
    """
    ends = {c: [] for c in tiles}
    cur = {c: 0 for c in tiles}
    left = {c: tiles[c][0][1] if tiles[c] else 0 for c in tiles}
    ptr, waits = 0, 0
    order = sorted(tiles)
    t = min((v[0][0] for v in tiles.values() if v), default=0)
    pending = sum(len(v) for v in tiles.values())
    while pending:
        asking = [c for c in order if cur[c] < len(tiles[c]) and tiles[c][cur[c]][0] <= t]
        if not asking:
            t = min(tiles[c][cur[c]][0] for c in order if cur[c] < len(tiles[c]))
            continue
        ranked = sorted(asking, key=lambda c: (c - ptr) % n_channels)
        granted = ranked[:ports]
        waits += len(ranked) - len(granted)
        step = 1
        if len(ranked) <= ports:  # all granted every cycle until a load ends or a new one asks
            nxt = [tiles[c][cur[c]][0] for c in order
                   if cur[c] < len(tiles[c]) and tiles[c][cur[c]][0] > t]  # fmt: skip
            step = min([left[c] for c in granted] + [q - t for q in nxt])
        for c in granted:
            left[c] -= step
            if left[c] == 0:
                ends[c].append(t + step)
                cur[c] += 1
                pending -= 1
                if cur[c] < len(tiles[c]):
                    left[c] = tiles[c][cur[c]][1]
        ptr = (granted[-1] + 1) % n_channels  # the same after every cycle of the step
        t += step
    return ends, waits


def chip_cycles(
    plans: Sequence[TilingPlan | None],
    *,
    act_groups: Sequence[Sequence[int]],
    wgt_groups: Sequence[Sequence[int]],
    gb_ports: int,
) -> ChipBreakdown:
    """Cycles of a layer split over a chip's XPUs (:class:`~oxbnn.rtl.chip.Chip`), no stalls.

    ``plans[x]``: the plan XPU x runs (None: idle; ``len(plans)`` is the chip's X);
    ``act_groups[g]`` / ``wgt_groups[g]``: the XPUs of activation channel g (RTL channel g) /
    weight channel g (RTL channel X + g), each busy XPU in exactly one of each; ``gb_ports``:
    the global buffer's read ports.

    Each XPU runs its plan's schedule (:func:`plan_cycles`) with its tile loads timed by the
    interconnect instead of a memory model: a load of a channel is requested when the last of
    the channel's members asks for it (multicast waits for every member), the channel asks from
    the next cycle (the members' registered ``next_ready``), and its words are
    granted by the round-robin arbiter (:func:`_arbitrate`, P = ``gb_ports`` reads per cycle),
    one cycle before each is taken. The members' requests depend on the loads' ends and the
    ends on the requests, so the two are iterated from the uncontended schedule
    (:data:`GB_MEMORY`) to their fixed point: every quantity depends only on earlier cycles, so
    the fixed point is the RTL's schedule, reached in a few rounds. The count is **exact**,
    contention included; stalls of the global buffer (``gb_stall``) only make the RTL later.
    """
    if not plans or all(p is None for p in plans):
        raise ValueError("chip_cycles needs at least one busy XPU")
    if isinstance(gb_ports, bool) or not isinstance(gb_ports, int) or gb_ports < 1:
        raise ValueError(f"gb_ports must be a positive integer, not {gb_ports!r}")
    x = len(plans)
    busy = {i for i, p in enumerate(plans) if p is not None}
    for kind, groups in (("act_groups", act_groups), ("wgt_groups", wgt_groups)):
        seen = [i for g in groups for i in g]
        if sorted(seen) != sorted(busy) or not all(groups) or len(groups) > x:
            raise ValueError(
                f"chip_cycles: {kind} {[list(g) for g in groups]} must hold each busy XPU "
                f"{sorted(busy)} exactly once, in at most {x} channels"
            )
    channel = {}  # (stream, xpu) -> RTL channel
    for g, members in enumerate(act_groups):
        channel.update({("act", i): g for i in members})
    for g, members in enumerate(wgt_groups):
        channel.update({("wgt", i): x + g for i in members})
    members = {c: [i for (s, i), cc in channel.items() if cc == c] for c in channel.values()}

    ends: dict[tuple[int, int], int] = {}  # (channel, load) -> cycle of its last word
    for rounds in range(1, CHIP_MAX_ITERATIONS + 1):
        requests: dict[tuple[str, int], list[tuple[int, int]]] = {}
        bds: list[CycleBreakdown | None] = []
        for i, plan in enumerate(plans):
            if plan is None:
                bds.append(None)
                continue

            def tile_end(stream, k, q, words, i=i, requests=requests, ends=ends):
                asked = requests.setdefault((stream, i), [])
                if k == len(asked):  # each load is timed once, in order
                    asked.append((q, words))
                end = ends.get((channel[stream, i], k))
                return max(GB_MEMORY.tile_end(q, words), end or 0)

            streams = {"act": _Loads(), "wgt": _Loads()}
            bds.append(_schedule(plan, GB_MEMORY, 0, 0, streams, False, tile_end)[0])
        if rounds == 1:
            alone = tuple(None if bd is None else bd.total for bd in bds)
        tiles: dict[int, list[tuple[int, int]]] = {}
        for c, mem_of in members.items():
            stream = "act" if c < x else "wgt"
            loads = [requests.get((stream, i), []) for i in mem_of]
            if any(len(v) != len(loads[0]) for v in loads):
                raise ValueError(f"chip_cycles: the members {mem_of} of {stream} channel {c} "
                                 "load different numbers of tiles")  # fmt: skip
            # A member's next_ready rises in the cycle after its buffer is ready (its request).
            tiles[c] = [
                (max(v[k][0] for v in loads) + 1, loads[0][k][1]) for k in range(len(loads[0]))
            ]
        got, waits = _arbitrate(tiles, 2 * x, gb_ports)
        new = {(c, k): e for c, v in got.items() for k, e in enumerate(v)}
        if new == ends:
            break
        ends = new
    else:
        raise RuntimeError(f"chip_cycles did not settle in {CHIP_MAX_ITERATIONS} rounds")
    return ChipBreakdown(
        total=max(bd.total for bd in bds if bd is not None),
        xpus=tuple(bds),
        alone=alone,
        channels=len(act_groups) + len(wgt_groups),
        gb_ports=gb_ports,
        waits=waits,
        iterations=rounds,
    )


def seconds(
    spec: LayerSpec,
    xpu: XpuParams,
    mem: MemoryModel | None = None,
    *,
    dataflow: str = "auto",
    walk: str = "auto",
) -> float:
    """Time of one layer in seconds at ``xpu.clock_hz``."""
    return layer_cycles(spec, xpu, mem, dataflow=dataflow, walk=walk).seconds


def _strobe_slots(
    spec: LayerSpec,
    xpu: XpuParams,
    mem: MemoryModel | None,
    which: str,
    dataflow: str,
    walk: str,
    breakdown: CycleBreakdown | None,
) -> np.ndarray:
    """Slot indices (``cycle * S + slot``) of one PCA strobe, ascending."""
    bd = breakdown or layer_cycles(spec, xpu, mem, dataflow=dataflow, walk=walk)
    plan = bd.plan
    s = xpu.symbols_per_cycle
    k = np.arange(plan.chunks)
    if which == "sample":
        mask = ((k + 1) % xpu.gamma == 0) | (k == plan.chunks - 1)
    else:
        mask = k % xpu.gamma == 0
    k = k[mask]
    clock = _BeatClock(plan)
    out = []
    for p, start in enumerate(bd.pair_starts):
        if clock.trivial:
            # A beat leaves in the issue cycle of its last reads; chunk k is in beat k // S.
            beat_end = np.cumsum(plan.beat_cycles) - 1
            jobs = np.arange(plan.pair_jobs(p), dtype=np.int64) * plan.vector_cycles + start
            emits = jobs[:, None] + beat_end[None, :]
        else:
            rows, t = [], start
            for _ in range(plan.pair_jobs(p)):
                rows.append(clock.job(t))
                t = rows[-1][-1] + 1
            emits = np.asarray(rows, dtype=np.int64).reshape(-1, plan.beats)
        out.append(((emits[:, k // s] + ISSUE_TO_PORT_CYCLES) * s + k % s).reshape(-1))
    return np.concatenate(out)


def sample_slots(
    spec: LayerSpec,
    xpu: XpuParams,
    mem: MemoryModel | None = None,
    *,
    dataflow: str = "auto",
    walk: str = "auto",
    breakdown: CycleBreakdown | None = None,
) -> np.ndarray:
    """Slot indices (``t * S + s``: slot s of cycle t, from the start strobe) in which
    ``pca_sample`` is high, ascending; ``breakdown``: the layer's schedule, when it is not the
    standalone one of :func:`layer_cycles` (a layer of a chain, :func:`chain_cycles`).

    All XPEs work in lock-step, so the list is the same for every XPE (an idle XPE of a partial
    group is strobed too; its lanes are dark).
    """
    return _strobe_slots(spec, xpu, mem, "sample", dataflow, walk, breakdown)


def reset_slots(
    spec: LayerSpec,
    xpu: XpuParams,
    mem: MemoryModel | None = None,
    *,
    dataflow: str = "auto",
    walk: str = "auto",
    breakdown: CycleBreakdown | None = None,
) -> np.ndarray:
    """Slot indices (``t * S + s``) in which ``pca_reset`` is high, ascending (every XPE);
    ``breakdown`` as for :func:`sample_slots`."""
    return _strobe_slots(spec, xpu, mem, "reset", dataflow, walk, breakdown)
