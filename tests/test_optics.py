"""Optical models: OXG truth table, DWDM crosstalk and link budget, PCA counting and noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oxbnn.models.configs import load_preset
from oxbnn.models.derive import derive_optics, xpu_params
from oxbnn.models.optics import (
    DwdmLink,
    Effects,
    Oxg,
    Pca,
    PcaBank,
    link_budget,
    max_lanes,
)

PRESETS = ["oxbnn50", "oxbnn5"]
# The published configurations the physics must reproduce (docs/design.md §1.5;
# docs/reference.md, Configurations).
PUBLISHED = {"oxbnn50": (19, 14), "oxbnn5": (53, 5)}


@pytest.fixture(scope="module", params=PRESETS)
def derived(request):
    return derive_optics(request.param)


def test_truth_table_from_physics(derived):
    """Through-port power is bright for a == w and dark otherwise, neighbours random."""
    link = derived.link
    n = link.n_lanes
    rng = np.random.default_rng(7)
    for a in (0, 1):
        for w in (0, 1):
            act = rng.integers(0, 2, (500, n))
            wgt = rng.integers(0, 2, (500, n))
            act[:, n // 2] = a
            wgt[:, n // 2] = w
            p = link.lane_powers_W(act + wgt)[:, n // 2]
            one, zero = link.isolated_levels_W()
            decided = (p > math.sqrt(one * zero)).astype(int)  # geometric-mean threshold
            assert np.all(decided == int(a == w)), (a, w, p.min(), p.max())
    er = link.oxg.extinction_ratio_dB
    assert 10.0 <= er <= 40.0, f"extinction ratio {er:.1f} dB outside a sensible 10-40 dB"
    t = link.oxg.state_transmission()
    assert t[0] > 0.5 and t[2] > 0.5 and t[1] < 0.1


def test_ring_transmission_conserves_energy(derived):
    oxg = derived.link.oxg
    d = np.linspace(-oxg.fsr_m, oxg.fsr_m, 4001)
    total = oxg.through(d) + oxg.drop(d)
    assert np.all(total <= 1.0 + 1e-12)
    assert np.all(oxg.through(d) >= 0.0)
    # Off resonance (half an FSR away) almost everything passes.
    assert oxg.through(oxg.fsr_m / 2) > 0.99


def test_crosstalk_penalty_grows_as_spacing_shrinks():
    preset = load_preset("oxbnn50")
    # From lines that fill the FSR (the widest spacing without aliasing) down to 0.3 nm.
    fsr = DwdmLink(preset, 19).oxg.fsr_m
    spacings = np.linspace(fsr / 19, 0.3e-9, 30)
    penalties = [DwdmLink(preset, 19, float(s)).crosstalk_penalty_dB for s in spacings]
    assert all(b >= a - 1e-12 for a, b in zip(penalties, penalties[1:], strict=False)), penalties
    assert penalties[-1] > 3.0 * penalties[0] > 0.0


def test_crosstalk_is_state_dependent(derived):
    link = derived.link
    n = link.n_lanes
    act = np.zeros((3, n), dtype=int)
    wgt = np.zeros((3, n), dtype=int)
    # lane 1 bright (s = 0) in all three rows; its upper neighbour takes state 0, 1 or 2
    act[1, 2] = 1
    act[2, 2] = wgt[2, 2] = 1
    p = link.lane_powers_W(act + wgt)[:, 1]
    assert len(set(np.round(p / p[0], 12))) == 3
    isolated = link.lane_powers_W(act + wgt, crosstalk=False)[:, 1]
    assert np.all(isolated == isolated[0])


@pytest.mark.parametrize("name", PRESETS)
def test_link_budget_and_gamma_give_published_n(name):
    preset = load_preset(name)
    n, budgets = max_lanes(preset)
    n_pub, gamma_pub = PUBLISHED[name]
    assert n == n_pub
    assert budgets[n - 1].closes and not budgets[n].closes
    d = derive_optics(preset)
    assert d.gamma == gamma_pub
    assert d.pca.capacity_counts // n_pub == gamma_pub
    xpu = xpu_params(name)
    assert (xpu.n_lanes, xpu.gamma) == (n_pub, gamma_pub)
    assert (1 << xpu.adc_bits) - 1 >= xpu.gamma * xpu.n_lanes


def test_budget_responds_to_physics():
    """More laser power closes the budget for more channels; a lossier coupler for fewer."""
    preset = load_preset("oxbnn50")
    n0, _ = max_lanes(preset)
    n_more, _ = max_lanes(preset.replace("laser", power_per_wavelength_W=25e-3))
    n_less, _ = max_lanes(preset.replace("link", coupler_loss_dB=1.7))
    assert n_more > n0 > n_less
    assert (
        link_budget(preset, 19).sensitivity_W > link_budget(load_preset("oxbnn5"), 19).sensitivity_W
    )


@pytest.mark.parametrize("name", PRESETS)
def test_ideal_code_equals_popcount(name):
    """>= 1e5 random chunk sequences of 1..gamma slots: the code is the XNOR popcount."""
    d = derive_optics(name)
    pca = Pca(d.link, Effects.ideal())
    rng = np.random.default_rng(2024)
    checked = 0
    per_length = math.ceil(100_000 / d.gamma)
    for slots in range(1, d.gamma + 1):
        act = rng.integers(0, 2, (per_length, slots, d.n_lanes), dtype=np.uint8)
        wgt = rng.integers(0, 2, (per_length, slots, d.n_lanes), dtype=np.uint8)
        r = pca.integrate(act, wgt)
        expect = (act == wgt).sum(axis=(1, 2))
        bad = np.flatnonzero(r.codes != expect)
        assert bad.size == 0, (
            f"seed 2024, {slots} slots: code {r.codes[bad[0]]} != {expect[bad[0]]}"
        )
        assert not r.saturated.any() and not r.adc_clipped.any()
        checked += per_length
    assert checked >= 100_000


def test_bank_steps_match_batch_integration():
    d = derive_optics("oxbnn50")
    pca = Pca(d.link, Effects.ideal())
    bank = PcaBank(pca, 3)
    rng = np.random.default_rng(3)
    act = rng.integers(0, 2, (3, 5, d.n_lanes))
    wgt = rng.integers(0, 2, (3, 5, d.n_lanes))
    for t in range(5):
        codes, sampled = bank.step(
            act[:, t], wgt[:, t], reset=np.full(3, t == 0), sample=np.full(3, t == 4)
        )
    assert sampled.all()
    assert np.array_equal(codes, (act == wgt).sum(axis=(1, 2)))


def _bank_slot_by_slot(pca, m, act, wgt, reset, sample):
    """The PCA bank's readouts written out slot by slot here (one capacitor): the slot charges
    of all T slots drawn first (as ``PcaBank.run`` does), then per slot a reset, the charge with
    leakage, the clamp and a sample, from the ``Pca`` methods alone. Returns (codes, saturation
    events, final voltages)."""
    charges = pca.slot_charge_C(act, wgt)
    swing = pca.preset.pca.voltage_swing_V
    v, slots, sat = np.zeros(m), np.zeros(m, dtype=np.int64), np.zeros(m, dtype=bool)
    codes, events = np.zeros(reset.shape, dtype=np.int64), 0
    for t in range(len(charges)):
        if reset[t].any():
            v = np.where(reset[t], pca.reset_voltage_V((m,)), v)
            slots, sat = np.where(reset[t], 0, slots), np.where(reset[t], False, sat)
        v = pca.accumulate_V(v, charges[t])
        slots += 1
        sat |= v > swing
        if pca.effects.saturation:
            v = np.minimum(v, swing)
        if sample[t].any():
            c, _, s, _ = pca.convert(v, slots)
            codes[t] = np.where(sample[t], c, 0)
            events += int(np.count_nonzero(sample[t] & (sat | s)))
    return codes, events, v


@pytest.mark.parametrize(
    "effects",
    [Effects.ideal(), Effects(saturation=True), Effects(leakage=True), Effects.physical()],
    ids=["ideal", "saturation", "leakage", "physical"],
)
def test_bank_run_equals_slot_by_slot_readouts(effects):
    """``PcaBank.run`` integrates the quiet slots between strobes at once; its codes, saturation
    events and final voltages equal the slot-by-slot reference exactly (ideal: the voltages to
    1e-12) (the same seed, so the
    same noise draws), over runs of random length, some long enough to pass the swing."""
    d = derive_optics("oxbnn50")
    m, n, t_total = 3, d.n_lanes, 400
    rng = np.random.default_rng(5)
    act = np.ones((t_total, m, n), dtype=np.uint8)  # mostly bright: some runs saturate
    wgt = (rng.random((t_total, m, n)) < 0.9).astype(np.uint8)
    reset = np.zeros((t_total, m), dtype=bool)
    sample = np.zeros((t_total, m), dtype=bool)
    last = t_total - 3 * d.gamma  # every XPE ends with a run that passes the swing
    for e in range(m):
        t = 0
        while t < last:
            length = min(int(rng.integers(1, 3 * d.gamma)), last - t)
            reset[t, e] = True
            sample[t + length - 1, e] = True
            t += length
        reset[last, e] = sample[-1, e] = True
    ref_pca = Pca(d.link, effects, rng=np.random.default_rng(9))
    want, want_events, want_v = _bank_slot_by_slot(ref_pca, m, act, wgt, reset, sample)
    bank = PcaBank(Pca(d.link, effects, rng=np.random.default_rng(9)), m)
    got = bank.run(act, wgt, reset, sample)
    assert want_events > 0  # the swing is really reached
    assert np.array_equal(got, want), np.argwhere(got != want)[:5]
    assert bank.saturation_events == want_events
    if effects == Effects.ideal():
        # Ideal optics integrate whole counts (PcaBank.run_counts): the voltage is the count
        # times the LSB, which the slot-by-slot float sum meets to its last few bits.
        assert np.allclose(bank.v, want_v, rtol=1e-12, atol=0), (bank.v, want_v)
    else:
        assert np.array_equal(bank.v, want_v), (bank.v, want_v)


@pytest.mark.parametrize(
    "effects",
    [Effects.ideal(), Effects(ring_physics=True, crosstalk=True, leakage=True, saturation=True)],
    ids=["ideal", "deterministic-physical"],
)
def test_bank_run_skips_the_slots_a_later_reset_discards(effects):
    """A window that opens with 60 slots before every XPE's first reset (a layer's fill, the
    slots after a sample) and no sample among them: ``PcaBank.run`` does not integrate them,
    and, without noise, its codes and final voltages equal the slot-by-slot reference that
    integrates every slot; a sample before a reset keeps the window whole."""
    d = derive_optics("oxbnn50")
    m, n, lead, t_total = 3, d.n_lanes, 60, 200
    rng = np.random.default_rng(7)
    act = rng.integers(0, 2, (t_total, m, n), dtype=np.uint8)
    wgt = rng.integers(0, 2, (t_total, m, n), dtype=np.uint8)
    reset = np.zeros((t_total, m), dtype=bool)
    sample = np.zeros((t_total, m), dtype=bool)
    for e in range(m):
        for start in range(lead + e, t_total - d.gamma, d.gamma + 1):
            reset[start, e] = sample[start + d.gamma - 1, e] = True
    assert PcaBank._discarded(reset, sample) == lead
    early = sample.copy()
    early[lead - 1, 1] = True  # XPE 1 reads the slots before its reset
    assert PcaBank._discarded(reset, early) == 0
    want, _, want_v = _bank_slot_by_slot(Pca(d.link, effects), m, act, wgt, reset, sample)
    bank = PcaBank(Pca(d.link, effects), m)
    got = bank.run(act, wgt, reset, sample)
    assert np.array_equal(got, want), np.argwhere(got != want)[:5]
    assert np.allclose(bank.v, want_v, rtol=1e-12, atol=0)
    assert bank.now == t_total


def test_saturation_is_reported_not_silently_clipped():
    d = derive_optics("oxbnn50")
    n, gamma = d.n_lanes, d.gamma
    ones = np.ones((1, gamma + 2, n), dtype=np.uint8)
    # Ideal integrator: the voltage passes the swing, the readout says so.
    r = Pca(d.link, Effects.ideal()).integrate(ones, ones)
    assert r.saturated.all()
    assert r.codes[0] == (gamma + 2) * n  # no clipping in ideal mode, but flagged
    # With the saturation effect the capacitor clips at the swing, and it is still flagged.
    r = Pca(d.link, Effects(saturation=True)).integrate(ones, ones)
    assert r.saturated.all()
    assert r.voltages_V.max() == pytest.approx(d.preset.pca.voltage_swing_V)
    assert r.codes[0] == d.pca.capacity_counts or r.codes[0] < (gamma + 2) * n
    # Within gamma slots nothing is flagged.
    r = Pca(d.link, Effects(saturation=True)).integrate(ones[:, :gamma], ones[:, :gamma])
    assert not r.saturated.any()
    # A code beyond the ADC's range is clipped and flagged.
    many = np.ones((1, 30, n), dtype=np.uint8)
    r = Pca(d.link, Effects.ideal()).integrate(many, many)
    assert r.adc_clipped.all() and r.codes[0] == (1 << d.preset.pca.adc_bits) - 1
    bank = PcaBank(Pca(d.link, Effects.ideal()), 1)
    for t in range(gamma + 2):
        bank.step(ones[:, t], ones[:, t], reset=[t == 0], sample=[t == gamma + 1])
    assert bank.saturation_events == 1


@pytest.mark.parametrize(
    "effects",
    [
        Effects(shot_noise=True),
        Effects(reset_noise=True),
        Effects(rin=True),
        Effects(shot_noise=True, reset_noise=True, rin=True),
    ],
    ids=["shot", "kTC", "rin", "all"],
)
def test_noise_statistics_match_analytic(effects):
    """Monte-Carlo mean and variance of the analog code against the closed form.

    Tolerances: the mean within 5 standard errors; the variance within 5 % (the relative
    standard error of a sample variance of n = 40000 Gaussian draws is sqrt(2/n) = 0.7 %).
    """
    d = derive_optics("oxbnn50")
    pca = Pca(d.link, effects, rng=np.random.default_rng(11))
    n, slots, draws = d.n_lanes, 4, 40_000
    ones_per_slot = np.array([0, 5, 19, 12])
    act = np.zeros((draws, slots, n), dtype=np.uint8)
    wgt = np.ones((draws, slots, n), dtype=np.uint8)
    for t, k in enumerate(ones_per_slot):
        act[:, t, :k] = 1  # k lanes a == w == 1 (bright)
    r = pca.integrate(act, wgt)
    mean, var = pca.expected_stats(ones_per_slot.sum(), slots)
    sample_mean, sample_var = r.analog_codes.mean(), r.analog_codes.var(ddof=1)
    assert abs(sample_mean - mean) < 5 * math.sqrt(var / draws), (sample_mean, mean)
    assert sample_var == pytest.approx(float(var), rel=0.05)
    assert var > 1e-6  # the effect is really on


def test_physical_mode_counts_exactly_at_nominal_power():
    """The presets are designed so a full readout's error stays well inside 0.5 LSB."""
    for name in PRESETS:
        d = derive_optics(name)
        pca = Pca(d.link, Effects.physical(), rng=np.random.default_rng(5))
        rng = np.random.default_rng(6)
        act = rng.integers(0, 2, (3000, d.gamma, d.n_lanes))
        wgt = rng.integers(0, 2, (3000, d.gamma, d.n_lanes))
        r = pca.integrate(act, wgt)
        err = r.analog_codes - (act == wgt).sum(axis=(1, 2))
        assert np.abs(err).max() < 0.5, (name, np.abs(err).max())
        assert np.abs(err).std() > 0.005  # the effects are on


def test_weak_laser_makes_errors():
    """The design (N = 19) run with a laser 18 dB below nominal: noise now causes errors."""
    weak = load_preset("oxbnn50").replace("laser", power_per_wavelength_W=0.2e-3)
    pca = Pca(DwdmLink(weak, 19), Effects.physical(), rng=np.random.default_rng(5))
    rng = np.random.default_rng(6)
    act = rng.integers(0, 2, (2000, 14, 19))
    wgt = rng.integers(0, 2, (2000, 14, 19))
    assert np.any(pca.integrate(act, wgt).codes != (act == wgt).sum(axis=(1, 2)))


def test_oxg_rejects_nothing_silently():
    preset = load_preset("oxbnn50")
    oxg = Oxg(preset.ring, preset.laser.center_wavelength_m)
    assert oxg.fwhm_m < oxg.fsr_m / 10
    with pytest.raises(ValueError, match="n_lanes must be a positive integer"):
        DwdmLink(preset, 0)
    with pytest.raises(ValueError, match="states has shape"):
        DwdmLink(preset, 4).lane_powers_W(np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match="Generator"):
        Pca(DwdmLink(preset, 4), Effects.physical())
    with pytest.raises(ValueError, match="optics mode"):
        Effects.from_name("perfect")
