"""Interrupted accuracy sweeps resume; the sweep CSV's bad contents; ``oxbnn accuracy-sweep``'s
bad options.

A sweep is killed (a real process, SIGTERM, after its first row is on disk) or interrupted in
process (Ctrl-C raised from the point evaluator) and rerun: no point may be lost or written
twice, no line cut, the rerun must say how many points it reused, and a run with other
``--images``, ``--seed``, preset values or code must not reuse them. Every case runs the real
command through :func:`oxbnn.tools.cli.main` on a few images; bad options are refused while
parsing, before any point is computed.
"""

from __future__ import annotations

import csv
import fcntl
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oxbnn.models import sweep as sweep_module
from oxbnn.models.configs import load_preset
from oxbnn.models.sweep import SWEEPS
from oxbnn.tools import sweep_cmd
from oxbnn.tools.cli import build_parser, main

PRESETS = Path(sweep_module.__file__).resolve().parent / "configs"


def _sweep(out: Path, *extra: str, images: int = 4, points: int = 3) -> list[str]:
    return [
        "accuracy-sweep",
        "--images",
        str(images),
        "--points",
        str(points),
        "--sweeps",
        "laser_power",
        "--out",
        str(out),
        *extra,
    ]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _csv(out: Path, sweep: str = "laser_power") -> Path:
    return out / "oxbnn50" / f"accuracy_vs_{sweep}.csv"


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return rc, err


@pytest.fixture
def fixed_code(monkeypatch):
    """The models' sources hash pinned: other people's edits of the tree cannot change a key."""
    monkeypatch.setattr(sweep_module, "sources_digest", lambda: "pinned")


def _stop_at_call(monkeypatch, n: int) -> list[int]:
    """Make the ``n``-th point evaluation raise KeyboardInterrupt (Ctrl-C); returns the counter."""
    calls = [0]
    real = sweep_cmd.evaluate_point

    def evaluate(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_cmd, "evaluate_point", evaluate)
    return calls


# ----------------------------------------------------------------------------------------------
# Resuming
# ----------------------------------------------------------------------------------------------


def test_a_killed_sweep_process_resumes_without_losing_or_repeating_a_point(tmp_path, capsys):
    argv = _sweep(tmp_path, images=10, points=12)
    path = _csv(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "oxbnn.tools.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (path.exists() and path.read_text().count("\n") >= 2):
            assert proc.poll() is None, (
                f"the sweep ended before it was killed: {proc.stderr.read()}"
            )
            assert time.monotonic() < deadline, "no row after 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err, err
    killed = path.read_text()
    assert killed.endswith("\n"), "a row was cut"
    kept = _rows(path)
    assert 1 <= len(kept) < 12, f"killed after the first row, yet {len(kept)} rows"
    assert all(None not in r and None not in r.values() for r in kept), "a row of wrong width"

    rc, err = _run(capsys, argv)
    assert rc == 0
    assert f"reusing {len(kept)} finished point(s), computing {12 - len(kept)}" in err, err
    assert path.read_text().startswith(killed), "the rerun rewrote the killed run's rows"
    rows = _rows(path)
    assert len(rows) == 12 and len({r["run_key"] for r in rows}) == 1
    assert sorted(float(r["attenuation_dB"]) for r in rows) == pytest.approx(
        [30.0 * i / 11 for i in range(12)], abs=1e-4
    ), "a point lost or repeated"


def test_an_interrupted_sweep_resumes_to_the_uninterrupted_result(
    tmp_path, capsys, monkeypatch, fixed_code
):
    argv = [*_sweep(tmp_path / "a", points=4), "--json"]
    calls = _stop_at_call(monkeypatch, 3)
    rc, err = _run(capsys, argv)
    assert rc == 130 and "oxbnn accuracy-sweep: interrupted" in err, err
    assert calls[0] == 3
    first = _rows(_csv(tmp_path / "a"))
    assert len(first) == 2 and not (tmp_path / "a" / "oxbnn50" / "summary.json").exists()

    monkeypatch.undo()  # the evaluator back, and with it the real sources hash
    monkeypatch.setattr(sweep_module, "sources_digest", lambda: "pinned")
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 0 and "reusing 2 finished point(s), computing 2" in captured.err
    resumed = json.loads(captured.out)
    rows = _rows(_csv(tmp_path / "a"))
    assert rows[:2] == first and len(rows) == 4
    assert len({r["point_key"] for r in rows}) == 4

    # The same sweep never interrupted, elsewhere: the same points, value for value.
    rc = main([*_sweep(tmp_path / "b", points=4), "--json"])
    fresh = json.loads(capsys.readouterr().out)

    def strip(summary):
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in summary["sweeps"][SWEEPS[0]]]

    assert rc == 0 and strip(resumed) == strip(fresh)
    assert resumed["run_key"] == fresh["run_key"] and resumed["runs"] == [resumed["run_key"]]
    assert (resumed["points_reused"], resumed["points_computed"]) == (2, 2)
    on_disk = json.loads((tmp_path / "a" / "oxbnn50" / "summary.json").read_text())
    assert on_disk["run_key"] == resumed["run_key"] and on_disk["complete"] is True


def test_a_complete_rerun_computes_nothing_and_more_points_reuse_the_shared_ones(
    tmp_path, capsys, monkeypatch, fixed_code
):
    assert _run(capsys, _sweep(tmp_path, points=3))[0] == 0  # 0, 15, 30 dB
    calls = _stop_at_call(monkeypatch, 10**6)  # counts, never stops
    rc, err = _run(capsys, _sweep(tmp_path, points=3))
    assert rc == 0 and calls[0] == 0 and "reusing 3 finished point(s), computing 0" in err
    rc, err = _run(capsys, _sweep(tmp_path, points=5))  # 0, 7.5, 15, 22.5, 30 dB
    assert rc == 0 and calls[0] == 2 and "reusing 3 finished point(s), computing 2" in err
    rows = _rows(_csv(tmp_path))
    assert sorted(float(r["attenuation_dB"]) for r in rows) == [0, 7.5, 15, 22.5, 30]


@pytest.mark.parametrize(
    "change",
    [["--images", "5"], ["--seed", "2"], "preset value", "code"],
    ids=["images", "seed", "preset", "code"],
)
def test_a_run_with_another_key_reuses_nothing_and_keeps_the_old_rows(
    tmp_path, capsys, monkeypatch, fixed_code, change
):
    rc, _ = _run(capsys, [*_sweep(tmp_path, points=2), "--json"])
    old = _rows(_csv(tmp_path))
    extra: list[str] = []
    if change == "preset value":
        # Same name, one coefficient changed: the content decides, not the name.
        text = (PRESETS / "oxbnn50.toml").read_text()
        changed = text.replace("value = 12.74e-3", "value = 12.0e-3", 1)
        assert changed != text
        (tmp_path / "mine.toml").write_text(changed)
        assert load_preset(str(tmp_path / "mine.toml")).name == "oxbnn50"
        extra = ["--preset", str(tmp_path / "mine.toml")]
    elif change == "code":
        monkeypatch.setattr(sweep_module, "sources_digest", lambda: "edited")
    else:
        extra = change
    drawn: list[list[dict]] = []
    real_plot = sweep_cmd.plot_sweep

    def plot(sweep, rows, *rest):
        drawn.append(rows)
        return real_plot(sweep, rows, *rest)

    monkeypatch.setattr(sweep_cmd, "plot_sweep", plot)
    rc = main([*_sweep(tmp_path, points=2), "--json", *extra])
    captured = capsys.readouterr()
    assert rc == 0 and "Traceback" not in captured.err
    assert "reusing 0 finished point(s), computing 2" in captured.err, captured.err
    summary = json.loads(captured.out)
    rows = _rows(_csv(tmp_path))
    assert rows[:2] == old and len(rows) == 4, "old rows lost or new ones missing"
    new_key = summary["run_key"]
    assert new_key != old[0]["run_key"] and {r["run_key"] for r in rows[2:]} == {new_key}
    assert summary["runs"] == [new_key]
    assert summary["other_runs_in_csv"] == {"laser_power": {old[0]["run_key"]: 2}}
    assert old[0]["run_key"] in captured.err  # the rerun says whose rows it leaves alone
    # The plot and the summary hold the current key's points only.
    images = 5 if change == ["--images", "5"] else 4
    seed = 2 if change == ["--seed", "2"] else 1
    assert drawn and all(len(r) <= 2 for r in drawn)
    assert all(row["images"] == images and row["seed"] == seed for row in drawn[-1])
    assert len(summary["sweeps"]["laser_power"]) == 2


def test_a_partial_last_line_is_dropped_with_a_message(tmp_path, capsys, fixed_code):
    assert _run(capsys, _sweep(tmp_path, points=2))[0] == 0
    path = _csv(tmp_path)
    whole = path.read_text()
    last = whole.splitlines()[-1]
    path.write_text(whole + last[: len(last) // 2])  # killed in the middle of a row
    rc, err = _run(capsys, _sweep(tmp_path, points=3))
    assert rc == 0 and "dropped line 4 (no final newline)" in err and str(path) in err, err
    assert "reusing 2 finished point(s), computing 1" in err
    rows = _rows(path)
    assert len(rows) == 3 and len({r["point_key"] for r in rows}) == 3
    assert path.read_text().endswith("\n")


def test_a_header_cut_by_a_kill_is_dropped(tmp_path, capsys, fixed_code):
    path = _csv(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("run_key,point_key,attenu")  # killed while writing the header
    rc, err = _run(capsys, _sweep(tmp_path, points=2))
    assert rc == 0 and "dropped its header" in err, err
    assert len(_rows(path)) == 2 and path.read_text().startswith(
        "run_key,point_key,attenuation_dB,"
    )


def test_a_last_row_of_the_wrong_width_is_dropped_and_recomputed(tmp_path, capsys, fixed_code):
    assert _run(capsys, _sweep(tmp_path, points=2))[0] == 0
    path = _csv(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + ",".join(lines[-1].split(",")[:5]) + "\n")
    rc, err = _run(capsys, _sweep(tmp_path, points=2))
    assert rc == 0 and "dropped line 3 (5 of" in err, err
    assert "reusing 1 finished point(s), computing 1" in err
    assert len(_rows(path)) == 2


def test_a_bom_and_an_extra_column_are_accepted(tmp_path, capsys, fixed_code):
    assert _run(capsys, _sweep(tmp_path, points=2))[0] == 0
    path = _csv(tmp_path)
    header, *body = path.read_text().splitlines()
    path.write_text(
        "\ufeff" + header + ",note\n" + "".join(line + ",by hand\n" for line in body),
        encoding="utf-8",
    )
    rc, err = _run(capsys, _sweep(tmp_path, points=3))
    assert rc == 0 and "reusing 2 finished point(s), computing 1" in err, err
    rows = _rows(path)
    assert [r["note"] for r in rows] == ["by hand", "by hand", ""]


def test_a_second_sweep_on_the_same_folder_is_refused_at_once(tmp_path, capsys):
    folder = tmp_path / "oxbnn50"
    folder.mkdir()
    with open(folder / sweep_cmd.LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        rc, err = _run(capsys, _sweep(tmp_path))  # refused, not waiting for the lock
    assert rc == 2
    assert "another oxbnn accuracy-sweep is writing" in err and str(folder) in err, err
    assert not _csv(tmp_path).exists()


# ----------------------------------------------------------------------------------------------
# A sweep CSV that cannot be appended to: exit 2, the file named, the file left as it is
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_csv(tmp_path_factory) -> str:
    """A complete sweep CSV of 2 points of the pinned-code run of :func:`_sweep`."""
    out = tmp_path_factory.mktemp("good")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sweep_module, "sources_digest", lambda: "pinned")
        assert main(_sweep(out, points=2)) == 0
    return _csv(out).read_text()


OLD_HEADER = "attenuation_dB,laser_power_per_wavelength_W,accuracy\n0,0.01274,0.947222\n"


def _corrupt(kind: str, path: Path) -> bytes:
    """The bytes of a CSV of kind ``kind``; ``path`` holds a good sweep CSV of this run."""
    header, first, second = path.read_text().splitlines()
    if kind == "not utf-8":
        return b"run_key,point_key\n\xff\xfe\x00garbage\n"
    if kind == "old format":
        return OLD_HEADER.encode()
    if kind == "foreign csv":
        return b"name,age\nada,36\n"
    if kind == "header twice":
        return (header + ",accuracy\n").encode()
    if kind == "middle row cut":
        return (header + "\n" + first[:10] + "\n" + second + "\n").encode()
    if kind == "accuracy not a number":
        cells = first.split(",")
        cells[header.split(",").index("accuracy")] = "high"
        return (header + "\n" + ",".join(cells) + "\n" + second + "\n").encode()
    if kind == "accuracy above 1":
        cells = first.split(",")
        cells[header.split(",").index("accuracy")] = "94.7"
        return (header + "\n" + ",".join(cells) + "\n" + second + "\n").encode()
    if kind == "knob not finite":
        cells = first.split(",")
        cells[header.split(",").index("attenuation_dB")] = "nan"
        return (header + "\n" + ",".join(cells) + "\n" + second + "\n").encode()
    if kind == "bare CR line ends":
        return ("\r".join((header, first, second)) + "\r").encode()
    if kind == "middle row cut, last line partial":
        return (header + "\n" + first[:10] + "\n" + second + "\n" + second[:30]).encode()
    if kind == "one foreign line":
        return b"hello"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        ("not utf-8", "is not UTF-8 text"),
        ("old format", "the header lacks the column(s) run_key, point_key"),
        ("foreign csv", "the header lacks the column(s) run_key"),
        ("header twice", "line 1: the header names a column twice"),
        ("middle row cut", "line 2: 1 fields, the header has"),
        ("accuracy not a number", "line 2: column accuracy is 'high', expected a number in 0..1"),
        ("accuracy above 1", "line 2: column accuracy is '94.7', expected a number in 0..1"),
        ("knob not finite", "line 2: column attenuation_dB is 'nan', expected a finite number"),
        ("middle row cut, last line partial", "line 2: 1 fields, the header has"),
        ("bare CR line ends", "line 1: lines that end in a bare CR"),
        ("one foreign line", "line 1: one line 'hello', not the header of a sweep CSV"),
    ],
)
def test_a_sweep_csv_that_cannot_be_appended_to_is_named(
    tmp_path, capsys, fixed_code, kind, pattern
):
    assert _run(capsys, _sweep(tmp_path, points=2))[0] == 0
    path = _csv(tmp_path)
    bad = _corrupt(kind, path)
    path.write_bytes(bad)
    rc, err = _run(capsys, _sweep(tmp_path, points=2))
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"oxbnn accuracy-sweep: error: {path}"), lines[0]
    assert pattern in lines[0] and "move it away or choose another --out" in lines[0]
    assert path.read_bytes() == bad, "a file that could not be read was changed"


def test_a_folder_where_the_csv_goes_is_named(tmp_path, capsys):
    _csv(tmp_path).mkdir(parents=True)
    rc, err = _run(capsys, _sweep(tmp_path))
    assert rc == 2 and f"{_csv(tmp_path)}: is a folder, expected a sweep CSV file" in err, err


# ----------------------------------------------------------------------------------------------
# Options: refused while parsing (no point computed), the option named
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "pattern"),
    [
        ("--images", "0", "expected an integer in 1..360, not '0'"),
        ("--images", "361", "expected an integer in 1..360, not '361'"),
        ("--images", "-3", "expected an integer in 1..360"),
        ("--images", "ten", "expected an integer in 1..360, not 'ten'"),
        ("--images", "2.5", "expected an integer in 1..360"),
        ("--images", "", "expected an integer in 1..360"),
        ("--points", "1", "expected an integer in 2..1000, not '1'"),
        ("--points", "0", "expected an integer in 2..1000"),
        ("--points", "1001", "expected an integer in 2..1000"),
        ("--points", str(10**30), "expected an integer in 2..1000"),
        ("--points", "many", "expected an integer in 2..1000"),
        ("--sweeps", "", "expected a comma-separated list of sweep names"),
        ("--sweeps", ",", "expected a comma-separated list of sweep names"),
        ("--sweeps", "laser_power,,adc_bits", "expected a comma-separated list of sweep names"),
        ("--sweeps", "colour", "unknown sweep 'colour'"),
        ("--sweeps", "laser_power,colour", "unknown sweep 'colour'"),
        ("--sweeps", "laser_power,laser_power", "laser_power given twice"),
        ("--check-db", "", "expected a comma-separated list of attenuations in dB"),
        ("--check-db", "0,x", "expected attenuations in 0..60 dB, not 'x'"),
        ("--check-db", "-1", "expected attenuations in 0..60 dB, not '-1'"),
        ("--check-db", "61", "expected attenuations in 0..60 dB, not '61'"),
        ("--check-db", "nan", "expected attenuations in 0..60 dB, not 'nan'"),
        ("--check-db", "inf", "expected attenuations in 0..60 dB, not 'inf'"),
        ("--check-db", "0,15,15", "15 given twice in '0,15,15'"),
        ("--check-db", "0,0.0", "an attenuation is given twice in '0,0.0'"),
        ("--check-images", "0", "expected an integer in 1..360"),
        ("--check-images", "400", "expected an integer in 1..360"),
        ("--check-images", "x", "expected an integer in 1..360"),
        ("--seed", "-1", "not '-1'"),
        ("--seed", "1.5", "not '1.5'"),
        ("--seed", "seed", "not 'seed'"),
    ],
)
def test_bad_options_are_refused_while_parsing(
    tmp_path, capsys, monkeypatch, option, value, pattern
):
    calls = _stop_at_call(monkeypatch, 10**6)
    rc, err = _run(capsys, ["accuracy-sweep", "--out", str(tmp_path), option, value])
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"oxbnn accuracy-sweep: error: argument {option}: "), lines[0]
    assert pattern in lines[0], lines[0]
    assert lines[0].endswith("(see oxbnn accuracy-sweep --help)")
    assert calls[0] == 0 and not any(tmp_path.iterdir()), "refused after it started"


def test_legal_option_edges_are_accepted():
    args = build_parser().parse_args(
        [
            "accuracy-sweep",
            "--images",
            "360",
            "--points",
            "1000",
            "--sweeps",
            " adc_bits , laser_power ",
            "--check-db",
            "0, 7.5,60",
            "--check-images",
            "1",
            "--seed",
            "0",
        ]
    )
    assert (args.images, args.points, args.check_images, args.seed) == (360, 1000, 1, 0)
    assert args.sweeps == ["adc_bits", "laser_power"] and args.check_db == [0.0, 7.5, 60.0]
    defaults = build_parser().parse_args(["accuracy-sweep"])
    assert defaults.sweeps == list(SWEEPS) and defaults.check_db == [0.0, 15.0, 20.0]
    assert (defaults.images, defaults.points, defaults.check_images) == (360, 7, 20)


def test_missing_params_file_is_named(tmp_path, capsys):
    rc, err = _run(capsys, [*_sweep(tmp_path), "--params", str(tmp_path / "none.npz")])
    assert rc == 2 and "digits parameter file does not exist" in err and "none.npz" in err, err


def test_the_sigterm_handler_is_restored(tmp_path, capsys, fixed_code):
    """The command turns SIGTERM into Ctrl-C while it runs only; the caller's handler returns."""
    before = signal.getsignal(signal.SIGTERM)
    assert _run(capsys, _sweep(tmp_path, points=2))[0] == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_sweep_csv_refuses_a_write_outside_its_block_and_a_point_twice(tmp_path):
    key = sweep_module.RunKey({"test": 1})
    table = sweep_module.SweepCsv(tmp_path / "s.csv", key, ["attenuation_dB"])
    row = {"attenuation_dB": 0.0, "accuracy": 0.5, "accuracy_ideal": 1.0}
    with pytest.raises(sweep_module.SweepError, match="outside its 'with' block"):
        table.write("0.0", row)
    with table:
        back = table.write("0.0", {**row, "wrong_readout_fraction": 0.25})
        with pytest.raises(sweep_module.SweepError, match="point 0.0 of run .* already there"):
            table.write("0.0", row)
    assert back == {
        "attenuation_dB": 0,
        "accuracy": 0.5,
        "accuracy_ideal": 1,
        "wrong_readout_fraction": 0.25,
    }
    assert (tmp_path / "s.csv").read_text().splitlines()[1] == f"{key.key},0.0,0,0.5,1,0.25"
