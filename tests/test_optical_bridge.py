"""The optical port's slot order, the optical bridge, and the environment's ADC delay line.

At S > 1 the RTL is not needed (its components refuse S > 1 until the S-slot datapath lands):
hand-made port words at S = 3 and S = 8 (two samples of one XPE in one cycle, a reset right
after a sample in the same cycle, dark slots) go through the bridge and the environment, and
the codes and their cycle and channel on the drive word are checked against popcounts counted
by hand and the port rule of docs/design.md §3.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Fragment

from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerSpec
from oxbnn.models.optics import CapacitorBusyError, Effects
from oxbnn.testbenches.cosim_top import CosimTop, Fields
from oxbnn.testbenches.env import AdcBusyError, XpuEnv
from oxbnn.testbenches.optical_bridge import OpticalBridge, port_width, unpack_port
from oxbnn.testbenches.port_vcd import write_port_vcd
from oxbnn.testbenches.stimulus import LayerRun
from oxbnn.testbenches.waves import events, load_trace


def _port_word(bits: list[tuple[str, int, int, int]], m: int, n: int, s: int) -> int:
    """A port word from ``(member, xpe, slot, lane)`` set bits, by the documented layout:
    reset | sample | act | wgt; masks bit ``e*S + s``; lanes bit ``e*S*N + s*N + i``."""
    base = {"reset": 0, "sample": m * s, "act": 2 * m * s, "wgt": 2 * m * s + m * s * n}
    word = 0
    for member, e, slot, lane in bits:
        if member in ("reset", "sample"):
            word |= 1 << (base[member] + e * s + slot)
        else:
            word |= 1 << (base[member] + e * s * n + slot * n + lane)
    return word


def test_unpack_port_slot_order_at_s2():
    m, n, s = 2, 3, 2
    w0 = _port_word(
        [("reset", 1, 0, 0), ("sample", 0, 1, 0), ("act", 1, 1, 2), ("wgt", 0, 0, 1)], m, n, s
    )
    w1 = _port_word([("act", 0, 0, 0), ("sample", 1, 1, 0)], m, n, s)
    assert w0 < 1 << port_width(m, n, s) == 1 << 32
    act, wgt, reset, sample = unpack_port([w0, w1], m, n, s)
    assert act.shape == wgt.shape == (4, 2, 3) and reset.shape == sample.shape == (4, 2)
    # slot index = cycle * S + slot
    assert sorted(map(tuple, np.argwhere(act))) == [(1, 1, 2), (2, 0, 0)]
    assert sorted(map(tuple, np.argwhere(wgt))) == [(0, 0, 1)]
    assert sorted(map(tuple, np.argwhere(reset))) == [(0, 1)]
    assert sorted(map(tuple, np.argwhere(sample))) == [(1, 0), (3, 1)]


def test_unpack_port_lane_order_at_s1():
    # XPE 0 lanes 0..3 = act bits 0..3, XPE 1 lanes = bits 4..7; act starts after 2 M mask bits.
    act, wgt, reset, sample = unpack_port([0b1000_0011 << 4 | 0b10], 2, 4, 1)
    assert act[0].tolist() == [[1, 1, 0, 0], [0, 0, 0, 1]]
    assert reset[0].tolist() == [False, True] and not sample.any() and not wgt.any()


@pytest.mark.parametrize("latency", [1, 2, 5])
def test_env_drives_the_popcount_adc_latency_cycles_after_a_sample(latency):
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=3, adc_bits=4, adc_latency=latency)
    top = CosimTop(xpu=xpu)
    Fragment.get(top, None)  # elaborated, as a simulator would (Amaranth warns otherwise)
    drive, watch = top.drive_fields, top.watch_fields
    spec = LayerSpec.fc(4, 1)
    run = LayerRun(spec, np.zeros(4, np.uint8), np.zeros((1, 4), np.uint8), np.zeros(1, np.int64))
    env = XpuEnv(xpu, run, OpticalBridge(xpu, Effects.ideal()), drive, watch)
    rng = np.random.default_rng(9)
    act = rng.integers(0, 2, (3, 2, 4))
    wgt = rng.integers(0, 2, (3, 2, 4))
    # XPE 0 integrates cycles 0..2 and samples in cycle 2; XPE 1 only cycle 1 (reset + sample).
    expect0 = int((act[:, 0] == wgt[:, 0]).sum())
    expect1 = int((act[1, 1] == wgt[1, 1]).sum())
    strobes = [
        [("reset", 0, 0, 0)],
        [("reset", 1, 0, 0), ("sample", 1, 0, 0)],
        [("sample", 0, 0, 0)],
    ]
    seen = {}
    for t in range(3 + latency + 2):
        bits = []
        if t < 3:
            bits = strobes[t] + [
                (member, e, 0, i)
                for member, arr in (("act", act), ("wgt", wgt))
                for e in range(2)
                for i in range(4)
                if arr[t, e, i]
            ]
        word = env.step(_port_word(bits, 2, 4, 1) << watch.offset("opt_reset"))
        for e in range(2):
            if drive.get(word, "adc_valid") >> e & 1:
                seen[e, t] = drive.get(word, "adc_code") >> (4 * e) & 0xF
    assert seen == {(1, 1 + latency): expect1, (0, 2 + latency): expect0}
    assert env.sample_slots == [1, 2] and env.reset_slots == [0, 1]  # S = 1: slot = cycle
    assert sorted(env.events) == sorted([(1, 1, expect1), (2, 0, expect0)])


def test_dark_lanes_count_nothing():
    xpu = XpuParams(n_lanes=19, n_xpes=1, gamma=14, adc_bits=9, adc_latency=1)
    bridge = OpticalBridge(xpu, Effects.physical(), preset="oxbnn50", seed=1)
    dark = [("act", 0, 0, i) for i in range(19)]  # act 1, wgt 0 on every lane
    words = [
        _port_word(
            dark + [("reset", 0, 0, 0)] * (t == 0) + [("sample", 0, 0, 0)] * (t == 13), 1, 19, 1
        )
        for t in range(14)
    ]
    got = bridge.readout(words)
    assert got.valid.tolist() == [[True]] and got.codes.tolist() == [[0]]
    assert got.slots.tolist() == [[0]]


# ------------------------------------------------------------------------------ S > 1, no RTL


def _chunk(count: int, n: int) -> tuple[list[int], list[int]]:
    """Act and wgt bits of one slot on N lanes in which exactly ``count`` lanes XNOR to 1
    (act alternates 0/1 over the lanes; wgt equals act on lanes < count, differs above)."""
    act = [i % 2 for i in range(n)]
    wgt = [a if i < count else 1 - a for i, a in enumerate(act)]
    return act, wgt


def _cycle_word(slots: dict[tuple[int, int], tuple[int, str]], m: int, n: int, s: int) -> int:
    """One cycle's port word: ``{(xpe, slot): (count, strobes)}`` (strobes: "r" reset, "s"
    sample, or both); a slot of an XPE not given is dark (act 1, wgt 0, no strobe)."""
    bits = []
    for e in range(m):
        for slot in range(s):
            if (e, slot) not in slots:
                bits += [("act", e, slot, i) for i in range(n)]
                continue
            count, strobes = slots[e, slot]
            act, wgt = _chunk(count, n)
            bits += [("act", e, slot, i) for i in range(n) if act[i]]
            bits += [("wgt", e, slot, i) for i in range(n) if wgt[i]]
            bits += [("reset", e, slot, 0)] * ("r" in strobes)
            bits += [("sample", e, slot, 0)] * ("s" in strobes)
    return _port_word(bits, m, n, s)


def _fields(xpu: XpuParams) -> tuple[Fields, Fields]:
    """``CosimTop``'s drive and watch layout for ``xpu`` at any S: the S = 1 XPU's fields (the
    RTL refuses S > 1 today), with the S-dependent ones at the widths of the port contract:
    S-bit masks and S x N lanes per XPE, A ADC channels of adc_bits per XPE."""
    top = CosimTop(xpu=xpu.replace(symbols_per_cycle=1))
    Fragment.get(top, None)  # elaborated, as a simulator would (Amaranth warns otherwise)
    m, n, s = xpu.n_xpes, xpu.n_lanes, xpu.symbols_per_cycle
    a = xpu.adc_channels
    widths = {
        "opt_reset": m * s,
        "opt_sample": m * s,
        "opt_act": m * s * n,
        "opt_wgt": m * s * n,
        "adc_valid": m * a,
        "adc_code": m * a * xpu.adc_bits,
    }

    def widen(f: Fields) -> Fields:
        order = sorted(f.layout.items(), key=lambda kv: kv[1][0])
        return Fields.from_parts([(k, widths.get(k, w)) for k, (_, w) in order])

    return widen(top.drive_fields), widen(top.watch_fields)


def _run_env(xpu: XpuParams, cycles: list[dict], extra: int):
    """Step an environment through ``cycles`` (``_cycle_word`` dicts), then ``extra`` dark
    cycles, tracing every cycle; returns the env and ``{(cycle, xpe, channel): code}`` of every
    valid ADC channel on the drive words, decoded by the documented rule (bit ``e * A + c`` of
    adc_valid, bits ``(e * A + c) * adc_bits`` of adc_code)."""
    drive, watch = _fields(xpu)
    spec = LayerSpec.fc(4, 1)
    run = LayerRun(spec, np.zeros(4, np.uint8), np.zeros((1, 4), np.uint8), np.zeros(1, np.int64))
    env = XpuEnv(
        xpu,
        run,
        OpticalBridge(xpu, Effects.ideal()),
        drive,
        watch,
        trace_window=(0, len(cycles) + extra),
    )
    m, n, s, a, b = (
        xpu.n_xpes,
        xpu.n_lanes,
        xpu.symbols_per_cycle,
        xpu.adc_channels,
        xpu.adc_bits,
    )
    seen = {}
    for t in range(len(cycles) + extra):
        slots = cycles[t] if t < len(cycles) else {}
        word = env.step(_cycle_word(slots, m, n, s) << watch.offset("opt_reset"))
        valid, code = drive.get(word, "adc_valid"), drive.get(word, "adc_code")
        for e in range(m):
            for c in range(a):
                if valid >> (e * a + c) & 1:
                    seen[t, e, c] = code >> ((e * a + c) * b) & ((1 << b) - 1)
                else:
                    assert code >> ((e * a + c) * b) & ((1 << b) - 1) == 0, (t, e, c)
    return env, seen


def test_bridge_codes_every_sample_of_a_cycle_in_slot_order_at_s3():
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, symbols_per_cycle=3)
    assert xpu.samples_per_cycle == 2
    bridge = OpticalBridge(xpu, Effects.ideal())
    # XPE 0: 3 + 2 lanes, sample in slot 1, reset in slot 2. XPE 1: 1 lane sampled in slot 0,
    # reset and 4 lanes sampled in slot 1, slot 2 dark.
    word = _cycle_word(
        {
            (0, 0): (3, "r"),
            (0, 1): (2, "s"),
            (0, 2): (4, "r"),
            (1, 0): (1, "rs"),
            (1, 1): (4, "rs"),
        },
        2,
        4,
        3,
    )
    got = bridge.readout([word])
    assert got.valid.tolist() == [[True, True], [False, True]]
    assert got.codes.tolist() == [[5, 1], [0, 4]]
    assert got.slots.tolist() == [[1, 0], [-1, 1]]
    # The next cycle: XPE 0 samples after one more chunk of 3 lanes: 4 (slot 2) + 3, not 12.
    got = bridge.readout([_cycle_word({(0, 0): (3, "s")}, 2, 4, 3)])
    assert got.valid.tolist() == [[True, False], [False, False]]
    assert got.codes.tolist() == [[7, 0], [0, 0]]


def test_bridge_refuses_more_samples_in_a_cycle_than_a_bank_has_channels():
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, symbols_per_cycle=3)
    word = _cycle_word({(1, 0): (1, "rs"), (1, 1): (1, "rs"), (1, 2): (1, "rs")}, 2, 4, 3)
    with pytest.raises(
        ValueError,
        match=r"XPE 1 sampled its PCA 3 times in one cycle \(slots "
        r"\[0, 1, 2\]\); an ADC bank has samples_per_cycle = 2 channels",
    ):
        OpticalBridge(xpu, Effects.ideal()).readout([word])


S3_CYCLES = [
    # cycle 0: XPE 0 resets in slot 0, samples 3 + 2 in slot 1, resets again in slot 2;
    # XPE 1 samples twice (slots 0 and 1), slot 2 dark.
    {(0, 0): (3, "r"), (0, 1): (2, "s"), (0, 2): (4, "r"), (1, 0): (1, "rs"), (1, 1): (4, "rs")},
    # cycle 1: XPE 0's vector ends in slot 0 (4 + 3 since the reset), slots 1-2 dark.
    {(0, 0): (3, "s")},
]


@pytest.mark.parametrize("latency", [1, 3])
def test_env_drives_two_codes_of_one_cycle_on_two_channels_at_s3(latency):
    xpu = XpuParams(
        n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, adc_latency=latency, symbols_per_cycle=3
    )
    env, seen = _run_env(xpu, S3_CYCLES, latency + 2)
    assert seen == {
        (latency, 0, 0): 5,
        (latency, 1, 0): 1,
        (latency, 1, 1): 4,
        (1 + latency, 0, 0): 7,
    }
    assert env.sample_slots == [0, 1, 3]  # slot index t * 3 + s
    assert env.reset_slots == [0, 1, 2]
    assert env.events == [(0, 1, 1), (1, 0, 5), (1, 1, 4), (3, 0, 7)]


def test_env_drives_four_samples_of_one_cycle_at_s8():
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, adc_latency=2, symbols_per_cycle=8)
    assert xpu.samples_per_cycle == xpu.adc_channels == 4  # one bank
    # XPE 0: a vector of 7 chunks in one cycle: readouts of slots 0-1, 2-3, 4-5 and 6 (a reset
    # and a sample in the same slot), slot 7 dark. XPE 1: a vector of 3 chunks, slots 3-7 dark.
    counts0 = [1, 2, 3, 4, 0, 4, 2]
    cycle0 = {
        (0, k): (c, ("r" if k % 2 == 0 else "") + ("s" if k % 2 or k == 6 else ""))
        for k, c in enumerate(counts0)
    }
    cycle0 |= {(1, 0): (4, "r"), (1, 1): (4, "s"), (1, 2): (2, "rs")}
    env, seen = _run_env(xpu, [cycle0], 4)
    assert seen == {
        (2, 0, 0): 3,
        (2, 0, 1): 7,
        (2, 0, 2): 4,
        (2, 0, 3): 2,
        (2, 1, 0): 8,
        (2, 1, 1): 2,
    }
    assert env.sample_slots == [1, 2, 3, 5, 6]
    assert env.reset_slots == [0, 2, 4, 6]
    assert env.events == [(1, 0, 3), (1, 1, 8), (2, 1, 2), (3, 0, 7), (5, 0, 4), (6, 0, 2)]


def test_env_refuses_a_drive_word_without_a_channels():
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, symbols_per_cycle=3)
    _, watch = _fields(xpu)
    drive, _ = _fields(xpu.replace(symbols_per_cycle=1))  # one ADC channel per XPE
    spec = LayerSpec.fc(4, 1)
    run = LayerRun(spec, np.zeros(4, np.uint8), np.zeros((1, 4), np.uint8), np.zeros(1, np.int64))
    with pytest.raises(ValueError, match=r"the ADC port is .* expected .* A = 2 channels .*1 bank"):
        XpuEnv(xpu, run, OpticalBridge(xpu, Effects.ideal()), drive, watch)


def test_sampling_cycles_take_the_adc_banks_in_rotation():
    """Two banks of two channels (A = 4): cycle 0's samples on channels 0-1 (bank 0), cycle
    1's on 2-3 (bank 1); cycle 3 is bank 0 again, free after 2 conversion cycles."""
    xpu = XpuParams(
        n_lanes=4,
        n_xpes=2,
        gamma=2,
        adc_bits=4,
        adc_latency=2,
        symbols_per_cycle=3,
        adc_banks=2,
        adc_conversion_cycles=2,
    )
    assert (xpu.samples_per_cycle, xpu.adc_channels) == (2, 4)
    cycles = [*S3_CYCLES, {}, {(1, 0): (2, "r"), (1, 1): (1, "s")}]
    env, seen = _run_env(xpu, cycles, 4)
    assert seen == {
        (2, 0, 0): 5,
        (2, 1, 0): 1,
        (2, 1, 1): 4,
        (3, 0, 2): 7,
        (5, 1, 0): 3,
    }
    assert env.events == [(0, 1, 1), (1, 0, 5), (1, 1, 4), (3, 0, 7), (10, 1, 3)]


def test_a_sample_on_a_busy_adc_bank_is_refused():
    """One bank converting for 2 cycles: samples in cycles 0 and 1 break the contract."""
    xpu = XpuParams(
        n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, symbols_per_cycle=3, adc_conversion_cycles=2
    )
    with pytest.raises(
        AdcBusyError,
        match=r"cycle 1: a sample on ADC bank 0, which has converted since cycle 0 "
        r"\(adc_conversion_cycles = 2, adc_banks = 1\)",
    ):
        _run_env(xpu, S3_CYCLES, 1)
    # With two cycles between them the bank is free again.
    env, seen = _run_env(xpu, [S3_CYCLES[0], {}, S3_CYCLES[1]], 3)
    assert seen[4, 0, 0] == 7 and len(seen) == 4


@pytest.mark.parametrize(("s", "banks"), [(1, 1), (3, 1), (3, 2), (8, 1)])
def test_cosim_top_fields_follow_the_port_contract(s, banks):
    """The RTL wrapper's fields have the widths the environment and the port VCD read:
    S-bit masks and S x N lanes per XPE, A = banks x samples_per_cycle ADC channels."""
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, symbols_per_cycle=s, adc_banks=banks)
    top = CosimTop(xpu=xpu)
    Fragment.get(top, None)  # elaborated, as a simulator would (Amaranth warns otherwise)
    drive, watch = _fields(xpu)
    for name in ("adc_valid", "adc_code"):
        assert top.drive_fields.layout[name][1] == drive.layout[name][1], name
    for name in ("opt_reset", "opt_sample", "opt_act", "opt_wgt"):
        assert top.watch_fields.layout[name][1] == watch.layout[name][1], name


def test_port_vcd_of_an_s3_run_lists_slot_level_readouts(tmp_path):
    """The env's trace, written by port_vcd and read by oxbnn waves' reader, gives each sample's
    cycle and slot, XPE, code and ADC channel (the run of the S = 3 test above, latency 2)."""
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, adc_latency=2, symbols_per_cycle=3)
    env, _ = _run_env(xpu, S3_CYCLES, 4)
    drive, watch = _fields(xpu)
    vcd = write_port_vcd(tmp_path / "s3.vcd", env.trace, 0, watch, drive, xpu)
    trace = load_trace(vcd)
    widths = {name.split(".", 1)[1]: sig.width for name, sig in trace.signals.items()}
    assert (widths["xpe1.pca_sample"], widths["xpe1.adc_valid"], widths["xpe1.adc_code"]) == (
        3,
        2,
        8,
    )
    rows = events(trace, "pca_sample", 0, trace.n_cycles - 1)
    got = [
        (r["cycle"], r["slot"], r["xpe"], r["code"], r["channel"], r["code_cycle"]) for r in rows
    ]
    assert got == [(0, 0, 1, 1, 0, 2), (0, 1, 0, 5, 0, 2), (0, 1, 1, 4, 1, 2), (1, 0, 0, 7, 0, 3)]


def test_a_run_on_a_discharging_capacitor_is_refused():
    """R = 3 dead slots at S = 1 (XPE 1 stays dark): XPE 0 resets in cycle 0 and samples 2 + 3
    counts in cycle 1, so its capacitor 0 is discharging until slot 1 + 1 + 3 = 5. One capacitor:
    a run from slot 4 is refused (naming XPE, slot, capacitor and free slot), from slot 5 it
    counts. Ping-pong: a run in slot 2 takes capacitor 1 (free), the one after it, in slot 4,
    capacitor 0 again, still discharging."""
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, reset_dead_slots=3)
    first = [_cycle_word({(0, 0): (2, "r")}, 2, 4, 1), _cycle_word({(0, 0): (3, "s")}, 2, 4, 1)]
    dark = _cycle_word({}, 2, 4, 1)

    def run(p: int, gap: int) -> OpticalBridge:
        bridge = OpticalBridge(xpu.replace(pca_capacitors=p), Effects.ideal())
        assert bridge.readout(first).codes[0, 0] == 5
        later = [dark] * gap + [_cycle_word({(0, 0): (4, "rs")}, 2, 4, 1)]
        assert bridge.readout(later).codes[0, 0] == 4
        return bridge

    with pytest.raises(
        CapacitorBusyError,
        match=r"XPE 0, slot 4: a run starts on PCA capacitor 0, which is discharging until "
        r"slot 5 \(sampled in slot 1, reset_dead_slots = 3, capacitors = 1\)",
    ):
        run(1, 2)
    run(1, 3)
    bridge = run(2, 0)  # slot 2 on capacitor 1; sampled there: free from 6
    with pytest.raises(CapacitorBusyError, match=r"slot 4: .* capacitor 0, .* until slot 5"):
        bridge.readout([dark, _cycle_word({(0, 0): (1, "rs")}, 2, 4, 1)])
    # A new layer restarts the rotation with every capacitor discharged.
    bridge = run(2, 0)
    bridge.start_layer()
    assert bridge.readout([_cycle_word({(0, 0): (1, "rs")}, 2, 4, 1)]).codes[0, 0] == 1


def test_the_bridge_takes_the_physics_its_xpu_is_named_after():
    """Given no preset, an oxbnn5 XPU's bridge takes oxbnn5's physics (its 5 Gb/s slot and its
    5.65 pF capacitor), not oxbnn50's; an XPU of another name takes oxbnn50's."""
    from oxbnn.models.configs import XpuParams, load_preset
    from oxbnn.models.derive import xpu_params
    from oxbnn.testbenches.optical_bridge import OpticalBridge

    for name in ("oxbnn5", "oxbnn5-s1", "oxbnn50", "oxbnn50-s1"):
        bridge = OpticalBridge(xpu_params(name))
        want = load_preset(name)
        assert bridge.preset.pca.capacitance_F == want.pca.capacitance_F, name
        assert bridge.pca.slot_s == 1 / want.architecture.bit_rate_bps, name
    assert OpticalBridge(xpu_params("oxbnn5")).preset.pca.capacitance_F == 5.65e-12
    other = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4)
    assert OpticalBridge(other).preset.name == "oxbnn50"
