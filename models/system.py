"""Full-network evaluation: FPS, power, energy per frame and area of every configuration.

A configuration is a *system preset* (:mod:`oxbnn.models.system_preset`: the organisation of an
accelerator and the coefficient of every component, each with its unit and source). The five
shipped presets are :data:`~oxbnn.models.system_preset.ACCELERATORS`. :func:`evaluate_network`
maps a :class:`~oxbnn.models.workloads.Network` onto one of them and returns a
:class:`NetworkResult`; :func:`evaluate` does the whole grid.

The parts, one module each (dependencies point one way):

* :mod:`oxbnn.models.system_preset`: the preset schema, loader and consistency checks; N, gamma
  and the ADC width of an OXBNN preset come from its optics preset.
* :mod:`oxbnn.models.mapping`: the mapping of a layer onto the X XPUs
  (:func:`~oxbnn.models.mapping.plan_split`), the memory model and the per-XPU cycle counts
  from :mod:`oxbnn.models.timing`, and the readout-rate bound.
* :mod:`oxbnn.models.energy`: the power, energy and area terms.
* this module: the latency of every layer, its event counts, the roofline check and the
  results.

Latency
-------
A compute layer's busiest XPU takes ``instances * max(cycles / f_clk, t_readout)``
(:mod:`oxbnn.models.mapping`). **Write-back**: output bits go to the XPU's eDRAM while the layer
runs (overlapped): a layer takes at least ``ceil(bits / access_bits) * t_access``. So
``t_layer = max(instances * max(cycles / f_clk, t_readout), t_writeback)``.

**Electronic work** has a throughput of its own and is not shared by the whole chip
(docs/reference.md defect 4): a pool that is not fused (ResNet's and ShuffleNet's 3 x 3 / 2
max-pool, every global average pool) runs on X pool units of ``pool_outputs_per_s`` pooled
outputs each; a residual add (:meth:`~oxbnn.models.workloads.Network.residual_adds`, from the
``residual`` the network's layers declare) on X element-wise units. Layers run one after the
other (batch 1); no layer takes zero time (defect 3: even a one-chunk layer pays its fill,
pipeline and drain cycles).

**Chaining** (``chaining=True``, the default): every XPU runs the frame's jobs as one chain
through its descriptor queue (:func:`oxbnn.models.timing.chain_cycles`, the schedule the RTL
follows, :class:`~oxbnn.rtl.xpu.Xpu`): a job's thresholds, first weight tile and, for a further
run of the same job (another group), first activation tile load while the previous run
computes; a job's first run takes the previous job's outputs, so its activations stream only
from its start (its weights are prefetched). The busiest XPU's runs are timed in that chain,
each from its start; ``chaining=False`` times each run from an empty XPU.

**Roofline.** The optical peak is ``X * M * N * bit_rate`` XNOR/s (one XNOR per lane per slot).
Every layer's XNOR work (computed positions x K, padded bits included: they occupy lanes) over
its time must be at most 100 % of it; anything above raises :class:`UtilizationError` naming
accelerator, network and layer.

FPS = 1 / latency, FPS/W = 1 / energy per frame, power = energy / latency.

The clock and the serializers
-----------------------------
Every cycle count is in cycles of ``XpuParams.clock_hz = bit_rate / S`` (S slots per lane per
cycle; :attr:`NetworkResult.clock_hz`, :attr:`NetworkResult.symbols_per_cycle`). At S > 1 each
driven junction has an S:1 serializer (:mod:`oxbnn.models.serdes`): energy per serialized bit
(every serializer of a busy XPU shifts S bits per issue cycle, ``serialized_bits``) and area per
serializer, as the ``serdes`` component of the energy and area breakdowns; its latency (at most
2 cycles, between the port and the optics) is not added here: the cycle model is the place that
counts cycles. S = 1 is the labelled idealisation (the clock at the slot rate, no serializers);
:func:`~oxbnn.models.system_preset.s1_idealisation` gives it for any preset, and ``oxbnn
report`` evaluates every accelerator both ways.

The baselines (ROBIN, LightBulb)
--------------------------------
They have no RTL. They run on the same digital back end (tile buffers, sequencer, memory model)
and therefore the same cycle model, with their own N, M, X, bit rate and readout: no analog
temporal accumulation, so gamma = 1 and **every N-bit chunk is read out**, its partial popcount
added digitally into the output's sum (the authors' simulator also decomposes K into N-sized
partial sums added electronically). ROBIN reads a chunk with a photodetector, a TIA and a 5 GS/s
ADC (one conversion per 5 Gb/s slot: never readout bound) and re-emits each output with a VCSEL;
LightBulb detects each gate's output bit on its own photodetector and counts a chunk with a
popcount unit at the 50 Gb/s slot rate. LightBulb's phase-change weight cells are taken to follow
the same dataflows as OXBNN's weight junctions (every accelerator runs each share in the faster
of weight and activation broadcast, :data:`oxbnn.models.mapping.DATAFLOW`; the authors' simulator
has weight broadcast only): the time and energy of reprogramming them are not modelled. Their
coefficients, and which ones are assumptions, are in their preset files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from . import energy, serdes, tiling, timing
from .energy import COMPONENTS
from .layer import LayerSpec
from .mapping import (
    AcceleratorModel,
    Share,
    accelerator_model,
    memory_for,
    plan_split,
    share_seconds,
    sram_words_per_chunk,
    unit_grid,
)
from .system_preset import ACCELERATORS, SystemPreset
from .workloads import NETWORKS, Network, WorkloadLayer, get_network

__all__ = [
    "LayerResult",
    "NetworkResult",
    "UtilizationError",
    "check_utilization",
    "evaluate",
    "evaluate_network",
]

#: Relative slack allowed on the utilisation check (floating-point rounding only).
_UTILIZATION_SLACK = 1e-9


class UtilizationError(ValueError):
    """A layer would do more XNORs per second than the optical peak ``X * M * N * bit_rate``."""


@dataclass(frozen=True)
class LayerResult:
    """One layer of one network on one accelerator.

    Attributes
    ----------
    name, kind : str
        The workload layer (``kind`` is ``"add"`` for a residual add).
    repeat : int
        Runs of the XPU job (groups); 0 for electronic layers.
    share : Share or None
        How the work is dealt out (None for electronic layers).
    xpu_cycles : int
        Cycles of the busiest XPU from :func:`timing.layer_cycles` (``instances x`` one run).
    cycle_parts : dict
        ``fill``, ``compute``, ``load``, ``readout``, ``drain`` of one run (cycles).
    xpu_s, readout_s, writeback_s, electronic_s : float
        The latency terms (seconds); ``readout_s`` is the readout-rate bound of the busiest XPU.
    seconds : float
        The layer's latency.
    bound : str
        Which term sets it: ``compute``, ``memory`` (tile loads), ``readout``, ``writeback``,
        ``pool`` or ``eltwise``.
    xnors, readouts, outputs : int
        XNORs computed (lanes x slots, padding included), readouts (one ADC conversion or
        popcount each), output values.
    serialized_bits : int
        Bits the serializers shifted (:func:`oxbnn.models.serdes.serialized_bits`: every
        serializer of a busy XPU, S bits per issue cycle; 0 at S = 1 and for electronic layers).
    utilization : float
        ``xnors / (peak * seconds)``, at most 1.
    dynamic_J : dict
        Dynamic energy of every component (J).
    dataflow : str
        The dataflow its XPU share ran in (:data:`oxbnn.models.mapping.DATAFLOW`); empty for an
        electronic layer.
    """

    name: str
    kind: str
    repeat: int
    share: Share | None
    xpu_cycles: int
    cycle_parts: dict[str, int]
    xpu_s: float
    readout_s: float
    writeback_s: float
    electronic_s: float
    seconds: float
    bound: str
    xnors: int
    readouts: int
    outputs: int
    serialized_bits: int
    utilization: float
    dynamic_J: dict[str, float]
    dataflow: str = ""

    def energy_J(self, static_power_W: dict[str, float]) -> dict[str, float]:
        """Energy of every component: static power over this layer's time plus dynamic."""
        return {c: static_power_W[c] * self.seconds + self.dynamic_J[c] for c in COMPONENTS}


@dataclass(frozen=True)
class NetworkResult:
    """One network (one frame, batch 1) on one accelerator.

    ``energy_per_frame_J`` is the sum of ``energy_J`` (per component), ``area_mm2`` that of
    ``area_m2``. ``cycles`` is the frame latency in clock cycles (``latency_s * clock``);
    ``xpu_cycles`` the sum over compute layers of the busiest XPU's cycle count. ``clock_hz`` is
    the clock every cycle count assumes, ``bit_rate / symbols_per_cycle``.
    """

    accelerator: str
    label: str
    network: str
    clock_hz: float
    peak_xnor_per_s: float
    layers: tuple[LayerResult, ...]
    static_power_W: dict[str, float]
    dynamic_J: dict[str, float]
    area_m2: dict[str, float]
    readout_bound: bool = True
    symbols_per_cycle: int = 1

    @property
    def latency_s(self) -> float:
        return sum(layer.seconds for layer in self.layers)

    @property
    def cycles(self) -> int:
        return round(self.latency_s * self.clock_hz)

    @property
    def xpu_cycles(self) -> int:
        return sum(layer.xpu_cycles for layer in self.layers)

    @property
    def energy_J(self) -> dict[str, float]:
        t = self.latency_s
        return {c: self.static_power_W[c] * t + self.dynamic_J[c] for c in COMPONENTS}

    @property
    def energy_per_frame_J(self) -> float:
        return sum(self.energy_J.values())

    @property
    def power_W(self) -> float:
        return self.energy_per_frame_J / self.latency_s

    @property
    def area_mm2(self) -> float:
        return sum(self.area_m2.values()) * 1e6

    @property
    def fps(self) -> float:
        return 1.0 / self.latency_s

    @property
    def fps_per_w(self) -> float:
        return self.fps / self.power_W

    @property
    def fps_per_w_per_mm2(self) -> float:
        return self.fps_per_w / self.area_mm2

    @property
    def xnors(self) -> int:
        return sum(layer.xnors for layer in self.layers)

    @property
    def readouts(self) -> int:
        return sum(layer.readouts for layer in self.layers)

    @property
    def serialized_bits(self) -> int:
        return sum(layer.serialized_bits for layer in self.layers)

    @property
    def utilization(self) -> float:
        """Frame XNORs over ``peak * latency``."""
        return self.xnors / (self.peak_xnor_per_s * self.latency_s)

    def summary(self) -> dict[str, float | int]:
        """The figures the report's JSON carries (SI units; ``utilization`` as a fraction)."""
        return {
            "fps": self.fps,
            "fps_per_w": self.fps_per_w,
            "fps_per_w_per_mm2": self.fps_per_w_per_mm2,
            "energy_per_frame_J": self.energy_per_frame_J,
            "power_W": self.power_W,
            "area_mm2": self.area_mm2,
            "utilization": self.utilization,
            "cycles": self.cycles,
            "latency_s": self.latency_s,
            "xpu_cycles": self.xpu_cycles,
            "clock_hz": self.clock_hz,
            "symbols_per_cycle": self.symbols_per_cycle,
        }


def check_utilization(xnors: int, peak_xnor_per_s: float, seconds: float, where: str) -> float:
    """``xnors / (peak * seconds)``; raise :class:`UtilizationError` above 100 %.

    A layer that takes no time, or less time than its XNOR work needs at the optical peak,
    means the model is wrong somewhere: it is never clipped.
    """
    if seconds <= 0:
        if xnors:
            raise UtilizationError(
                f"{where}: {xnors} XNORs in {seconds!r} s; a layer cannot take zero time"
            )
        return 0.0
    u = xnors / (peak_xnor_per_s * seconds)
    if u > 1.0 + _UTILIZATION_SLACK:
        raise UtilizationError(
            f"{where}: utilisation {100 * u:.3f} % of the optical peak "
            f"({peak_xnor_per_s:.4g} XNOR/s = X * M * N * bit rate): {xnors} XNORs in "
            f"{seconds:.6g} s exceed 100 %"
        )
    return u


def _int_bits(k: int) -> int:
    """Width of a signed dot product of K bits (``-K .. K``)."""
    return (k + 1).bit_length() + 1


@dataclass(frozen=True)
class _Job:
    """A compute job of the frame: its share and the busiest XPU's runs of it, in order."""

    layer: WorkloadLayer
    spec: LayerSpec
    repeat: int
    share: Share
    t_readout: float  # readout-rate bound of one run (seconds)
    runs: tuple[timing.CycleBreakdown, ...]


def _chained(jobs: list[_Job], model: AcceleratorModel) -> list[_Job]:
    """``jobs`` with each run's breakdown in the chain of every run of the frame on the
    busiest XPU (:func:`oxbnn.models.timing.chain_cycles`): a job's first run takes the
    previous job's output (dependent), its further runs (other groups) have their inputs."""
    plans, mems, deps = [], [], []
    for job in jobs:
        mem = memory_for(job.share.spec, model)
        for r, bd in enumerate(job.runs):
            plans.append(bd.plan)
            mems.append(mem)
            deps.append(r == 0)
    chain = timing.chain_cycles(plans, mems, dependent=deps)
    out, k = [], 0
    for job in jobs:
        n = len(job.runs)
        out.append(dataclasses.replace(job, runs=chain.layers[k : k + n]))
        k += n
    return out


def _compute_layer(
    job: _Job, model: AcceleratorModel, readout_bound: bool, where: str
) -> LayerResult:
    layer, spec, repeat, share = job.layer, job.spec, job.repeat, job.share
    mem = model.preset.memory
    n, gamma = model.xpu.n_lanes, model.xpu.gamma
    bd = job.runs[0]
    t_ro_run = job.t_readout
    plan = bd.plan

    # Exact work of the layer (not of the rounded-up shares).
    unit_h, unit_w, f = unit_grid(spec)
    positions = unit_h * f * unit_w * f
    chunks = -(-spec.k // n)
    per_output = -(-chunks // gamma)
    pre = repeat * spec.out_channels * positions
    xnors = pre * spec.k
    slots = pre * chunks
    readouts = pre * per_output
    outputs = repeat * spec.out_channels * unit_h * unit_w
    out_bits = 1 if spec.output == "bit" else _int_bits(spec.k)

    # Time: busiest XPU, then the overlapped write-back of its outputs.
    cycles = [r.total / model.clock_hz for r in job.runs]
    xpu_s = sum(max(c, t_ro_run) if readout_bound else c for c in cycles)
    share_outputs = share.spec.out_channels * (share.spec.out_h // f) * (share.spec.out_w // f)
    wb_bits = share.instances_per_xpu * share_outputs * out_bits
    accesses = -(-wb_bits // (mem.edram_units_per_xpu * mem.edram_access_bits))
    writeback_s = accesses * mem.edram_access_time_s
    seconds = max(xpu_s, writeback_s)
    if writeback_s > xpu_s:
        bound = "writeback"
    elif readout_bound and t_ro_run > bd.total / model.clock_hz:
        bound = "readout"
    elif bd.fill + bd.load > bd.compute:
        bound = "memory"
    else:
        bound = "compute"
    utilization = check_utilization(xnors, model.peak_xnor_per_s, seconds, where)

    # Bits moved, for the dynamic energy; the serializers shift S bits per issue cycle of a run.
    serialized = serdes.serialized_bits(model, share.runs * bd.compute)
    thr_bits = plan.threshold_words * (_int_bits(spec.k) + 1)
    loaded_words = sum(plan.bands[b].words for b in plan.act_loads) + sum(
        plan.weight_tiles[w].words for w in plan.wgt_loads
    )
    d = energy.compute_dynamic_J(
        model,
        xnors=xnors,
        slots=slots,
        readouts=readouts,
        outputs=outputs,
        loaded_bits=share.runs * (loaded_words * n + thr_bits),
        read_bits=share.runs * plan.jobs * plan.chunks * sram_words_per_chunk(model.xpu) * n,
        written_bits=outputs * out_bits,
        serialized_bits=serialized,
    )
    return LayerResult(
        name=layer.name,
        kind=layer.kind,
        repeat=repeat,
        share=share,
        xpu_cycles=sum(r.total for r in job.runs),
        dataflow=bd.plan.dataflow,
        cycle_parts={
            "fill": bd.fill,
            "compute": bd.compute,
            "load": bd.load,
            "readout": bd.readout,
            "drain": bd.drain,
        },
        xpu_s=xpu_s,
        readout_s=share.instances_per_xpu * t_ro_run,
        writeback_s=writeback_s,
        electronic_s=0.0,
        seconds=seconds,
        bound=bound,
        xnors=xnors,
        readouts=readouts,
        outputs=outputs,
        serialized_bits=serialized,
        utilization=utilization,
        dynamic_J=d,
    )


def _electronic_layer(
    name: str,
    kind: str,
    elements: int,
    in_bits: int,
    out_bits: int,
    outputs: int,
    model: AcceleratorModel,
) -> LayerResult:
    """A pool or a residual add on the X electronic units of its kind.

    A pool unit delivers ``pool_outputs_per_s`` pooled outputs and spends
    ``pool_energy_per_element_J`` per window element (``elements``); an element-wise unit adds
    ``eltwise_elements_per_s`` elements.
    """
    el = model.preset.electronics
    x = model.n_xpus
    if kind == "add":
        rate = x * el.eltwise_units_per_xpu * el.eltwise_elements_per_s
        seconds = elements / rate
        bound = "eltwise"
    else:
        rate = x * el.pool_units_per_xpu * el.pool_outputs_per_s
        seconds = outputs / rate
        bound = "pool"
    d = energy.electronic_dynamic_J(model, kind, elements, in_bits, out_bits)
    return LayerResult(
        name=name,
        kind=kind,
        repeat=0,
        share=None,
        xpu_cycles=0,
        cycle_parts={},
        xpu_s=0.0,
        readout_s=0.0,
        writeback_s=0.0,
        electronic_s=seconds,
        seconds=seconds,
        bound=bound,
        xnors=0,
        readouts=0,
        outputs=outputs,
        serialized_bits=0,
        utilization=0.0,
        dynamic_J=d,
    )


def evaluate_network(
    accelerator: AcceleratorModel | SystemPreset | str,
    network: Network | str,
    *,
    readout_bound: bool = True,
    chaining: bool = True,
) -> NetworkResult:
    """One frame of ``network`` on ``accelerator`` (see the module docstring).

    Parameters
    ----------
    accelerator : AcceleratorModel, SystemPreset or str
        A model, a preset, or a shipped preset name / path.
    network : Network or str
        A network, or the name of a built-in one.
    readout_bound : bool
        Bound each layer by its readout unit's conversion rate (default). False is a what-if:
        a readout as fast as the RTL's pipelined ADC.
    chaining : bool
        Run the frame's XPU jobs as one chain through the descriptor queue (default: the next
        job's weights and thresholds load while the current one computes,
        :func:`oxbnn.models.timing.chain_cycles`). False times every run on its own, from an
        empty XPU (the first round's model).

    Raises
    ------
    UtilizationError
        If a layer would exceed the optical peak.
    ValueError
        :class:`~oxbnn.models.tiling.TilingError` or a workload error, naming the layer.
    """
    model = accelerator_model(accelerator)
    if isinstance(network, str):
        network = get_network(network)
    adds = network.residual_adds()
    mappings = {}
    for job in network.to_layer_specs():
        mappings.setdefault(job.layer.name, []).append(job)
    fused = set()
    for i, layer in enumerate(network.layers):
        jobs = mappings.get(layer.name, [])
        if jobs and jobs[0].spec.pool and i + 1 < len(network.layers):
            fused.add(network.layers[i + 1].name)
    # Every compute job's share and its runs on the busiest XPU, then (chaining) their times in
    # the frame's chain; the results in the network's order, electronic layers between.
    jobs: list[_Job] = []
    for layer in network.layers:
        where = f"{model.label}, {network.name}, layer {layer.name!r}"
        for job in mappings.get(layer.name, []) if layer.is_compute else []:
            try:
                share = plan_split(job.spec, job.repeat, model, readout_bound=readout_bound)
                _, t_ro, bd = share_seconds(share.spec, model, readout_bound)
            except tiling.TilingError as exc:
                raise tiling.TilingError(f"{where}: {exc}") from exc
            runs = (bd,) * share.instances_per_xpu
            jobs.append(_Job(layer, job.spec, job.repeat, share, t_ro, runs))
    if chaining and jobs:
        jobs = _chained(jobs, model)
    pending = iter(jobs)
    layers: list[LayerResult] = []
    for layer in network.layers:
        where = f"{model.label}, {network.name}, layer {layer.name!r}"
        if layer.is_compute:
            for _ in mappings[layer.name]:
                layers.append(_compute_layer(next(pending), model, readout_bound, where))
        elif layer.name not in fused:
            layers.append(
                _electronic_layer(
                    layer.name,
                    layer.kind,
                    layer.n_outputs * layer.kernel_h * layer.kernel_w,
                    layer.input_bits,
                    layer.output_bits,
                    layer.n_outputs,
                    model,
                )
            )
        if layer.name in adds:
            n_add = adds[layer.name]
            layers.append(
                _electronic_layer(f"{layer.name}+add", "add", n_add, 2 * n_add, n_add, n_add, model)
            )
    dynamic = energy.zero()
    for result in layers:
        for c in COMPONENTS:
            dynamic[c] += result.dynamic_J[c]
    return NetworkResult(
        accelerator=model.name,
        label=model.label,
        network=network.name,
        clock_hz=model.clock_hz,
        peak_xnor_per_s=model.peak_xnor_per_s,
        layers=tuple(layers),
        static_power_W=energy.static_power_W(model),
        dynamic_J=dynamic,
        area_m2=energy.area_m2(model),
        readout_bound=readout_bound,
        symbols_per_cycle=model.xpu.symbols_per_cycle,
    )


def evaluate(
    accelerators: Iterable[AcceleratorModel | SystemPreset | str] = ACCELERATORS,
    networks: Iterable[Network | str] = tuple(NETWORKS),
    *,
    readout_bound: bool = True,
    chaining: bool = True,
    progress: Callable[[int, int, str, str], None] | None = None,
) -> dict[str, dict[str, NetworkResult]]:
    """Every network on every accelerator: ``{accelerator name: {network name: result}}``
    (``readout_bound``, ``chaining``: as for :func:`evaluate_network`).

    ``progress(done, total, accelerator label, network name)`` is called before each pair.
    """
    models = [accelerator_model(a) for a in accelerators]
    nets: Sequence[Network] = [get_network(n) if isinstance(n, str) else n for n in networks]
    total = len(models) * len(nets)
    out: dict[str, dict[str, NetworkResult]] = {}
    done = 0
    for model in models:
        row = out.setdefault(model.name, {})
        for net in nets:
            if progress is not None:
                progress(done, total, model.label, net.name)
            row[net.name] = evaluate_network(
                model, net, readout_bound=readout_bound, chaining=chaining
            )
            done += 1
    return out
