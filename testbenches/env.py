"""One per-cycle environment of the XPU, shared by both simulators.

The XPU RTL is simulated two ways: in Amaranth's simulator
(:class:`~oxbnn.testbenches.pysim_harness.XpuHarness`) and under cocotb on its Verilog
(:mod:`oxbnn.testbenches.xpu_cosim`). Both simulate the same wrapper,
:class:`~oxbnn.testbenches.cosim_top.CosimTop`, whose ``watch`` word holds every XPU output and
whose ``drive`` word every input, and both run the same :class:`XpuEnv` per layer: each cycle
the harness reads ``watch`` (as an int), calls :meth:`XpuEnv.step`, and writes the ``drive``
word it returns. The harnesses only adapt signal access (``ctx.get``/``ctx.set`` against
cocotb handle reads and writes).

Each cycle ``t`` (cycle 0 holds ``start``) the environment plays

* the **host**: the descriptor on ``desc`` and ``start`` in cycle 0; the result sink, whose
  ``ready`` is always high or, with ``ready_probability`` < 1, follows a pattern drawn from
  ``random.Random(run.seed)`` (back-pressure); it takes a result word when ``res_out`` is valid
  and ready, and the layer ends in the cycle ``done`` is high;
* the **external memory**: one :class:`~oxbnn.testbenches.stimulus.Feeder` per stream
  (thresholds, activation tiles, weight tiles), in the tiling plan's order
  (:func:`~oxbnn.testbenches.stimulus.layer_stimulus`); a payload stays on its field until the
  next valid word replaces it;
* the **optical side**: it keeps each cycle's optical port and, in a cycle with a
  ``pca_sample``, hands the cycles since the last readout to the
  :class:`~oxbnn.testbenches.optical_bridge.OpticalBridge` (the optics run once per readout,
  over all its slots); the codes of all the cycle's samples go into the **ADC**: the cycles
  that sample (on any XPE; all XPEs run in lock-step) take the ``adc_banks`` banks of
  ``P = samples_per_cycle`` channels in rotation, from bank 0 at the layer's start, and XPE
  ``e``'s ``j``-th sample of a cycle that uses bank ``b`` (in slot order) is driven on channel
  ``c = b * P + j``, ``adc_latency`` cycles after the sample: bit ``e * A + c`` of
  ``adc_valid`` and bits ``(e * A + c) * adc_bits`` up of ``adc_code``, A =
  ``XpuParams.adc_channels`` (docs/design.md §3). At S = 1 with one bank (A = 1) that is bit
  ``e`` and bits ``e * adc_bits`` up. A bank converts for ``adc_conversion_cycles`` cycles; a
  cycle that samples on a bank still converting breaks the contract, and the environment
  raises :class:`AdcBusyError`.

Strobes are recorded per slot: slot ``s`` of cycle ``t`` is slot index ``t * S + s``
(:attr:`LayerResult.sample_slots`, :attr:`LayerResult.reset_slots`, the first item of every
:attr:`LayerResult.events`), the numbering of :func:`oxbnn.models.timing.sample_slots`.

Inputs returned for cycle ``t`` are sampled by the rising edge that ends ``t``, under either
simulator, so both see the same cycle numbers. After ``done`` the harness drives
:attr:`XpuEnv.idle_word` for one cycle (the bridge keeps its state for the next layer).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ..models.configs import XpuParams
from ..models.tiling import TilingPlan, Widths
from .cosim_top import Fields
from .optical_bridge import CycleCodes, OpticalBridge, port_width
from .stimulus import Feeder, LayerRun, layer_stimulus

__all__ = [
    "AdcBusyError",
    "AdcPort",
    "ChainEnv",
    "ChainResult",
    "activation_order",
    "chain_layers",
    "LayerResult",
    "SimulationTimeout",
    "XpuEnv",
    "check_payloads",
    "decode_results",
    "network_chain",
    "network_chain_result",
    "network_layer",
    "network_result",
    "network_run",
    "optical_port",
]


class SimulationTimeout(RuntimeError):
    """A layer did not finish within the cycle budget."""


class AdcBusyError(RuntimeError):
    """The XPU sampled on an ADC bank that was still converting (a broken port contract)."""


@dataclass
class LayerResult:
    """What a harness saw of one layer.

    Attributes
    ----------
    name : str
    output : ndarray
        Shape ``spec.final_shape`` (uint8 bits or int64 dots).
    output_cycle : ndarray of int64
        Per output element, the cycle its result word was taken.
    cycles : int
        The cycle ``done`` was high. Every cycle counts from the ``start`` cycle (0).
    sample_slots, reset_slots : list of int
        Slot indices ``t * S + s`` (slot ``s`` of cycle ``t``) with a ``pca_sample`` /
        ``pca_reset`` on any XPE, ascending.
    result_cycles : list of int
        Cycles a result word was taken.
    events : list of (int, int, int)
        ``(sample slot index t * S + s, XPE, ADC code)`` of every readout, in slot order and,
        within a slot, XPE order.
    not_ready_cycles : int
        Cycles a valid result waited for the host.
    error : bool
        The XPU raised ``error`` (an ADC code it could not have produced).
    saturation_events, clip_events : int
        The bridge's saturated readouts and clipped conversions in this layer.
    wall_s : float
        Wall-clock seconds of the layer's cycle loop.
    trace : list of (int, int)
        ``(watch, drive)`` words of the traced window (empty unless one was asked for).
    trace_from : int
        Cycle of the first traced pair.
    """

    name: str
    output: np.ndarray
    output_cycle: np.ndarray
    cycles: int
    sample_slots: list[int]
    reset_slots: list[int]
    result_cycles: list[int]
    events: list[tuple[int, int, int]]
    not_ready_cycles: int
    error: bool
    saturation_events: int
    clip_events: int
    wall_s: float
    trace: list[tuple[int, int]]
    trace_from: int

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (a layer's result in :meth:`oxbnn.testbenches.cosim.Cosim.run`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LayerResult:
        """The inverse of :meth:`as_dict` (keys beyond the fields are ignored)."""
        return cls(**{f.name: values[f.name] for f in fields(cls)})


class XpuEnv:
    """Host, external memory, optical bridge and ADC delay line of one XPU for one layer.

    Parameters
    ----------
    xpu : XpuParams
    run : LayerRun
    bridge : OpticalBridge
        The optics; it keeps its state (PCA charge, noise generator) from layer to layer.
    drive, watch : Fields
        Layout of the XPU's input and output words (:class:`~oxbnn.testbenches.cosim_top.CosimTop`).
    max_cycles : int
        :class:`SimulationTimeout` when the layer is not done after this many cycles.
    trace_window : (int, int), optional
        Record the ``(watch, drive)`` words of the cycles ``first .. last`` (inclusive).
    host : bool
        Drive ``start``, the descriptor and the three streams (default). False for a layer of a
        chain (:class:`ChainEnv`) or of a chip (:class:`~oxbnn.testbenches.chip_tb.ChipEnv`),
        whose host and memory drive those; this env then plays the layer from its start
        (``run``, its cycle 0) to its ``done``, and ``drive`` and ``watch`` need only the fields
        of the optical port, the ADC, the result stream, ``error`` and ``done``.
    """

    def __init__(
        self,
        xpu: XpuParams,
        run: LayerRun,
        bridge: OpticalBridge,
        drive: Fields,
        watch: Fields,
        *,
        max_cycles: int = 5_000_000,
        trace_window: tuple[int, int] | None = None,
        host: bool = True,
    ) -> None:
        self.xpu = xpu
        self.run = run
        self.host = host
        self.bridge = bridge
        bridge.start_layer()  # cycle 0 (start) clears the XPU's capacitor rotation too
        self.max_cycles = max_cycles
        self.plan, desc, self.feeders = layer_stimulus(run, xpu)
        self.desc = desc
        """The layer's descriptor word (:func:`~oxbnn.testbenches.driver.encode_descriptor`)."""
        self.idle_word = drive.pack({"desc": desc}) if host else 0
        """The drive word of the cycle after ``done``: the descriptor, nothing valid."""
        self._opt_base, width = optical_port(xpu, watch)
        m, s = xpu.n_xpes, xpu.symbols_per_cycle
        self._opt_mask = (1 << width) - 1
        self._xpe_mask = (1 << (m * s)) - 1  # one bit per XPE and slot
        self._slot_mask = (1 << s) - 1  # one XPE's S slots
        self._sample_shift = m * s
        self._s = s
        self._window: list[int] = []
        self._due: dict[int, int] = {}  # cycle -> adc_valid | adc_code bits of drive
        self.adc = AdcPort(xpu, drive, run.label)
        self._adc_latency = xpu.adc_latency

        self._streams: list[tuple] = []
        if host:  # otherwise the chain's (or the chip's) host and memory drive the streams
            check_payloads(self.feeders, drive)
            self._start = 1 << drive.offset("start")
            self._streams = stream_ports(self.feeders, drive, watch)
        self._held = [0] * len(self._streams)  # each stream's payload bits, held until replaced
        self._res_ready = 1 << drive.offset("res_ready")
        self._res_valid = watch.offset("res_valid")
        self._res_payload = watch.offset("res_payload")
        self._res_mask = (1 << watch.layout["res_payload"][1]) - 1
        self._error = watch.offset("error")
        self._done = watch.offset("done")
        self._ready_p = run.ready_probability
        self._rng = random.Random(run.seed)
        self._trace_from, self._trace_to = trace_window if trace_window else (0, -1)
        self._sat0, self._clip0 = bridge.saturation_events, bridge.clip_events

        self.t = 0
        """The cycle the next :meth:`step` plays."""
        self.done = False
        self.words: list[tuple[int, int]] = []  # (result payload, cycle)
        self.sample_slots: list[int] = []
        self.reset_slots: list[int] = []
        self.trace: list[tuple[int, int]] = []
        self.not_ready = 0
        self.error = False

    @property
    def events(self) -> list[tuple[int, int, int]]:
        """The readouts so far (:attr:`LayerResult.events`, kept by the :class:`AdcPort`)."""
        return self.adc.events

    def step(self, w: int) -> int:
        """Cycle ``t``: the XPU's ``watch`` word in, the ``drive`` word for this cycle out."""
        t = self.t
        if t > self.max_cycles:
            raise SimulationTimeout(
                f"layer {self.run.label} did not finish in {self.max_cycles} cycles "
                f"({len(self.words)} results taken)"
            )
        # Optical side: keep the port; a sample reads out the window since the last one.
        opt = (w >> self._opt_base) & self._opt_mask
        resets = opt & self._xpe_mask
        if resets:
            self._record(self.reset_slots, resets, t)
        self._window.append(opt)
        samples = (opt >> self._sample_shift) & self._xpe_mask
        if samples:
            self._record(self.sample_slots, samples, t)
            self._readout(t)
        word = self.idle_word | self._start if t == 0 and self.host else self.idle_word
        if self.host:
            word |= drive_streams(self._streams, self._held, t, w)
        # Host result sink.
        ready = 1 if self._ready_p >= 1 else int(self._rng.random() < self._ready_p)
        if ready:
            word |= self._res_ready
        if (w >> self._res_valid) & 1:
            if ready:
                self.words.append(((w >> self._res_payload) & self._res_mask, t))
            else:
                self.not_ready += 1
        # ADC delay line.
        adc = self._due.pop(t, 0)
        if adc:
            word |= adc
        if self._trace_from <= t <= self._trace_to:
            self.trace.append((w, word))
        if (w >> self._error) & 1:
            self.error = True
        if (w >> self._done) & 1 and t > 0:  # in a chain, cycle 0 is the previous done's
            self.done = True
        else:
            self.t = t + 1
        return word

    def _record(self, into: list[int], mask: int, t: int) -> None:
        """Append the slot indices ``t * S + s`` of the slots ``s`` set on any XPE in ``mask``
        (bit ``e * S + s``: XPE ``e``, slot ``s``)."""
        s = self._s
        if s == 1:
            into.append(t)
            return
        slots = 0
        while mask:  # OR the M XPEs' S-bit masks
            slots |= mask & self._slot_mask
            mask >>= s
        into.extend(t * s + i for i in range(s) if slots >> i & 1)

    def _readout(self, t: int) -> None:
        got = self.bridge.readout(self._window)
        self._window = []
        self._due[t + self._adc_latency] = self.adc.convert(t, got)

    def result(self, wall_s: float = 0.0) -> LayerResult:
        """What was seen of the layer (call after ``done``)."""
        if not self.done:
            raise RuntimeError(f"layer {self.run.label} is not done (cycle {self.t})")
        output, out_cycle = decode_results(self.plan, self.words)
        return LayerResult(
            name=self.run.name,
            output=output,
            output_cycle=out_cycle,
            cycles=self.t,
            sample_slots=self.sample_slots,
            reset_slots=self.reset_slots,
            result_cycles=[c for _, c in self.words],
            events=self.events,
            not_ready_cycles=self.not_ready,
            error=self.error,
            saturation_events=self.bridge.saturation_events - self._sat0,
            clip_events=self.bridge.clip_events - self._clip0,
            wall_s=wall_s,
            trace=self.trace,
            trace_from=self._trace_from,
        )


def stream_ports(feeders: dict[str, Any], drive: Fields, watch: Fields) -> list[tuple]:
    """``(feeder, ready bit offset, valid bit, payload offset)`` of each stream, for
    :func:`drive_streams`."""
    return [
        (
            feeder,
            watch.offset(f"{key}_ready"),
            1 << drive.offset(f"{key}_valid"),
            drive.offset(f"{key}_payload"),
        )
        for key, feeder in feeders.items()
    ]


def drive_streams(streams: list[tuple], held: list[int], t: int, w: int) -> int:
    """The drive bits of the external memory's streams in cycle ``t`` (the XPU's ``watch`` word
    ``w``): each feeder's valid and payload; a payload stays on its field (``held``) until the
    next valid word replaces it."""
    word = 0
    for i, (feeder, ready_at, valid_bit, payload_at) in enumerate(streams):
        valid, payload = feeder.drive(t, (w >> ready_at) & 1)
        if valid:
            word |= valid_bit
            held[i] = payload << payload_at
        word |= held[i]
    return word


def chain_layers(
    runs: list[LayerRun], next_input: Any = None, dependent: Any = None
) -> tuple[list[LayerRun], list[bool]]:
    """A chain's runs and its per-layer *dependent* flags, as every testbench and the scoreboard
    read them: ``next_input`` makes every layer after the first dependent (and its run's
    activations, formed later from the XPU's output, an all-zero placeholder of the right
    shape, so its descriptor and tiles can be made now); else ``dependent`` (default none). The
    first layer is never dependent. ``ValueError`` for an empty chain or a flag per layer
    missing."""
    n = len(runs)
    if not n:
        raise ValueError("a chain needs at least one layer")
    deps = [True] * n if next_input is not None else [bool(d) for d in dependent or [False] * n]
    if len(deps) != n:
        raise ValueError(f"{len(deps)} dependent flags for {n} layers")
    deps[0] = False
    runs = list(runs)
    if next_input is not None:
        runs[1:] = [
            replace(r, act=np.zeros((r.spec.height, r.spec.width, r.spec.in_channels), np.uint8))
            for r in runs[1:]
        ]
    return runs, deps


def activation_order(deps: list[bool], ready: int) -> list[int]:
    """The layers whose activation tiles join the stream once layer ``ready``'s input is known
    (0: at the start, without layer 0, whose tiles open the stream): ``ready`` and every layer
    after it up to the next dependent one, so the stream keeps the layers' order."""
    k = ready if ready else 1
    out = []
    while k < len(deps) and (k == ready or not deps[k]):
        out.append(k)
        k += 1
    return out


@dataclass
class ChainResult:
    """What a testbench saw of a chain (:class:`ChainEnv`, or the event-driven testbench's
    ``run_chain``): each layer's :class:`LayerResult`, its cycles counted from its own start,
    and the cycle each layer started and was taken (cycle 0: the first layer's start)."""

    results: list[LayerResult]
    starts: list[int]
    taken: list[int]


class ChainEnv:
    """Host and external memory of a chain of layers on one XPU (the descriptor queue).

    The host offers layer ``k + 1`` (its descriptor and ``start``) from the cycle after layer
    ``k`` was taken, in every cycle with ``start_ready`` until it is taken; the memory streams
    every layer's thresholds, activation tiles and weight tiles one layer after the other, in
    order, each stream one :class:`~oxbnn.testbenches.stimulus.Feeder` (so the next layer's
    first tiles load as soon as the XPU asks for them, while the running layer computes), each
    layer's tiles served by its own memory model. Each layer is played from its start (the
    previous layer's ``done``) to its ``done`` by an :class:`XpuEnv` of its own (``host=False``):
    optics, ADC and result sink.

    A *dependent* layer's activations join the stream only in the cycle of the previous layer's
    ``done`` (its last result was taken in the cycle before; the
    :func:`oxbnn.models.timing.chain_cycles` ``dependent`` case): ``dependent[k]`` for layer
    ``k`` (the first's is ignored). ``next_input``, if given, makes every layer after the first
    dependent and its activations ``next_input(k, output of layer k - 1)``, formed from what the
    XPU computed (its run's ``act`` is ignored). Stalls and back-pressure are each layer's own.

    Attributes
    ----------
    results : list of LayerResult
        Each finished layer, its cycles counted from its own start (``starts[k]``).
    starts, taken : list of int
        Cycle each layer started and was taken (cycle 0: the first layer's start).
    """

    def __init__(
        self,
        xpu: XpuParams,
        runs: list[LayerRun],
        bridge: OpticalBridge,
        drive: Fields,
        watch: Fields,
        *,
        next_input: Any = None,
        dependent: Any = None,
        max_cycles: int = 5_000_000,
    ) -> None:
        self.runs, self.dependent = chain_layers(runs, next_input, dependent)
        self.xpu, self.bridge = xpu, bridge
        self.drive, self.watch = drive, watch
        self.next_input = next_input
        self.max_cycles = max_cycles
        self._stim = [layer_stimulus(run, xpu) for run in self.runs]
        first = self._stim[0][2]
        self.feeders = {
            key: Feeder(first[key].tiles, first[key].mem, first[key].stall, first[key].rng)
            for key in first
        }
        for k, (_, _, f) in enumerate(self._stim):
            check_payloads(f, drive)
            for key, feeder in self.feeders.items():
                if k and key != "act":
                    feeder.extend(f[key].tiles, f[key].mem)
        self._queue_activations(0)
        self._streams = stream_ports(self.feeders, drive, watch)
        self._held = [0] * len(self._streams)
        self._start = 1 << drive.offset("start")
        self._start_ready = watch.offset("start_ready")
        self.t = 0
        self.offered = 0  # layers taken so far
        self.starts: list[int] = []
        self.taken: list[int] = []
        self.results: list[LayerResult] = []
        self.env: XpuEnv | None = None
        self.done = False
        self._wall = 0.0

    def _queue_activations(self, ready: int) -> None:
        """Append the activation tiles that join the stream once layer ``ready``'s input is
        known (:func:`activation_order`)."""
        for k in activation_order(self.dependent, ready):
            f = self._stim[k][2]["act"]
            self.feeders["act"].extend(f.tiles, f.mem)

    def _begin(self, k: int) -> None:
        self.env = XpuEnv(
            self.xpu, self.runs[k], self.bridge, self.drive, self.watch,
            max_cycles=self.max_cycles, host=False,
        )  # fmt: skip
        self.starts.append(self.t)

    def step(self, w: int) -> int:
        """Cycle ``t`` of the chain: the ``watch`` word in, the ``drive`` word out."""
        t = self.t
        if self.env is None:
            self._begin(0)
            self._wall = time.perf_counter()
        word = self.env.step(w)
        if self.env.done:
            self.results.append(self.env.result(time.perf_counter() - self._wall))
            self._wall = time.perf_counter()
            k = len(self.results)
            if k == len(self.runs):
                self.done = True
                return self.drive.pack({"desc": self._stim[-1][1]})
            if self.dependent[k]:
                if self.next_input is not None:
                    act = self.next_input(k, self.results[-1].output)
                    self.runs[k] = replace(self.runs[k], act=act)
                    self._stim[k] = layer_stimulus(self.runs[k], self.xpu)
                self._queue_activations(k)
            self._begin(k)  # layer k starts in this cycle (the queue's promotion)
            word = self.env.step(w)
        # The host: the next layer's descriptor, and start while the XPU can take it.
        if self.offered < len(self.runs):
            word |= self.drive.pack({"desc": self._stim[self.offered][1]})
            if (w >> self._start_ready) & 1:
                word |= self._start
                self.taken.append(t)
                self.offered += 1
        else:
            word |= self.drive.pack({"desc": self._stim[-1][1]})
        word |= drive_streams(self._streams, self._held, t, w)
        self.t = t + 1
        return word


#: Per-layer keys of a network job's record (``readouts`` is added).
NETWORK_LAYER_KEYS = ("cycles", "wall_s", "saturation_events", "clip_events", "error")


def network_run(index: int, layer: Any, act: np.ndarray) -> LayerRun:
    """Layer ``index`` of a network job, ``(spec, weights, thresholds, flip)``, on input
    ``act``, as a :class:`~oxbnn.testbenches.stimulus.LayerRun` named ``layer<index>``."""
    spec, weights, thresholds, flip = layer
    return LayerRun(spec, act, weights, thresholds, flip, name=f"layer{index}")


def network_layer(res: LayerResult) -> tuple[np.ndarray, dict[str, Any]]:
    """A network layer's ``(output, record)`` for :func:`oxbnn.models.network.run_network`: the
    keys of :data:`NETWORK_LAYER_KEYS` and ``readouts``."""
    record = {k: getattr(res, k) for k in NETWORK_LAYER_KEYS}
    record["readouts"] = len(res.events)
    return res.output, record


def network_result(output: np.ndarray, records: list[Any]) -> dict[str, Any]:
    """One image's result of a network job (:meth:`oxbnn.testbenches.cosim.Cosim.run_network`)
    from the chain's output and its ``(output, record)`` per layer."""
    layers = [record for _, record in records]
    return {
        "output": output,
        "layers": layers,
        "cycles": sum(r["cycles"] for r in layers),
        "wall_s": sum(r["wall_s"] for r in layers),
    }


def network_chain(layers: list[Any], image: np.ndarray) -> tuple[list[LayerRun], Any]:
    """One image through a network's layers as one dependent chain: the layers' runs (the first
    on ``image``, the others on what the XPU computes) and the ``next_input`` that forms layer
    ``k``'s input from layer ``k - 1``'s output (:func:`oxbnn.models.network.layer_input`)."""
    from ..models.network import layer_input

    specs = [layer.spec if hasattr(layer, "spec") else layer[0] for layer in layers]
    runs = [
        network_run(i, layer, layer_input(specs[0], image, where="layer 0") if i == 0 else None)
        for i, layer in enumerate(layers)
    ]

    def next_input(k: int, out: np.ndarray) -> np.ndarray:
        return layer_input(specs[k], out, where=f"layer {k}")

    return runs, next_input


def network_chain_result(chain: ChainResult | ChainEnv) -> dict[str, Any]:
    """One image's result of a chained network job (as :func:`network_result`): each layer's
    cycles from its own start, so their sum is the chain's."""
    records = [network_layer(r) for r in chain.results]
    return network_result(chain.results[-1].output, records)


def optical_port(xpu: XpuParams, watch: Fields) -> tuple[int, int]:
    """Offset and width of the optical port in ``watch`` (``reset | sample | act | wgt``,
    contiguous, :class:`~oxbnn.testbenches.cosim_top.CosimTop`); ``ValueError`` if the word does
    not hold it that way for ``xpu``."""
    m, n, s = xpu.n_xpes, xpu.n_lanes, xpu.symbols_per_cycle
    base = watch.offset("opt_reset")
    parts = ["opt_reset", "opt_sample", "opt_act", "opt_wgt"]
    width = sum(watch.layout[k][1] for k in parts)
    expected = [0, m * s, 2 * m * s, 2 * m * s + m * s * n]
    contiguous = [watch.offset(k) - base for k in parts] == expected
    if not contiguous or width != port_width(m, n, s):
        raise ValueError(
            f"watch word: the optical port is {[watch.layout[k] for k in parts]}; expected "
            f"reset | sample | act | wgt contiguous, {port_width(m, n, s)} bits for M = {m}, "
            f"N = {n}, S = {s}"
        )
    return base, width


def check_payloads(feeders: dict[str, Any], drive: Fields) -> None:
    """``ValueError`` if a stream holds a word wider than its payload field (it would spill
    into the next field)."""
    for key, feeder in feeders.items():
        width = drive.layout[f"{key}_payload"][1]
        widest = max((w.bit_length() for tile in feeder.tiles for w in tile), default=0)
        if widest > width:
            raise ValueError(f"{key} stream: a {widest}-bit word for a {width}-bit payload")


class AdcPort:
    """The testbench's ADC of one layer (module docstring): the banks in rotation, the channel
    of each sample, and the drive bits of a sampling cycle's codes, which the testbench drives
    ``adc_latency`` cycles later.

    Attributes
    ----------
    events : list of (int, int, int)
        ``(sample slot index, XPE, code)`` of every readout so far (:attr:`LayerResult.events`).
    """

    def __init__(self, xpu: XpuParams, drive: Fields, label: str) -> None:
        m, a = xpu.n_xpes, xpu.adc_channels
        want = {"adc_valid": m * a, "adc_code": m * a * xpu.adc_bits}
        got = {k: drive.layout[k][1] for k in want}
        if got != want:
            raise ValueError(
                f"drive word: the ADC port is {got} bits; expected {want} for M = {m} XPEs of "
                f"A = {a} channels of {xpu.adc_bits} bits ({xpu.adc_banks} bank(s) of "
                f"samples_per_cycle = {xpu.samples_per_cycle}; S = {xpu.symbols_per_cycle}, "
                f"gamma = {xpu.gamma})"
            )
        self.label = label
        self._valid_at = drive.offset("adc_valid")
        self._code_at = drive.offset("adc_code")
        self._channels = a
        self._xpes = m
        self._per_bank = xpu.samples_per_cycle
        self._banks = xpu.adc_banks
        self._conversion = xpu.adc_conversion_cycles
        self._bits = xpu.adc_bits
        self._s = xpu.symbols_per_cycle
        self._bank = 0  # the bank the next sampling cycle uses
        self._since = [-xpu.adc_conversion_cycles] * xpu.adc_banks  # each bank's last start
        self.events: list[tuple[int, int, int]] = []

    def convert(self, t: int, got: CycleCodes) -> int:
        """The codes of cycle ``t``'s samples (:meth:`OpticalBridge.readout`) as the
        ``adc_valid | adc_code`` bits of a drive word; :class:`AdcBusyError` if the cycle's bank
        is still converting."""
        bank = self._bank
        if t - self._since[bank] < self._conversion:
            raise AdcBusyError(
                f"layer {self.label}, cycle {t}: a sample on ADC bank {bank}, which has "
                f"converted since cycle {self._since[bank]} (adc_conversion_cycles = "
                f"{self._conversion}, adc_banks = {self._banks})"
            )
        self._since[bank] = t
        self._bank = (bank + 1) % self._banks
        a, bits = self._channels, self._bits
        j, xpe = np.nonzero(got.valid)
        if not len(j):
            return 0
        slots = got.slots[j, xpe]
        codes = got.codes[j, xpe]
        order = np.lexsort((xpe, slots))  # events in slot order, then XPE order
        self.events.extend(
            zip(
                (t * self._s + slots[order]).tolist(),
                xpe[order].tolist(),
                codes[order].tolist(),
                strict=True,
            )
        )
        # Bit e * A + c of adc_valid and bits (e * A + c) * adc_bits up of adc_code, as bit
        # arrays packed into one integer each.
        where = xpe * a + j + bank * self._per_bank
        valid = np.zeros(self._xpes * a, dtype=np.uint8)
        valid[where] = 1
        code = np.zeros((self._xpes * a, bits), dtype=np.uint8)
        code[where] = (codes[:, None] >> np.arange(bits)) & 1
        return (_bits_int(valid) << self._valid_at) | (_bits_int(code.ravel()) << self._code_at)


def _bits_int(bits: np.ndarray) -> int:
    """A 0/1 array as an integer, element ``i`` being bit ``i``."""
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def decode_results(plan: TilingPlan, words: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Result words ``(payload, cycle)`` of a layer as its output array and, per element, the
    cycle its word was taken (the order is :meth:`TilingPlan.results`).

    A word carries one bit per XPE (bit ``e``), or, for an integer layer, after M flag bits one
    ``Widths.dot``-bit two's complement dot product per XPE.
    """
    spec = plan.spec
    mm = plan.xpu.n_xpes
    dw = Widths.of(plan.xpu).dot
    shape = spec.final_shape
    is_int = spec.output == "int"
    out = np.zeros(shape, dtype=np.int64 if is_int else np.uint8)
    out_cycle = np.full(shape, -1, dtype=np.int64)
    order = list(plan.results())
    if len(words) != len(order):
        raise AssertionError(
            f"{len(words)} result words for {len(order)} expected by the plan ({spec})"
        )
    dmask = (1 << dw) - 1
    for (raw, cycle), (band, filt, group) in zip(words, order, strict=True):
        for e, target in enumerate(plan.targets(band, filt, group)):
            if target is None:
                continue
            uy, ux, f = target
            if is_int:
                v = (raw >> (mm + e * dw)) & dmask
                out[uy, ux, f] = v - (1 << dw) if v >> (dw - 1) else v
            else:
                out[uy, ux, f] = (raw >> e) & 1
            out_cycle[uy, ux, f] = cycle
    return out, out_cycle
