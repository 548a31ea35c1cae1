"""`oxbnn waves` on a hand-written VCD whose events are known by construction."""

from __future__ import annotations

import json

import pytest

from oxbnn.tools.cli import main


def _vcd(path, samples, valids):
    """clk period 10 ps; pca_sample (2 XPEs) high during the given (cycle, xpe); adc_valid and
    adc_code (4 bits per XPE) during (cycle, xpe, code). A value for cycle k is set 1 ps after
    rising edge k, which is at time 10 k."""
    lines = [
        "$timescale 1ps $end",
        "$scope module top $end",
        "$var wire 1 ! clk $end",
        '$var wire 2 " pca_sample $end',
        "$var wire 2 # adc_valid $end",
        "$var wire 8 $ adc_code $end",
        "$upscope $end",
        "$enddefinitions $end",
    ]
    changes: dict[int, list[str]] = {}
    for k in range(20):
        changes.setdefault(10 * k, []).append("1!")
        changes.setdefault(10 * k + 5, []).append("0!")
    for k in range(20):
        s = sum(1 << x for (c, x) in samples if c == k)
        v = sum(1 << x for (c, x, _) in valids if c == k)
        code = sum(code << (4 * x) for (c, x, code) in valids if c == k)
        changes.setdefault(10 * k + 1, []).extend([f'b{s:b} "', f"b{v:b} #", f"b{code:b} $"])
    for t in sorted(changes):
        lines.append(f"#{t}")
        lines.extend(changes[t])
    path.write_text("\n".join(lines) + "\n")
    return path


def test_events_pair_samples_with_codes(tmp_path, capsys):
    vcd = _vcd(
        tmp_path / "t.vcd",
        samples=[(3, 0), (7, 1), (9, 0)],
        valids=[(5, 0, 9), (9, 1, 4), (11, 0, 15)],
    )
    assert main(["waves", str(vcd), "--events", "pca_sample", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    got = [(r["cycle"], r["xpe"], r["code"], r["code_cycle"]) for r in report["events"]]
    assert got == [(3, 0, 9, 5), (7, 1, 4, 9), (9, 0, 15, 11)]
    # 20 rising edges: cycles 0..18 (the last edge ends cycle 18).
    assert (report["clock"], report["from_cycle"], report["to_cycle"]) == ("top.clk", 0, 18)


def test_list_is_one_json_object(tmp_path, capsys):
    vcd = _vcd(tmp_path / "t.vcd", samples=[], valids=[])
    assert main(["waves", str(vcd), "--list", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    widths = {r["signal"]: r["width"] for r in report["signals"]}
    assert widths == {"top.clk": 1, "top.pca_sample": 2, "top.adc_valid": 2, "top.adc_code": 8}


def test_table_window_in_cycles_and_time(tmp_path, capsys):
    vcd = _vcd(tmp_path / "t.vcd", samples=[(4, 1)], valids=[])
    assert (
        main(
            ["waves", str(vcd), "--signals", "pca_sample", "--from", "3", "--to", "50ps", "--json"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    rows = {r["cycle"]: r["top.pca_sample"] for r in out["rows"]}
    assert rows == {3: 0, 4: 2, 5: 0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--signals", "nothing_like_this"], "--signals nothing_like_this match no signal"),
        (["--clock", "ck"], "no clock signal 'ck'"),
        (["--from", "soon"], r"argument --from: expected a cycle .* not 'soon'"),
        (["--from", "5", "--to", "2"], r"--to 2 is before --from 5"),
        (["--from", "50ps", "--to", "20ps"], r"--to 20ps \(cycle 2\) is before --from 50ps"),
    ],
)
def test_named_errors(tmp_path, capsys, args, message):
    vcd = _vcd(tmp_path / "t.vcd", samples=[], valids=[])
    assert main(["waves", str(vcd), *args]) == 2
    err = capsys.readouterr().err
    assert pytest.importorskip("re").search(message, err), err


def test_missing_file(tmp_path, capsys):
    assert main(["waves", str(tmp_path / "none.vcd")]) == 2
    assert "no such VCD file" in capsys.readouterr().err


def _port_vcd(path, samples, resets, valids, code_bits=8):
    """A port VCD at S = 3, A = 2 channels of 4 bits: scopes xpe0 and xpe1 with a 3-bit
    pca_sample and pca_reset (bit s = slot s), a 2-bit adc_valid (bit c = channel c) and an
    adc_code of ``code_bits`` bits (channel c in bits 4c..4c+3). ``samples``/``resets``: (cycle,
    xpe, slot); ``valids``: (cycle, xpe, channel, code). Clock period 10 ps, values set 1 ps after
    each rising edge."""
    ids = {}
    lines = ["$timescale 1ps $end", "$scope module top $end", "$var wire 1 ! clk $end"]
    for e in range(2):
        lines.append(f"$scope module xpe{e} $end")
        for name, width in (
            ("pca_sample", 3),
            ("pca_reset", 3),
            ("adc_valid", 2),
            ("adc_code", code_bits),
        ):
            ids[e, name] = chr(35 + len(ids))
            lines.append(f"$var wire {width} {ids[e, name]} {name} $end")
        lines.append("$upscope $end")
    lines += ["$upscope $end", "$enddefinitions $end"]
    for k in range(16):
        lines += [f"#{10 * k}", "1!", f"#{10 * k + 1}"]
        for e in range(2):
            values = {
                "pca_sample": sum(1 << s for (c, x, s) in samples if (c, x) == (k, e)),
                "pca_reset": sum(1 << s for (c, x, s) in resets if (c, x) == (k, e)),
                "adc_valid": sum(1 << ch for (c, x, ch, _) in valids if (c, x) == (k, e)),
                "adc_code": sum(v << (4 * ch) for (c, x, ch, v) in valids if (c, x) == (k, e)),
            }
            lines += [f"b{v:b} {ids[e, name]}" for name, v in values.items()]
        lines += [f"#{10 * k + 5}", "0!"]
    path.write_text("\n".join(lines) + "\n")
    return path


SLOT_SAMPLES = [(2, 0, 1), (2, 1, 0), (2, 1, 2), (3, 0, 0)]  # (cycle, xpe, slot)
SLOT_VALIDS = [(4, 0, 0, 5), (4, 1, 0, 1), (4, 1, 1, 12), (5, 0, 0, 7)]  # 2 cycles later


def test_slot_level_events_pair_each_sample_with_its_channel(tmp_path, capsys):
    """Two samples of XPE 1 in cycle 2 (slots 0 and 2) come back on channels 0 and 1."""
    vcd = _port_vcd(tmp_path / "p.vcd", SLOT_SAMPLES, [(2, 0, 2)], SLOT_VALIDS)
    assert main(["waves", str(vcd), "--events", "pca_sample", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    got = [
        (r["cycle"], r["slot"], r["xpe"], r["code"], r["channel"], r["code_cycle"], r["signal"])
        for r in report["events"]
    ]
    assert got == [
        (2, 0, 1, 1, 0, 4, "top.xpe1.pca_sample"),
        (2, 1, 0, 5, 0, 4, "top.xpe0.pca_sample"),
        (2, 2, 1, 12, 1, 4, "top.xpe1.pca_sample"),
        (3, 0, 0, 7, 0, 5, "top.xpe0.pca_sample"),
    ]
    assert main(["waves", str(vcd), "--events", "pca_sample"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("# 4 pca_sample events in cycles 0..14"), text[0]
    assert text[1].split() == ["cycle", "slot", "xpe", "code", "channel", "at", "cycle", "signal"]
    assert text[4].split() == ["2", "2", "1", "12", "1", "4", "top.xpe1.pca_sample"]


def test_resets_are_listed_per_slot_without_codes(tmp_path, capsys):
    vcd = _port_vcd(tmp_path / "p.vcd", SLOT_SAMPLES, [(2, 0, 2), (3, 1, 1)], SLOT_VALIDS)
    assert main(["waves", str(vcd), "--events", "pca_reset", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["events"]
    assert [(r["cycle"], r["slot"], r["xpe"], r["code"], r["channel"]) for r in rows] == [
        (2, 2, 0, None, None),
        (3, 1, 1, None, None),
    ]


def test_a_code_vector_that_does_not_split_into_channels_is_refused(tmp_path, capsys):
    vcd = _port_vcd(tmp_path / "p.vcd", SLOT_SAMPLES, [], SLOT_VALIDS, code_bits=7)
    assert main(["waves", str(vcd), "--events", "pca_sample"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert f"{vcd}: top.xpe0.adc_code has 7 bits, not a whole number of codes for the 2 " in err[0]
