"""Tests of ``oxbnn infer`` (tools/infer_cmd.py, testbenches/inference.py): the digits BNN on the
XPU co-simulation.

Four test images go through the full co-simulation of the oxbnn50 XPU with ideal optics and must
agree with the golden model exactly (predictions and integer logits) in the cycles the cycle
model predicts; bad inputs give one-line named errors before any simulator starts; a
disagreement under ideal optics makes the command fail; ``SIM`` and ``--sim`` choose the
simulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from oxbnn.models.derive import xpu_params
from oxbnn.models.digits import LAYERS, DigitsError, check_test_images, load_params, load_split
from oxbnn.models.timing import chain_cycles, layer_cycles
from oxbnn.testbenches import cosim as cosim_module
from oxbnn.tools.cli import main

IMAGES = 4


def test_four_images_agree_with_the_golden_model(tmp_path, capsys):
    rc = main(
        [
            "infer",
            "--preset",
            "oxbnn50-s1",
            "--images",
            str(IMAGES),
            "--json",
            "--waves",
            "--out",
            str(tmp_path),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert rc == 0
    net = load_params()
    split = load_split()
    golden = net.forward_golden(net.binarize(split.test_images[:IMAGES]))
    logits = np.load(report["logits_file"])
    assert np.array_equal(logits["logits_golden"], golden)
    assert np.array_equal(logits["logits_simulated"], golden), "the RTL's logits differ"
    assert report["images"] == IMAGES
    assert report["agreement"] == 1.0 and report["agreement_count"] == IMAGES
    assert report["accuracy_simulated"] == report["accuracy_golden"]
    xpu = xpu_params("oxbnn50-s1")
    per_image = sum(_chained(xpu))  # each image's layers: one dependent chain
    assert per_image < sum(layer_cycles(spec, xpu).total for spec in LAYERS)
    assert report["cycles_per_image"] == per_image and report["cycles"] == IMAGES * per_image
    assert report["cycles_predicted"] == IMAGES * per_image and report["cycles_match"]
    assert report["simulated_time_s"] == pytest.approx(IMAGES * per_image / xpu.clock_hz)
    assert report["wall_s"] > 0 and report["saturation_events"] == 0
    assert {"preset", "optics", "seed", "cycles_per_image", "wall_per_image_s"} <= set(report)
    on_disk = json.loads((tmp_path / report["name"] / "report.json").read_text())
    assert on_disk["agreement"] == 1.0
    # --waves: one port VCD (+ GTKWave file) per layer of the first image.
    assert [Path(p).name for p in report["waves_files"]] == [f"waves_{i}.vcd" for i in range(3)]
    for path in map(Path, report["waves_files"]):
        assert path.stat().st_size > 0 and path.with_suffix(".gtkw").exists()


def _bad_params(tmp_path):
    """A parameter file whose fc weights have the wrong shape."""
    arrays = load_params().to_arrays()
    arrays["fc_weights"] = arrays["fc_weights"][:, :, :, :100]
    path = tmp_path / "wrong_shape.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--images", "0"], "--images must be in 1..360"),
        (["--images", "361"], "--images must be in 1..360"),
        (["--params", "missing.npz"], "digits parameter file does not exist"),
        (["--params", "NOT_AN_NPZ"], "not a readable .npz parameter file"),
        (["--params", "WRONG_SHAPE"], "fc_weights has shape (32, 1, 1, 100); expected"),
        (["--preset", "oxbnn7"], "unknown preset 'oxbnn7'"),
    ],
)
def test_bad_inputs_give_one_line_named_errors(tmp_path, capsys, monkeypatch, args, pattern):
    def no_simulator(*_, **__):
        raise AssertionError("the simulator started before the inputs were checked")

    monkeypatch.setattr(cosim_module.Cosim, "build", no_simulator)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file")
    swap = {
        "missing.npz": str(tmp_path / "missing.npz"),
        "NOT_AN_NPZ": str(junk),
        "WRONG_SHAPE": str(_bad_params(tmp_path)) if "WRONG_SHAPE" in args else "",
    }
    args = [swap.get(a, a) for a in args]
    if "--preset" not in args:
        args = ["--preset", "oxbnn50-s1", *args]
    rc = main(["infer", *args, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("oxbnn infer: error:"), err
    assert pattern in err[0], err[0]


def test_check_test_images_is_a_named_value_error():
    assert check_test_images(360) == 360
    with pytest.raises(DigitsError, match="--images must be in 1..360"):
        check_test_images(-3)
    with pytest.raises(DigitsError, match="--check-images must be an integer"):
        check_test_images(2.0, "--check-images")
    assert issubclass(DigitsError, ValueError)


def _chained(xpu) -> list[int]:
    """Each layer's cycles when an image's layers run as one dependent chain (the cycle model)."""
    plans = [layer_cycles(spec, xpu).plan for spec in LAYERS]
    return [b.total for b in chain_cycles(plans, dependent=True).layers]


def _fake_cosim(monkeypatch, golden, wrong_image=None):
    """Replace the simulator: ``run_network`` returns ``golden`` (image ``wrong_image`` off by
    two on class 0) in the predicted cycles, and records the simulator it was built for."""
    used: list[str] = []

    def fake_run_network(self, layers, images, **kw):
        used.append(self.sim)
        out = []
        for i, logits in enumerate(golden):
            wrong = logits.copy()
            if i == wrong_image:
                wrong[0] += 2
            out.append(
                {
                    "output": wrong.reshape(1, 1, -1),
                    "cycles": sum(_chained(self.xpu)),
                    "wall_s": 0.0,
                    "layers": [
                        {
                            "cycles": cycles,
                            "readouts": 0,
                            "saturation_events": 0,
                            "clip_events": 0,
                        }
                        for cycles in _chained(self.xpu)
                    ],
                }
            )
        return out

    monkeypatch.delenv("WAVES", raising=False)  # no traced run of the fake simulator
    monkeypatch.setattr(cosim_module.Cosim, "build", lambda self: 0.0)
    monkeypatch.setattr(cosim_module.Cosim, "run_network", fake_run_network)
    return used


def _golden(images):
    net = load_params()
    return net.forward_golden(net.binarize(load_split().test_images[:images]))


def test_disagreement_under_ideal_optics_fails(tmp_path, capsys, monkeypatch):
    """A co-simulation whose logits differ from the golden model's makes the command exit 1."""
    _fake_cosim(monkeypatch, _golden(2), wrong_image=1)
    rc = main(["infer", "--preset", "oxbnn50-s1", "--images", "2", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert rc == 1
    assert "images [1] differ" in captured.err
    assert "agreement        1/2" in captured.out


@pytest.mark.parametrize(
    ("env", "option", "expected"),
    [
        (None, [], "verilator"),
        ("icarus", [], "icarus"),
        ("icarus", ["--sim", "verilator"], "verilator"),
        (None, ["--sim", "icarus"], "icarus"),
    ],
)
def test_sim_environment_variable_and_option_choose_the_simulator(
    tmp_path, capsys, monkeypatch, env, option, expected
):
    """``make sim SIM=icarus`` must reach the co-simulation; ``--sim`` overrides ``SIM``."""
    used = _fake_cosim(monkeypatch, _golden(1))
    if env is None:
        monkeypatch.delenv("SIM", raising=False)
    else:
        monkeypatch.setenv("SIM", env)
    # The S = 1 XPU: its Verilog is generated in seconds (the fake replaces only the run).
    args = ["infer", "--preset", "oxbnn50-s1", "--images", "1", "--json", "--out", str(tmp_path)]
    rc = main([*args, *option])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert used == [expected]
    assert report["simulator"] == expected and report["versions"]["simulator"] == expected


def test_bad_sim_environment_variable_is_a_named_error(tmp_path, capsys, monkeypatch):
    _fake_cosim(monkeypatch, _golden(1))
    monkeypatch.setenv("SIM", "modelsim")
    rc = main(["infer", "--images", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("oxbnn infer: error: argument --sim:")
    assert "SIM (environment variable) is 'modelsim'" in err[0]
