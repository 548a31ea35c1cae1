"""Bad command-line options of every command: one line naming the option, exit 2, no traceback.

Every case runs the real command through :func:`oxbnn.tools.cli.main` and must be refused
before any simulator starts: the co-simulation is replaced by a sentinel that fails the test if
it is ever constructed. The legal edge values of the same options are accepted by the parser.
"""

from __future__ import annotations

import pytest

from oxbnn.tools.cli import build_parser, main

HUGE = "9" * 400

#: (command line, text the one-line error must contain: the option, and the value or the rule)
BAD = [
    # oxbnn sim
    (["sim", "--seed", "-1"], "argument --seed: expected an integer in 0.."),
    (["sim", "--seed", "1.5"], "argument --seed:"),
    (["sim", "--seed", str(2**63)], "argument --seed:"),
    (["sim", "--seed", HUGE], "argument --seed:"),
    (["sim", "--ready-probability", "0"], "argument --ready-probability: expected a probability"),
    (["sim", "--ready-probability", "-0.5"], "argument --ready-probability:"),
    (["sim", "--ready-probability", "1.5"], "argument --ready-probability:"),
    (["sim", "--ready-probability", "nan"], "argument --ready-probability:"),
    (["sim", "--ready-probability", "inf"], "argument --ready-probability:"),
    (["sim", "--ready-probability", "often"], "argument --ready-probability:"),
    (["sim", "--mem-latency", "0"], "argument --mem-latency: expected an integer in 1.."),
    (["sim", "--mem-latency", "-3"], "argument --mem-latency:"),
    (["sim", "--mem-latency", "1000000000"], "argument --mem-latency:"),
    (["sim", "--mem-latency", "2.5"], "argument --mem-latency:"),
    (["sim", "--mem-cycles-per-word", "0"], "argument --mem-cycles-per-word:"),
    (["sim", "--mem-cycles-per-word", "99999999"], "argument --mem-cycles-per-word:"),
    (["sim", "--waves-from", "-1"], "argument --waves-from:"),
    (["sim", "--waves-to", "-5"], "argument --waves-to:"),
    (["sim", "--waves-to", HUGE], "argument --waves-to:"),
    (["sim", "--waves-from", "10", "--waves-to", "5"], "--waves-to 5 is before --waves-from 10"),
    (["sim", "--waves", "--waves-to", "5000000"], "expected at most"),
    (["sim", "--name", "../evil"], "argument --name:"),
    (["sim", "--name", "a/b"], "argument --name:"),
    (["sim", "--name", ""], "argument --name:"),
    (["sim", "--name", ".hidden"], "argument --name:"),
    (["sim", "--optics", "perfect"], "argument --optics:"),
    (["sim", "--sim", "questa"], "argument --sim:"),
    (["sim", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    # oxbnn infer
    (["infer", "--images", "0"], "argument --images: --images must be in 1..360"),
    (["infer", "--images", "361"], "argument --images:"),
    (["infer", "--images", "-1"], "argument --images:"),
    (["infer", "--images", "ten"], "argument --images:"),
    (["infer", "--images", "1e2"], "argument --images:"),
    (["infer", "--name", "../x"], "argument --name:"),
    (["infer", "--seed", "-1"], "argument --seed:"),
    # oxbnn optics
    (["optics", "--seed", "-1"], "argument --seed:"),
    (["optics", "--seed", "abc"], "argument --seed:"),
    # oxbnn waves (the file is never read: the options are refused first)
    (["waves", "x.vcd", "--from", "-1"], "argument --from:"),
    (["waves", "x.vcd", "--from", HUGE], "argument --from:"),
    (["waves", "x.vcd", "--from", "1.5"], "argument --from:"),
    (["waves", "x.vcd", "--from", "1e5"], "argument --from:"),
    (["waves", "x.vcd", "--to", "5parsecs"], "argument --to: unknown time unit 'parsecs'"),
    (["waves", "x.vcd", "--max-rows", "0"], "argument --max-rows: expected an integer in 1.."),
    (["waves", "x.vcd", "--max-rows", "-5"], "argument --max-rows:"),
    (["waves", "x.vcd", "--max-rows", "10000000"], "argument --max-rows:"),
    (["waves", "x.vcd", "--from", "10", "--to", "5"], "--to 5 is before --from 10"),
    # no command, unknown command
    ([], "COMMAND"),
    (["simulate"], "invalid choice: 'simulate'"),
]


@pytest.fixture(autouse=True)
def no_simulator(monkeypatch):
    """Fail the test if a co-simulation is ever constructed."""
    from oxbnn.testbenches import cosim

    class Forbidden:
        def __init__(self, *args, **kwargs):
            raise AssertionError("a bad option reached the simulator")

    monkeypatch.setattr(cosim, "Cosim", Forbidden)


@pytest.mark.parametrize(("argv", "named"), BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_option_is_one_line_exit_2(tmp_path, monkeypatch, capsys, argv, named):
    monkeypatch.chdir(tmp_path)  # nothing may be written; if it were, not into the checkout
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2, captured.err
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("oxbnn"), lines[0]
    assert named in lines[0], lines[0]
    assert captured.out == ""
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["optics", "sim", "infer", "report", "export"])
@pytest.mark.parametrize("inside", [False, True], ids=["file", "inside-a-file"])
def test_out_that_is_a_file_is_refused(tmp_path, capsys, command, inside):
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    out = afile / "sub" if inside else afile
    assert main([command, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"argument --out: '{out}' " in err and "a file, not a folder" in err, err
    assert afile.read_text() == "not a folder\n"


#: (command line, attribute, parsed value): legal edge values the parser accepts.
LEGAL = [
    (["sim", "--seed", "0"], "seed", 0),
    (["sim", "--seed", str(2**63 - 1)], "seed", 2**63 - 1),
    (["sim", "--ready-probability", "1"], "ready_probability", 1.0),
    (["sim", "--ready-probability", "1e-3"], "ready_probability", 0.001),
    (["sim", "--mem-latency", "1"], "mem_latency", 1),
    (["sim", "--mem-cycles-per-word", "1"], "mem_cycles_per_word", 1),
    (["sim", "--waves-from", "0", "--waves-to", "0"], "waves_to", 0),
    (["sim", "--name", "run.1-a_B"], "name", "run.1-a_B"),
    (["infer", "--images", "1"], "images", 1),
    (["infer", "--images", "360"], "images", 360),
    (["waves", "x.vcd", "--from", "0", "--to", "0"], "stop", "0"),
    (["waves", "x.vcd", "--from", "4.5 us"], "start", "4.5 us"),
    (["waves", "x.vcd", "--to", str(2**62)], "stop", str(2**62)),
    (["waves", "x.vcd", "--max-rows", "1"], "max_rows", 1),
]


@pytest.mark.parametrize(("argv", "attr", "value"), LEGAL, ids=[" ".join(a) for a, *_ in LEGAL])
def test_legal_edge_values_parse(argv, attr, value):
    args = build_parser().parse_args(argv)
    assert getattr(args, attr) == value
