"""Sequencer alone: tile announcements, the job walk, the beat schedule and the strobes.

Tiles are always available here, so the walk runs at full speed. The expected walk comes from
the tiling plan (bands, weight loads, the order of the jobs); the expected schedule inside a job
from the brute-force walk of ``_chunks`` (each chunk's slot engine takes the words its bits
overlap, up to three per cycle; a beat of S chunks lasts as long as its slowest chunk), checked
word by word: which words each slot engine takes in which cycle, where they come from (kernel
tap row / column and word offset, from the layer geometry), the bits each drops and gives and the
lane they land on. The strobes follow their definition: ``pca_reset`` with chunk k if ``k mod γ
= 0``, ``pca_sample`` if ``k mod γ = γ - 1`` or k is the vector's last chunk, each in the bit of
its chunk's slot ``k mod S``.
"""

from __future__ import annotations

import pytest
from _chunks import chunk_walk, emulated_beat_cycles, emulated_chunk_cycles
from amaranth.sim import Simulator

from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerSpec
from oxbnn.models.tiling import READS_PER_SLOT as R
from oxbnn.models.tiling import Widths, tiling_plan
from oxbnn.rtl.sequencer import Sequencer
from oxbnn.testbenches.driver import encode_descriptor

XPU = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, act_buffer_depth=24, wgt_buffer_depth=16)

LAYERS = [
    LayerSpec("conv", 5, 3, 5, 3, 3, 3, padding=1),  # K = 45 (L = 12), 3 weight tiles, 2+ bands
    LayerSpec("conv", 4, 4, 2, 2, 2, 2, stride=2, pool=False),  # L = 2
    LayerSpec("conv", 4, 5, 3, 2, pool=True),  # L = 1: one chunk per vector, four sub-jobs
    LayerSpec.fc(13, 3),  # L = 4
    LayerSpec("conv", 3, 4, 1, 2, 3, 3, padding=1),  # C = 1 < N / 2: read bound, 4 words/chunk
    LayerSpec("conv", 4, 4, 6, 2, 3, 3, padding=1),  # 4 bands x 2 weight tiles, weights outside
]
# (layer, S, gamma): gamma < S puts several samples in one cycle; at S = 8, L < S (layers 3, 4)
# and L = 12 is not a multiple of S (layer 0), and S mod gamma = 2.
CASES = [(i, ss, g) for i in range(len(LAYERS)) for ss, g in [(1, 2), (2, 2), (3, 2)]]
CASES += [(i, 8, 3) for i in (0, 3, 4)]


def _jobs(plan):
    """The plan's job order: (band, filter index in its tile, filter, sub-job) per job, and
    which unit move follows the job (``"init"`` after a filter's last group, ``"advance"``
    after another group's last sub-job, else ``None``)."""
    out = []
    for b, w in plan.pairs:
        tile = plan.weight_tiles[w]
        groups = plan.bands[b].groups
        for filt in range(tile.filter0, tile.filter1):
            for group in range(groups):
                for sub in range(plan.subjobs):
                    move = None
                    if sub == plan.subjobs - 1:
                        move = "init" if group == groups - 1 else "advance"
                    out.append(((b, filt - tile.filter0, filt, sub), move))
    return out


def _expected_job(spec, plan, xpu, job):
    """Per issue cycle of one job: the words each slot engine takes and the cycle's outputs."""
    b, f_in_tile, filt, sub = job
    n, ss, g = xpu.n_lanes, xpu.symbols_per_cycle, xpu.gamma
    st, p, wp, rw = spec.stride, spec.padding, plan.words_per_pixel, plan.row_words
    band_iy = plan.bands[b].unit_row0 * plan.pool_factor * st - p
    band_base = min(band_iy, 0) * rw
    dy, dx = sub >> 1, sub & 1
    walk = chunk_walk(spec.in_channels, n, spec.kernel_h * spec.kernel_w)
    chunks = len(walk)
    cycles = []
    for k0 in range(0, chunks, ss):
        slots = [k for k in range(k0, k0 + ss) if k < chunks]
        length = max(len(walk[k]) for k in slots)
        for t in range(length):
            takes = {}
            for s, k in enumerate(slots):
                reads = walk[k][t] if t < len(walk[k]) else []
                words = []
                for r in reads:
                    ky, kx = divmod(r.tap, spec.kernel_w)
                    words.append(
                        {
                            "row": band_iy + dy * st + ky,
                            "col": dx * st + kx,
                            "offset": band_base + (dy * st + ky) * rw + (dx * st + kx) * wp + r.cw,
                            "shift": r.shift,
                            "placed": r.placed,
                        }
                    )
                takes[s] = (words, walk[k][0][0].skip if t == 0 else 0)
            emit = t == length - 1
            cycles.append(
                {
                    "takes": takes,
                    "emit": emit,
                    "last": k0 + ss >= chunks,
                    "reset": sum(1 << s for s, k in enumerate(slots) if emit and k % g == 0),
                    "sample": sum(
                        1 << s
                        for s, k in enumerate(slots)
                        if emit and (k % g == g - 1 or k == chunks - 1)
                    ),
                    "wgt_addr": {s: f_in_tile * chunks + k for s, k in enumerate(slots)},
                    "thr_addr": filt,
                }
            )
    return cycles


def _observed(ctx, dut, xpu):
    """The same fields as :func:`_expected_job`, read from the sequencer in this cycle."""
    ctl, meta = ctx.get(dut.ctl), ctx.get(dut.meta)
    takes = {}
    for s in range(xpu.symbols_per_cycle):
        words, gap = [], False
        for i in range(R):
            w = ctl.word[s * R + i]
            if not w.take:
                gap = True
                continue
            assert not gap, "a slot engine took a word after one it did not take"
            assert w.end == w.shift + w.placed, "a word's end lane is not shift + placed"
            words.append(
                {
                    "row": w.row,
                    "col": w.col,
                    "offset": w.offset,
                    "shift": w.shift,
                    "placed": w.placed,
                }
            )
        takes[s] = (words, ctl.skip[s])
    return {
        "takes": takes,
        "emit": bool(ctl.emit),
        "last": bool(ctl.last),
        "reset": meta.reset,
        "sample": meta.sample,
        "wgt_addr": {s: ctx.get(dut.wgt_addr[s]) for s in range(xpu.symbols_per_cycle)},
        "thr_addr": ctx.get(dut.thr_addr),
        "unit_last": meta.unit_last,
    }


def _compare(got, want, where, offset_bits):
    mod = 1 << offset_bits
    assert got["emit"] == want["emit"], where
    assert (got["reset"], got["sample"]) == (want["reset"], want["sample"]), where
    if want["emit"]:
        assert got["last"] == want["last"], where
    assert got["thr_addr"] == want["thr_addr"], where
    for s, addr in want["wgt_addr"].items():
        assert got["wgt_addr"][s] == addr, (where, s)
    for s, (words, skip) in want["takes"].items():
        got_words, got_skip = got["takes"][s]
        assert len(got_words) == len(words), (where, s, got_words, words)
        if words:
            assert got_skip == skip, (where, s)
        for i, (g, w) in enumerate(zip(got_words, words, strict=True)):
            assert g["offset"] % mod == w["offset"] % mod, (where, s, i)
            g, w = {**g, "offset": 0}, {**w, "offset": 0}
            assert g == w, (where, s, i)
    for s in set(got["takes"]) - set(want["takes"]):  # slots past the vector's end: dark
        assert got["takes"][s][0] == [], (where, s)


@pytest.mark.parametrize("layer,ss,gamma", CASES, ids=[f"layer{i}-S{s}g{g}" for i, s, g in CASES])
def test_walk_matches_plan(layer, ss, gamma):
    spec = LAYERS[layer]
    xpu = XPU.replace(symbols_per_cycle=ss, gamma=gamma)
    plan = tiling_plan(spec, xpu, weights_outer=layer == 5)
    assert plan.weights_outer == (layer == 5)
    dut = Sequencer(xpu=xpu, result_depth=2)
    offset_bits = Widths.of(xpu).offset
    jobs = _jobs(plan)
    rec = {
        "act_cmd": [],
        "wgt_cmd": [],
        "jobs": 0,
        "act_release": 0,
        "wgt_release": 0,
        "done": None,
    }

    async def tb(ctx):
        ctx.set(dut.desc, encode_descriptor(spec, xpu, plan))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for sig in (
            dut.act_valid,
            dut.wgt_valid,
            dut.thr_ready,
            dut.act_cmd.ready,
            dut.wgt_cmd.ready,
        ):
            ctx.set(sig, 1)
        results, popped, want, step = 0, 0, [], 0
        for cycle in range(1, 20_000):
            for name in ("act_cmd", "wgt_cmd"):
                port = getattr(dut, name)
                if ctx.get(port.valid):
                    rec[name].append(ctx.get(port.payload))
            for name in ("act_release", "wgt_release"):
                rec[name] += ctx.get(getattr(dut, name))
            move = None
            # The host takes each result one cycle after the unit's last issue cycle.
            ctx.set(dut.popped, int(popped < results))
            popped += int(popped < results)
            if ctx.get(dut.ctl.issue):
                if not want:
                    assert rec["jobs"] < len(jobs), "more jobs than the plan has"
                    want = _expected_job(spec, plan, xpu, jobs[rec["jobs"]][0])
                    step = 0
                got = _observed(ctx, dut, xpu)
                _compare(got, want[step], (rec["jobs"], jobs[rec["jobs"]], step), offset_bits)
                step += 1
                if step == len(want):
                    move = jobs[rec["jobs"]][1]
                    rec["jobs"] += 1
                    want = []
                    results += got["unit_last"]
            else:
                assert not want, f"cycle {cycle}: a job stalled inside its vector"
            # The units move at the end of a job (and are placed in cycle 1, the first walk
            # cycle, whatever issues in it).
            assert ctx.get(dut.ctl.pos_init) == int(move == "init" or cycle == 1), cycle
            assert ctx.get(dut.ctl.pos_advance) == int(move == "advance"), cycle
            if ctx.get(dut.done):
                rec["done"] = cycle
                break
            await ctx.tick()
        rec["results"] = results

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()

    assert rec["done"] is not None
    assert rec["act_cmd"] == [plan.bands[b].words for b in plan.act_loads]
    assert rec["wgt_cmd"] == [plan.weight_tiles[i].words for i in plan.wgt_loads]
    assert rec["act_release"] == len(plan.act_loads)
    # Every load is released once: a single weight tile with the last band, so the buffers
    # are empty at the end of the layer (a queued layer's first tiles go into them).
    assert rec["wgt_release"] == len(plan.wgt_loads)
    assert rec["results"] == len(list(plan.results()))
    assert rec["jobs"] == len(jobs) == plan.jobs


def test_beats_of_a_read_bound_layer():
    """Hand-derived for the read-bound layer (C = 1, 3 x 3, N = 4): 9 one-bit words, chunks of
    words 0-3, 4-7 and 8, i.e. 2, 2 and 1 cycles; at S = 2 beats of 2 and 1 cycles."""
    assert emulated_chunk_cycles(1, 4, 9) == [2, 2, 1]
    assert emulated_beat_cycles(1, 4, 9, 2) == [2, 1]
    # C = 5 on N = 4: words of 4 and 1 bits; chunk 1 (bits 4-7) is word 1 + word 2's low 3
    # bits, chunk 2 (bits 8-11) word 2's high bit, word 3, word 4's low 2 bits: 3 words.
    walk = chunk_walk(5, 4, 3)
    assert [[r.word for r in c[0]] for c in walk[:3]] == [[0], [1, 2], [2, 3, 4]]
    assert [(r.skip, r.shift, r.placed) for r in walk[2][0]] == [(3, 0, 1), (0, 1, 1), (0, 2, 2)]


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="result_depth must be a positive integer, not 0"):
        Sequencer(xpu=XPU, result_depth=0)


@pytest.mark.parametrize("s", [1, 2])
def test_capacitor_waits_are_generated_only_with_dead_slots(s):
    """R = 0: no capacitor state at all (the S-slot sequencer of before, gate for gate); R > 0:
    one count per capacitor, and a rotation pointer only with more than one capacitor."""
    from amaranth.back import rtlil

    def text(**changes):
        xpu = XPU.replace(symbols_per_cycle=s, **changes)
        return rtlil.convert(Sequencer(xpu=xpu, result_depth=4))

    assert "pca_cap" not in text()
    one = text(reset_dead_slots=3)
    assert "pca_cap0_rem" in one and "pca_cap1_rem" not in one and "pca_cap_ptr" not in one
    two = text(reset_dead_slots=2, pca_capacitors=2)
    assert "pca_cap0_rem" in two and "pca_cap1_rem" in two and "pca_cap_ptr" in two
