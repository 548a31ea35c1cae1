"""``oxbnn timing``: synthesis to OSU018 + OpenSTA, the FO4 measurement, the node table, bad input.

The flow tests need Debian's yosys, OpenSTA (``sta``) and qflow-tech-osu018 (``make setup``);
without them they are skipped, and the bad-input tests check the error that names the tool.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from oxbnn.models import technology
from oxbnn.models.configs import PRESET_DIR, XpuParams
from oxbnn.tools import cli, sta

HAVE_FLOW = bool(shutil.which("yosys") and shutil.which("sta") and sta.LIBERTY.is_file())
needs_flow = pytest.mark.skipif(not HAVE_FLOW, reason="yosys, sta or osu018 missing (make setup)")

#: A small XPU: two XPEs of four lanes, buffers of 16 words, 16 output channels.
SMALL = XpuParams(
    n_lanes=4,
    n_xpes=2,
    gamma=2,
    adc_bits=4,
    act_buffer_depth=16,
    wgt_buffer_depth=16,
    max_out_channels=16,
    name="sta_small",
)

KEYS = (
    "critical_path_ps",
    "fo4_ps",
    "critical_path_fo4",
    "library",
    "target_node",
    "fo4_ps_target",
    "f_max_hz",
    "symbols_per_cycle",
    "clock_hz",
    "clock_closes",
    "startpoint",
    "endpoint",
    "cells",
    "flip_flops",
    "synthesised",
    "seconds",
)


# ----------------------------------------------------------------------------------------------
# FO4: an independent hand computation from the liberty tables
# ----------------------------------------------------------------------------------------------


def _liberty_cell(text: str, cell: str) -> str:
    start = text.index(f"cell ({cell})")
    return text[start : text.index("cell (", start + 1)]


def _table(cell_text: str, name: str) -> tuple[list[float], list[float], list[list[float]]]:
    m = re.search(
        rf"{name}\(\w+\)\s*\{{\s*index_1 \(\"([^\"]+)\"\);\s*index_2 \(\"([^\"]+)\"\);"
        rf"\s*values \(([^;]+)\);",
        cell_text,
    )
    loads = [float(x) for x in m.group(1).split(",")]
    slews = [float(x) for x in m.group(2).split(",")]
    rows = [[float(x) for x in row.split(",")] for row in re.findall(r"\"([^\"]+)\"", m.group(3))]
    return loads, slews, rows


def _bilinear(table, load: float, slew: float) -> float:
    loads, slews, rows = table
    i = max(0, min(len(loads) - 2, sum(1 for x in loads if x <= load) - 1))
    j = max(0, min(len(slews) - 2, sum(1 for x in slews if x <= slew) - 1))
    u = (load - loads[i]) / (loads[i + 1] - loads[i])
    v = (slew - slews[j]) / (slews[j + 1] - slews[j])
    return (
        (1 - u) * (1 - v) * rows[i][j]
        + u * (1 - v) * rows[i + 1][j]
        + (1 - u) * v * rows[i][j + 1]
        + u * v * rows[i + 1][j + 1]
    )


def _fo4_from_liberty(path: Path, cell: str = "INVX1") -> float:
    """FO4 of ``cell`` in ps by hand: its delay tables at four copies' input capacitance.

    In a long chain the stage that rises is driven by a falling edge whose slew is the fall
    transition of the stage before, and vice versa: iterate the two slews to their fixed point,
    then average the rise and fall delays. Units of the file: ns and pF.
    """
    text = _liberty_cell(path.read_text(), cell)
    cap = float(re.search(r"pin\(A\)\s*\{[^}]*?\bcapacitance : ([0-9.]+);", text).group(1))
    load = 4 * cap
    tables = {
        n: _table(text, n) for n in ("cell_rise", "cell_fall", "rise_transition", "fall_transition")
    }
    rise_slew = fall_slew = 0.1
    for _ in range(50):
        rise_slew = _bilinear(tables["rise_transition"], load, fall_slew)
        fall_slew = _bilinear(tables["fall_transition"], load, rise_slew)
    rise = _bilinear(tables["cell_rise"], load, fall_slew)
    fall = _bilinear(tables["cell_fall"], load, rise_slew)
    return (rise + fall) / 2 * 1e3


@needs_flow
def test_fo4_chain_is_linear_in_its_length(tmp_path):
    """k stages take about k times one stage: the increments over 4, 8 and 16 stages agree."""
    d = sta.time_chains((4, 8, 16), work=tmp_path)
    per_stage_short = (d[8] - d[4]) / 4
    per_stage_long = (d[16] - d[8]) / 8
    assert per_stage_short == pytest.approx(per_stage_long, rel=0.01)
    # The chain's start (an ideal input edge) is the only offset: small against 4 stages.
    assert abs(d[4] - 4 * per_stage_long) < per_stage_long


@needs_flow
def test_fo4_matches_the_library_tables_and_a_plausible_range(tmp_path):
    """OpenSTA's FO4 equals a hand interpolation of INVX1's tables, and is plausible for 180 nm.

    Plausible range: a rule of thumb puts the FO4 of a process at one third (typical) to one
    half (worst case) of its drawn gate length in nm in ps, 60 to 90 ps at 180 nm (Ho, Mai and
    Horowitz, "The future of wires", Proc. IEEE 89(4), 2001). An academic library of minimum-size
    cells characterised conservatively may be slower; 40 to 150 ps allows for that, and any unit
    slip (ns read as ps, pF as fF) lands far outside.
    """
    fo4 = sta.measure_fo4(work=tmp_path)
    assert fo4.fo4_ps == pytest.approx(_fo4_from_liberty(sta.LIBERTY), rel=0.03)
    assert 40.0 < fo4.fo4_ps < 150.0


# ----------------------------------------------------------------------------------------------
# The node table
# ----------------------------------------------------------------------------------------------


def test_node_table_covers_the_required_nodes_with_sources():
    for nm in (180, 130, 90, 65, 45, 32, 28, 22, 14, 7):
        n = technology.node(nm)
        assert n.source and n.vdd_V > 0
    # By hand from the paper's polynomials: d(45 nm, 1.0 V) = -501.6 + 1567 - 1619 + 566.1
    # = 12.5; d(180 nm, 1.8 V) = 97.09 * 3.24 - 356.7 * 1.8 + 406.5 = 79.0116.
    assert technology.delay_factor(45) == pytest.approx(12.5 / 79.0116, rel=1e-4)
    # Interpolated nodes lie between their neighbours.
    lo, hi = sorted((technology.delay_factor(32), technology.delay_factor(20)))
    assert lo < technology.delay_factor(28) < hi and lo < technology.delay_factor(22) < hi
    assert "interpolated" in technology.node(28).source


def test_unknown_node_names_key_and_known_nodes():
    with pytest.raises(technology.TechnologyError) as exc:
        technology.node(33, key="p.toml: [architecture] target_node_nm")
    text = str(exc.value)
    assert "target_node_nm" in text and "33" in text and "45" in text and "7" in text


# ----------------------------------------------------------------------------------------------
# The whole flow on a small XPU
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    if not HAVE_FLOW:
        pytest.skip("yosys, sta or osu018 missing (make setup)")
    out = tmp_path_factory.mktemp("sta")
    return out, sta.timing_report("oxbnn50-s1", out=out, xpu=SMALL)


def test_small_xpu_report(small_report):
    out, r = small_report
    for key in KEYS:
        assert key in r, key
    assert r["critical_path_ps"] > 0 and r["fo4_ps"] > 0
    assert r["target_node"] == "45 nm"
    # The clock the simulator assumes: oxbnn50's 50 Gb/s at the S = 1 idealisation.
    assert r["clock_hz"] == 50e9 and r["symbols_per_cycle"] == 1
    assert r["clock_closes"] is False  # no CMOS back end closes 50 GHz
    # f_max is the path in FO4 times the target node's FO4.
    assert r["f_max_hz"] * r["critical_path_fo4"] * r["fo4_ps_target"] == pytest.approx(1e12)
    assert r["fo4_ps_target"] < r["fo4_ps"]
    # The worst path is the longest of every group reported.
    for group, path in r["paths"].items():
        assert path["critical_path_ps"] <= r["critical_path_ps"] + 1e-6, group
    # A path crosses at least one flip-flop's clock-to-Q and setup (from the library's tables,
    # at least 0.1 ns together) and one cell per stage.
    assert r["critical_path_ps"] > 100 and r["cells_on_path"] >= 2
    s = r["synthesised"]
    assert (s["n_lanes"], s["n_xpes"], s["gamma"]) == (4, 2, 2)
    macros = {m["memory"]: m for m in s["sram_macros_cut_out"]}
    # The two tile buffers (two banks of 16 words of N bits; every XPE reads the activation
    # buffer through ports of its own) and the threshold memory are macros; the result FIFO
    # (asynchronous read) is not.
    assert set(macros) == {"act_buffer.mem", "wgt_buffer.mem", "host_if.thresholds"}
    assert (macros["act_buffer.mem"]["width"], macros["act_buffer.mem"]["words"]) == (4, 32)
    assert macros["act_buffer.mem"]["read_ports"] >= SMALL.n_xpes
    # Two banks of thresholds (the running layer's and the queued one's), one address bit apart.
    assert macros["host_if.thresholds"]["words"] == 2 * SMALL.max_out_channels
    # The FIFO's words are flip-flops now: at least its depth times the result width.
    info = json.loads((out / "export" / "xpu_sta_small.json").read_text())
    assert r["flip_flops"] >= info["result_depth"] * info["result_layout_size"]
    assert 0 < r["flip_flops"] < r["cells"]


def test_critical_path_is_the_period_that_just_closes(small_report):
    """Retime the netlist at the reported period: slack 0; 2 % shorter: it fails."""
    out, r = small_report
    netlist = next((out / "cache").glob("xpu_sta_small-*/netlist.v"))
    slacks = []
    for period_ps in (r["critical_path_ps"], 0.98 * r["critical_path_ps"]):
        tcl = netlist.parent / "check.tcl"
        tcl.write_text(
            f"read_liberty {sta.LIBERTY}\nread_verilog netlist.v\nlink_design xpu_sta_small\n"
            f"create_clock -name clk -period {period_ps / 1e3:.6f} [get_ports clk]\n"
            "report_checks -path_delay max -digits 6 -from [all_registers -clock_pins] "
            "-to [all_registers -data_pins]\n"
        )
        proc = subprocess.run(
            ["sta", "-no_init", "-exit", tcl.name],
            cwd=netlist.parent,
            capture_output=True,
            text=True,
            check=True,
        )
        slacks.append(float(re.search(r"(-?[0-9.]+)\s+slack", proc.stdout).group(1)) * 1e3)
    assert abs(slacks[0]) < 1.0  # ps
    assert slacks[1] < -0.01 * r["critical_path_ps"]


def test_rerun_is_cached(small_report):
    out, r = small_report
    # The same XPU under the shipped preset (S = 49): the same Verilog, so the cached analysis,
    # judged against that preset's clock, 50 GHz / 49.
    again = sta.timing_report("oxbnn50", out=out, xpu=SMALL)
    assert again["cached"] is True and r["cached"] is False
    assert again["critical_path_ps"] == r["critical_path_ps"]
    assert again["clock_hz"] == 50e9 / 49 and again["symbols_per_cycle"] == 49
    assert again["clock_closes"] is (again["f_max_hz"] >= again["clock_hz"])
    # Export and the FO4 chain only: far less than the synthesis the first run did.
    assert again["seconds"] < r["synthesis_seconds"] / 2


# ----------------------------------------------------------------------------------------------
# Bad input: one line, no traceback
# ----------------------------------------------------------------------------------------------


def _one_line_error(capsys, argv, *needles):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def test_unknown_preset(capsys, tmp_path):
    _one_line_error(
        capsys, ["timing", "--preset", "nosuch", "--out", str(tmp_path)], "nosuch", "--preset"
    )


def test_node_not_in_table(capsys, tmp_path):
    text = (PRESET_DIR / "oxbnn50.toml").read_text()
    bad = tmp_path / "node33.toml"
    bad.write_text(re.sub(r"target_node_nm = \{ value = 45", "target_node_nm = { value = 33", text))
    _one_line_error(
        capsys,
        ["timing", "--preset", str(bad), "--out", str(tmp_path)],
        "node33.toml",
        "target_node_nm",
        "33",
        "expected one of 180",
    )


@pytest.mark.parametrize("missing", ["yosys", "sta"])
def test_missing_tool(capsys, tmp_path, monkeypatch, missing):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in {"yosys", "sta"} - {missing}:
        (bindir / tool).symlink_to(shutil.which(tool) or "/bin/true")
    monkeypatch.setenv("PATH", str(bindir))
    _one_line_error(
        capsys, ["timing", "--out", str(tmp_path / "o")], f"'{missing}' not found", "make setup"
    )


def test_missing_liberty(capsys, tmp_path, monkeypatch):
    if not (shutil.which("yosys") and shutil.which("sta")):
        pytest.skip("yosys or sta missing")
    monkeypatch.setattr(sta, "LIBERTY", tmp_path / "none.lib")
    _one_line_error(
        capsys, ["timing", "--out", str(tmp_path / "o")], "qflow-tech-osu018", "make setup"
    )


@pytest.mark.parametrize("xpes", ["0", "x"])
def test_bad_xpes_option(capsys, tmp_path, xpes):
    _one_line_error(capsys, ["timing", "--xpes", xpes, "--out", str(tmp_path)], "--xpes")


def test_more_xpes_than_the_preset(capsys, tmp_path):
    _one_line_error(
        capsys, ["timing", "--xpes", "20", "--out", str(tmp_path)], "--xpes 20", "M = 19"
    )


def test_fanout_buffer_tree():
    """Every net ends at most MAX_FANOUT cell loads; each load still hangs off its old driver.

    Net 2 drives 300 inverters (two levels of buffers); net 3 drives 20 output ports and
    3 cells (ports cannot move: it terminates with the cells behind one buffer); net 4 (the
    clock) is left alone.
    """
    cells = {}
    for i in range(300):
        cells[f"u{i}"] = {
            "type": "INVX1",
            "port_directions": {"A": "input", "Y": "output"},
            "connections": {"A": [2], "Y": [1000 + i]},
        }
    for i in range(3):
        cells[f"v{i}"] = {
            "type": "INVX1",
            "port_directions": {"A": "input", "Y": "output"},
            "connections": {"A": [3], "Y": [2000 + i]},
        }
    for i in range(40):
        cells[f"f{i}"] = {
            "type": "DFFPOSX1",
            "port_directions": {"CLK": "input", "D": "input", "Q": "output"},
            "connections": {"CLK": [4], "D": [2], "Q": [3000 + i]},
        }
    ports = {"clk": {"direction": "input", "bits": [4]}, "a": {"direction": "input", "bits": [2]}}
    ports.update({f"o{i}": {"direction": "output", "bits": [3]} for i in range(20)})
    netlist = {"modules": {"t": {"ports": ports, "cells": cells}}}
    added = sta._buffer_fanout(netlist, "t")
    loads: dict[int, int] = {}
    driver: dict[int, int] = {}
    for cell in cells.values():
        for pin, bits in cell["connections"].items():
            if cell["port_directions"][pin] == "input":
                loads[bits[0]] = loads.get(bits[0], 0) + 1
        if cell["type"] == sta.FANOUT_BUFFER:
            driver[cell["connections"]["Y"][0]] = cell["connections"]["A"][0]
    assert all(n <= sta.MAX_FANOUT for net, n in loads.items() if net != 4)
    assert loads[4] == 40  # the clock net
    # 340 loads of net 2: 22 buffers, then 2 above them; net 3: 1 buffer (4 slots left).
    assert added == 22 + 2 + 1

    def root(net):
        while net in driver:
            net = driver[net]
        return net

    assert all(root(c["connections"]["A"][0]) == 2 for n, c in cells.items() if n[0] == "u")
    assert all(root(c["connections"]["D"][0]) == 2 for n, c in cells.items() if n[0] == "f")
    assert all(root(c["connections"]["A"][0]) == 3 for n, c in cells.items() if n[0] == "v")
