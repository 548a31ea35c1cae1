"""The ``oxbnn`` command line: ``--version``, and the options every command spells the same way.

``--preset``, ``--out``, ``--seed``, ``--json`` (and ``--sim`` where a command runs the
co-simulation) come from tools/options.py: the same help text in every command's ``--help``, the
same defaults and the same one-line errors, exit status 2, no traceback.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest

from oxbnn.tools.cli import build_parser, main
from oxbnn.tools.options import resolve_simulator

#: The shared options of each command.
SHARED = {
    "optics": {"--preset", "--out", "--seed", "--json"},
    "sim": {"--preset", "--out", "--seed", "--json", "--sim"},
    "infer": {"--preset", "--out", "--seed", "--json", "--sim"},
    "accuracy-sweep": {"--preset", "--out", "--seed", "--json", "--sim"},
    "waves": {"--json"},
    "report": {"--out", "--json"},
    "export": {"--preset", "--out"},
}


def _subparsers():
    parser = build_parser()
    [action] = [a for a in parser._actions if a.dest == "command"]
    return action.choices


def _help_of(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_version_is_the_installed_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"oxbnn {metadata.version('oxbnn')}\n"


def test_every_command_lists_the_shared_options_with_the_same_text(capsys):
    parsers = _subparsers()
    texts: dict[str, set[str]] = {}
    for command, options in SHARED.items():
        actions = {s: a for a in parsers[command]._actions for s in a.option_strings}
        assert options <= set(actions), f"{command} lacks {options - set(actions)}"
        shown = _help_of(command, capsys)
        for option in options:
            # --out names the command's own folder; everything else must be word for word.
            text = actions[option].help.replace(f"build/{command}/", "build/<command>/")
            texts.setdefault(option, set()).add(text)
            assert " ".join(actions[option].help.split()) in shown, (command, option)
    for option, variants in texts.items():
        assert len(variants) == 1, f"{option} has different help texts: {variants}"
    assert texts["--out"] == {"folder for the outputs (default build/<command>/)"}


@pytest.mark.parametrize("command", ["optics", "sim", "infer", "accuracy-sweep"])
def test_shared_defaults(command):
    args = build_parser().parse_args([command])
    assert args.preset == "oxbnn50"
    assert args.seed == 1
    assert args.out == Path("build") / command
    assert args.json is False


@pytest.mark.parametrize("command", ["optics", "sim", "infer", "accuracy-sweep"])
@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--seed", "-1"], r"argument --seed: expected a non-negative integer, not '-1'"),
        (["--seed", "two"], r"argument --seed: expected a non-negative integer, not 'two'"),
        (["--preset", "oxbnn7"], r"argument --preset: unknown preset 'oxbnn7'"),
    ],
)
def test_bad_shared_options_give_one_line_errors(capsys, command, args, pattern):
    rc = main([command, *args])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"oxbnn {command}: error: "), err[0]
    assert re.search(pattern, err[0]), err[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_a_bad_preset_file_is_named_in_the_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[laser]\n")
    rc = main(["optics", "--preset", str(bad), "--no-plots"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(f"oxbnn optics: error: argument --preset: {bad}: "), err[0]


def test_json_is_one_object_and_nothing_else_on_stdout(capsys):
    assert main(["optics", "--no-plots", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # fails on anything printed besides it
    assert isinstance(summary, dict) and summary["n_lanes"] == 19


def test_resolve_simulator(monkeypatch):
    monkeypatch.delenv("SIM", raising=False)
    assert resolve_simulator() == "verilator"
    assert resolve_simulator("icarus") == "icarus"
    monkeypatch.setenv("SIM", "icarus")
    assert resolve_simulator() == "icarus"
    assert resolve_simulator("verilator") == "verilator"
    with pytest.raises(ValueError, match=r"--sim is 'questa'; expected one of verilator, icarus"):
        resolve_simulator("questa")
    monkeypatch.setenv("SIM", "questa")
    with pytest.raises(ValueError, match=r"SIM \(environment variable\) is 'questa'"):
        resolve_simulator()


def test_cosim_failure_is_one_line_with_its_cause(monkeypatch, capsys):
    """A co-simulation that cannot run (here: a forced root cause) ends in one line, status 1."""
    from oxbnn.testbenches.cosim import CosimError
    from oxbnn.tools import infer_cmd

    def fail(args):
        raise CosimError("layer0: cycle 12: XPU outputs ['done'] are not 0/1")

    monkeypatch.setattr(infer_cmd, "run", fail)
    assert main(["infer", "--images", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["oxbnn infer: error: layer0: cycle 12: XPU outputs ['done'] are not 0/1"]


def test_other_runtime_errors_are_not_swallowed(monkeypatch):
    """Only the co-simulation's named error is turned into a message; a bug still raises."""
    from oxbnn.tools import infer_cmd

    def bug(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(infer_cmd, "run", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["infer", "--images", "1"])
