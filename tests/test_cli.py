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

import numpy as np
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
        (["--seed", "-1"], r"argument --seed: expected an integer in 0\.\.\d+, not '-1'"),
        (["--seed", "two"], r"argument --seed: expected an integer in 0\.\.\d+, not 'two'"),
        (["--seed", str(2**63)], r"argument --seed: expected an integer in 0\.\.\d+, not '9"),
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


@pytest.mark.parametrize("error", [RuntimeError("a bug"), KeyError("k"), IndexError("i")])
def test_other_errors_are_one_internal_error_line(monkeypatch, capsys, error):
    """A defect (not the input's fault) is one line, exit 3, no traceback (tools/cli.py)."""
    from oxbnn.tools import infer_cmd

    def bug(args):
        raise error

    monkeypatch.delenv("OXBNN_TRACEBACK", raising=False)
    monkeypatch.setattr(infer_cmd, "run", bug)
    assert main(["infer", "--images", "1"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(f"oxbnn infer: internal error: {type(error).__name__}: "), err
    assert err.count("\n") == 1, err


def test_internal_errors_raise_with_oxbnn_traceback(monkeypatch):
    """OXBNN_TRACEBACK=1 lets a defect raise, for debugging."""
    from oxbnn.tools import infer_cmd

    def bug(args):
        raise RuntimeError("a bug")

    monkeypatch.setenv("OXBNN_TRACEBACK", "1")
    monkeypatch.setattr(infer_cmd, "run", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["infer", "--images", "1"])


def test_memory_error_is_one_line(monkeypatch, capsys):
    from oxbnn.tools import infer_cmd

    def huge(args):
        raise MemoryError

    monkeypatch.setattr(infer_cmd, "run", huge)
    assert main(["infer", "--images", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("oxbnn infer: error: out of memory") and "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# oxbnn sim under back-pressure: the prediction is a lower bound (tools/sim_cmd.py docstring)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measured", "predicted", "stalls", "is_bound", "match", "text"),
    [
        (100, 100, False, False, True, "equal"),
        (101, 100, False, False, False, "DIFFERENT"),
        (99, 100, False, False, False, "DIFFERENT"),
        (150, 100, True, True, True, "lower bound: met"),
        (100, 100, True, True, True, "lower bound: met"),
        (99, 100, True, True, False, "lower bound: NOT met"),
    ],
)
def test_cycle_verdict(measured, predicted, stalls, is_bound, match, text):
    from oxbnn.testbenches.scoreboard import cycle_verdict

    v = cycle_verdict(measured, predicted, stalls=stalls)
    assert (v.is_bound, v.match, v.text) == (is_bound, match, text)


def _tiny_sim(monkeypatch, tmp_path, *, cycles_delta: int = 0, wgt_depth: int = 32):
    """Make ``oxbnn sim`` run a tiny N = 4, M = 2 XPU in Amaranth's simulator (fast), on a small
    layer file; ``cycles_delta`` is added to the measured count (to provoke a failed check)."""
    from oxbnn.models import bnn
    from oxbnn.models.derive import xpu_params
    from oxbnn.models.layer import LayerSpec
    from oxbnn.testbenches import cosim
    from oxbnn.testbenches.pysim_harness import XpuHarness
    from oxbnn.tools import sim_cmd

    tiny = xpu_params("oxbnn50-s1").replace(
        n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, act_buffer_depth=32, wgt_buffer_depth=wgt_depth
    )

    class PysimCosim:
        def __init__(self, xpu, sim):
            self.xpu = xpu

        def build(self):
            return 0.0

        def run(self, runs, *, optics, seed, **kw):
            [res] = XpuHarness(self.xpu, optics=optics, seed=seed).run(runs)
            out = res.as_dict()
            out["cycles"] += cycles_delta
            out["cycles_per_s"] = out["slots_per_s"] = 1.0
            return [out]

    monkeypatch.setattr(sim_cmd, "xpu_params", lambda preset: tiny)
    monkeypatch.setattr(cosim, "Cosim", PysimCosim)
    # A 1 x 1 convolution: one chunk per vector, so the XPEs make results faster than a host
    # that takes one in a cycle with probability 0.3 can drain them.
    spec = LayerSpec(
        kind="conv", height=4, width=4, in_channels=3, out_channels=3, kernel_h=1, kernel_w=1
    )
    act, w, thr, flip = bnn.random_layer(np.random.default_rng(3), spec)
    layer = tmp_path / "tiny.npz"
    np.savez(layer, activations=act, weights=w, thresholds=thr, flip=flip)
    return layer


@pytest.mark.parametrize("probability", ["0.3", "1"])
def test_sim_backpressure_prediction_is_a_met_lower_bound(
    monkeypatch, tmp_path, capsys, probability
):
    layer = _tiny_sim(monkeypatch, tmp_path)
    argv = ["sim", "--layer", str(layer), "--out", str(tmp_path), "--name", "r"]
    assert main([*argv, "--ready-probability", probability]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["cycles_match"] is True
    if probability == "1":
        assert report["cycles_predicted_is_bound"] is False
        assert report["cycles"] == report["cycles_predicted"]
        assert "predicted (equal)" in out
    else:
        assert report["cycles_predicted_is_bound"] is True
        assert report["cycles"] > report["cycles_predicted"], report  # the host did stall
        assert "predicted (lower bound: met)" in out and "DIFFERENT" not in out
    assert np.load(tmp_path / "r" / "outputs.npy").shape == (4, 4, 3)
    bound = report["cycles_lower_bound"]
    assert re.search(
        rf"bound +{bound} cycles \(compute \d+, memory \d+, fixed \d+\): efficiency "
        rf"{report['efficiency']:.2f}x",
        out,
    ), out


def test_sim_json_reports_the_lower_bound(monkeypatch, tmp_path, capsys):
    """``--json`` has the lower bound, its three terms and cycles / bound (models/bounds.py)."""
    from oxbnn.models.derive import xpu_params

    layer = _tiny_sim(monkeypatch, tmp_path)
    argv = ["sim", "--layer", str(layer), "--out", str(tmp_path), "--name", "r", "--json"]
    assert main(argv) == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    # The tiny XPU (N = 4, M = 2, S = 1) on 4 x 4 x 3 -> 3, 1 x 1: 48 one-chunk outputs on 2
    # XPEs; 16 one-word pixels, 3 weight words, 3 thresholds; fixed 1 + (1 + 1) + 2 + ADC + 1 + 1.
    adc = xpu_params("oxbnn50-s1").adc_latency
    terms = {"compute": 24, "memory": 16, "fixed": 7 + adc}
    assert report["cycles_lower_bound_terms"] == terms
    assert report["cycles_lower_bound"] == max(terms.values())
    assert report["efficiency"] == report["cycles"] / report["cycles_lower_bound"]
    assert report["efficiency"] >= 1


@pytest.mark.parametrize("dataflow", ["weight_broadcast", "activation_broadcast"])
def test_sim_runs_the_dataflow_asked_for(monkeypatch, tmp_path, capsys, dataflow):
    """``--dataflow`` forces one; the report names it, and the run is bit- and cycle-exact.
    The tiny layer (48 one-chunk outputs, 3 filters) takes 3 x ceil(16 / 2) = 24 jobs in weight
    broadcast and ceil(3 / 2) x 16 = 32 in activation broadcast."""
    layer = _tiny_sim(monkeypatch, tmp_path)
    argv = ["sim", "--layer", str(layer), "--out", str(tmp_path), "--name", "r", "--json"]
    assert main([*argv, "--dataflow", dataflow, "--walk", "weights_outer"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataflow"] == dataflow and report["walk"] == "bands_outer"  # one band
    assert report["match_golden"] and report["cycles"] == report["cycles_predicted"]
    jobs = {"weight_broadcast": 24, "activation_broadcast": 32}[dataflow]
    assert report["cycles_breakdown_predicted"]["compute"] == jobs


def test_sim_refuses_a_dataflow_that_cannot_map(monkeypatch, tmp_path, capsys):
    """A weight bank of one word holds one filter, not the M = 2 of activation broadcast."""
    layer = _tiny_sim(monkeypatch, tmp_path, wgt_depth=1)
    argv = ["sim", "--layer", str(layer), "--out", str(tmp_path), "--name", "r"]
    assert main([*argv, "--dataflow", "activation_broadcast"]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "activation broadcast needs 2 filters" in err, err


@pytest.mark.parametrize(("probability", "delta"), [("0.3", -10_000), ("1", 1)])
def test_sim_exits_1_when_the_cycle_check_fails(monkeypatch, tmp_path, capsys, probability, delta):
    """Below the bound under stalls, or any difference without them: exit 1, one error line."""
    layer = _tiny_sim(monkeypatch, tmp_path, cycles_delta=delta)
    argv = ["sim", "--layer", str(layer), "--out", str(tmp_path), "--name", "r"]
    assert main([*argv, "--ready-probability", probability]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "oxbnn sim: error: " in captured.err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["cycles_match"] is False
    assert ("lower bound: NOT met" if probability != "1" else "DIFFERENT") in captured.out
