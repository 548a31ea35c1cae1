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
