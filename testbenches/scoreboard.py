"""The one scoreboard: an RTL run against the golden model and the cycle model.

Every layer run on the XPU RTL, under either simulator, is compared with

* the golden BNN, :func:`oxbnn.models.bnn.layer_forward`, computed here from the run's own
  inputs (never from the RTL's output), and
* the closed-form cycle model, :mod:`oxbnn.models.timing`: the cycle ``done`` is high
  (:func:`~oxbnn.models.timing.layer_cycles`) and every slot with a ``pca_sample``
  (:func:`~oxbnn.models.timing.sample_slots`) or a ``pca_reset``
  (:func:`~oxbnn.models.timing.reset_slots`) on the XPU's optical port, as slot indices
  ``t * S + s`` (slot ``s`` of cycle ``t``).

Decisions: with ideal optics an output that differs from the golden model is a problem; with
physical optics the differences are the optics' bit errors, so they are counted
(:attr:`LayerCheck.output_errors`, :attr:`LayerCheck.bit_error_rate`) but are not problems, and
neither are the XPU's ``error`` flag (a code the ideal optics cannot produce) or saturated and
clipped readouts. A run with back-pressure or memory stalls (:attr:`LayerRun.stalls`) can only
be slower than the cycle model's no-stall count, so its cycles are checked against that bound
and its strobes are not compared. Every problem names the layer and, where there is one, the
output position ``(y, x, c)`` and the cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..models import bnn, timing
from ..models.configs import XpuParams
from .env import LayerResult, chain_layers
from .stimulus import LayerRun

__all__ = [
    "CycleVerdict",
    "LayerCheck",
    "assert_chain",
    "assert_layers",
    "check_layer",
    "cycle_verdict",
]


@dataclass(frozen=True)
class CycleVerdict:
    """The cycle part of a run's check: under stalls the prediction is a lower bound.

    Attributes
    ----------
    is_bound : bool
        The prediction is a lower bound (the run had back-pressure or stalls).
    match : bool
        ``measured >= predicted`` when ``is_bound``, else ``measured == predicted``.
    text : str
        The summary's words: ``equal``, ``DIFFERENT``, ``lower bound: met`` or
        ``lower bound: NOT met``.
    """

    is_bound: bool
    match: bool
    text: str


def cycle_verdict(measured: int, predicted: int, *, stalls: bool) -> CycleVerdict:
    """Measured cycles against the cycle model's no-stall count; ``stalls``: the run had any."""
    if stalls:
        met = measured >= predicted
        return CycleVerdict(True, met, "lower bound: met" if met else "lower bound: NOT met")
    equal = measured == predicted
    return CycleVerdict(False, equal, "equal" if equal else "DIFFERENT")


@dataclass(frozen=True)
class LayerCheck:
    """The verdict on one layer run.

    Attributes
    ----------
    name : str
    golden : ndarray
        The golden model's output of the run's inputs.
    output_errors, outputs : int
        Outputs that differ from ``golden``, and all outputs.
    cycles, cycles_predicted : int
        Measured, and the cycle model's no-stall count.
    problems : tuple of str
        Everything that is wrong, one line each (empty: the run is right).
    """

    name: str
    golden: np.ndarray
    output_errors: int
    outputs: int
    cycles: int
    cycles_predicted: int
    problems: tuple[str, ...]
    stalls: bool = False

    @property
    def match_golden(self) -> bool:
        return self.output_errors == 0

    @property
    def cycle_verdict(self) -> CycleVerdict:
        """Measured cycles against the cycle model (:func:`cycle_verdict`)."""
        return cycle_verdict(self.cycles, self.cycles_predicted, stalls=self.stalls)

    @property
    def cycles_match(self) -> bool:
        """Equal to the cycle model's count, or, under stalls, not below it."""
        return self.cycle_verdict.match

    @property
    def bit_error_rate(self) -> float:
        """Wrong outputs / outputs (for a bit layer, wrong bits / bits)."""
        return self.output_errors / self.outputs if self.outputs else 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def _field(got: LayerResult | Mapping[str, Any], key: str) -> Any:
    return got[key] if isinstance(got, Mapping) else getattr(got, key)


def _first_difference(
    name: str, what: str, got: Sequence[int], want: Sequence[int], s: int
) -> str | None:
    """The first strobe (slot indices ``t * S + s``) where ``got`` and ``want`` differ."""
    got, want = [int(c) for c in got], [int(c) for c in want]
    if got == want:
        return None
    i = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    if i is None:
        i = min(len(got), len(want))
    seen = f"in cycle {got[i] // s} slot {got[i] % s}" if i < len(got) else "missing"
    expected = f"cycle {want[i] // s} slot {want[i] % s}" if i < len(want) else "none"
    return (
        f"{name}: {what} #{i} {seen}, models/timing predicts {expected} "
        f"({len(got)} measured, {len(want)} predicted)"
    )


def check_layer(
    xpu: XpuParams,
    run: LayerRun,
    got: LayerResult | Mapping[str, Any],
    *,
    optics: str = "ideal",
    predicted: timing.CycleBreakdown | None = None,
) -> LayerCheck:
    """Compare one run's result (a :class:`LayerResult`, or a result dict of
    :meth:`~oxbnn.testbenches.cosim.Cosim.run`) with the golden model and the cycle model.

    ``optics`` is the run's optics (``"ideal"`` or ``"physical"``, see the module docstring);
    ``predicted`` the cycle model's schedule of the layer when it is not the standalone one
    (a layer of a chain: :func:`assert_chain`).
    """
    if optics not in ("ideal", "physical"):
        raise ValueError(f"optics must be 'ideal' or 'physical', not {optics!r}")
    ideal = optics == "ideal"
    spec, name = run.spec, run.label
    problems: list[str] = []

    golden = bnn.layer_forward(run.act, run.weights, run.thresholds, spec, run.flip)
    output = np.asarray(_field(got, "output"))
    if output.shape != golden.shape:
        raise AssertionError(f"{name}: output of shape {output.shape}, golden {golden.shape}")
    wrong = np.argwhere(output != golden)
    if len(wrong) and ideal:
        y, x, c = (int(i) for i in wrong[0])
        problems.append(
            f"{name}: {len(wrong)} of {golden.size} outputs differ from models/bnn; first at "
            f"(y, x, c) = ({y}, {x}, {c}): golden {golden[y, x, c]}, RTL {output[y, x, c]} in "
            f"the result word taken in cycle {_field(got, 'output_cycle')[y, x, c]}"
        )

    if predicted is None:
        predicted = timing.layer_cycles(spec, xpu, run.mem, dataflow=run.dataflow, walk=run.walk)
    cycles = int(_field(got, "cycles"))
    verdict = cycle_verdict(cycles, predicted.total, stalls=run.stalls)
    if not verdict.match and verdict.is_bound:
        problems.append(
            f"{name}: done in cycle {cycles} under stalls, before the no-stall prediction "
            f"{predicted.total}"
        )
    elif not verdict.match:
        problems.append(
            f"{name}: done in cycle {cycles}, models/timing predicts {predicted.total} "
            f"({predicted})"
        )
    if not run.stalls:  # stalls move the strobes: only the no-stall schedule is predicted
        for what, measured, model in (
            ("pca_sample", _field(got, "sample_slots"), timing.sample_slots),
            ("pca_reset", _field(got, "reset_slots"), timing.reset_slots),
        ):
            problem = _first_difference(
                name,
                what,
                measured,
                model(spec, xpu, run.mem, breakdown=predicted),
                xpu.symbols_per_cycle,
            )
            if problem:
                problems.append(problem)
    if ideal:
        if _field(got, "error"):
            problems.append(f"{name}: the XPU flagged an unexpected ADC code")
        for key in ("saturation_events", "clip_events"):
            if _field(got, key):
                problems.append(f"{name}: {_field(got, key)} {key} with ideal optics")
    return LayerCheck(
        name=name,
        golden=golden,
        output_errors=len(wrong),
        outputs=int(golden.size),
        cycles=cycles,
        cycles_predicted=predicted.total,
        problems=tuple(problems),
        stalls=run.stalls,
    )


def assert_layers(
    xpu: XpuParams,
    runs: Sequence[LayerRun],
    results: Sequence[LayerResult | Mapping[str, Any]],
    *,
    optics: str = "ideal",
    where: str = "",
) -> list[LayerCheck]:
    """:func:`check_layer` on every run; ``AssertionError`` listing every problem, if any.

    ``where`` (e.g. the configuration) heads the message.
    """
    if len(runs) != len(results):
        raise AssertionError(f"{where}: {len(results)} results for {len(runs)} runs")
    checks = [
        check_layer(xpu, run, got, optics=optics) for run, got in zip(runs, results, strict=True)
    ]
    problems = [p for c in checks for p in c.problems]
    if problems:
        raise AssertionError((f"{where}:\n" if where else "") + "\n".join(problems))
    return checks


def assert_chain(
    xpu: XpuParams,
    runs: Sequence[LayerRun],
    chain: Any,
    *,
    next_input: Any = None,
    dependent: Any = None,
    where: str = "",
) -> timing.ChainBreakdown:
    """A chain run (:class:`~oxbnn.testbenches.env.ChainEnv`: ``results``, ``starts``,
    ``taken``) against the golden model and :func:`~oxbnn.models.timing.chain_cycles`: each
    layer as :func:`check_layer` checks it, against its schedule in the chain (its inputs: the
    run's own, or, for a dependent chain, the previous layer's golden output, so a wrong bit is
    caught where it is made), and the cycle each layer was taken and started. ``AssertionError``
    listing every problem, if any. ``next_input``, ``dependent``: the chain's
    (:class:`~oxbnn.testbenches.env.ChainEnv`). Returns the model's chain."""
    plans = [
        timing.layer_cycles(r.spec, xpu, r.mem, dataflow=r.dataflow, walk=r.walk).plan for r in runs
    ]
    _, deps = chain_layers(runs, next_input, dependent)
    model = timing.chain_cycles(plans, [r.mem for r in runs], dependent=deps)
    problems = []
    if len(chain.results) != len(runs):
        problems.append(f"{len(chain.results)} layers finished of {len(runs)}")
    act = None
    stalls = any(r.stalls for r in runs)
    for k, (run, got) in enumerate(zip(runs, chain.results, strict=False)):
        if next_input is not None and k:
            run = replace(run, act=next_input(k, act))
        check = check_layer(xpu, run, got, predicted=model.layers[k])
        problems.extend(f"layer {k} of the chain: {p}" for p in check.problems)
        act = check.golden
    if not stalls:
        for what, got, want in (
            ("started", chain.starts, model.starts),
            ("taken", chain.taken, model.taken),
        ):
            if list(got) != list(want):
                problems.append(f"layers {what} in cycles {list(got)}, the model says {list(want)}")
    if problems:
        raise AssertionError((f"{where}:\n" if where else "") + "\n".join(problems))
    return model
