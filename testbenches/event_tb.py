"""The event-driven testbench: host, memory and ADC in C++ around the Verilated XPU; Python wakes
only when the optics must act.

The per-cycle testbench (:mod:`oxbnn.testbenches.xpu_cosim` under cocotb) wakes Python every
clock cycle: a trigger, a read of the wide ``watch`` word, a call of
:meth:`~oxbnn.testbenches.env.XpuEnv.step`, a write of ``drive``. This one moves everything that
is plain digital bookkeeping into C++ (``event_harness.cpp``, compiled with the Verilated model
of :class:`~oxbnn.testbenches.cosim_top.CosimTop` into one shared library loaded with
:mod:`ctypes`):

* the **host** (descriptor and ``start``, the result sink with its back-pressure) and the
  **external memory** (the three streams' :class:`~oxbnn.testbenches.stimulus.Feeder`
  semantics: request, latency, one word per ``cycles_per_word``, memory stalls), preloaded with
  the layer's tiles;
* the **optical-port recorder**: each cycle's port slice of ``watch`` as one byte row, and the
  slot indices of every ``pca_reset`` and ``pca_sample``;
* the **ADC delay line**: the codes Python delivers for a sample in cycle ``t`` are driven in
  cycle ``t + adc_latency``.

The C++ loop returns to Python only when a code is due (it runs ahead of every sample by the
ADC latency, so one wake-up serves every sample of the last ``adc_latency`` cycles), when a
stream has used its pre-drawn random decisions, and every 65,536 slots (progress, Ctrl-C).
Python then runs the optical bridge on each pending sample's window of rows at once
(:meth:`~oxbnn.testbenches.optical_bridge.OpticalBridge.readout_rows`) and the ADC bank rotation
(:class:`~oxbnn.testbenches.env.AdcPort`, the same object the per-cycle testbench uses).

**Same seeds, same results.** Memory stalls and the host's ready pattern are decided by the same
``random.Random`` objects as in the per-cycle testbench (``run.seed`` for the host, ``run.seed``
+ 1, 2, 3 for the streams, :func:`~oxbnn.testbenches.stimulus.layer_stimulus`), drawn in the
same order: Python pre-draws them in chunks, C++ uses one per due word (a stream) or per cycle
(the host). The optics see the same windows of slots in the same order, so the noise draws are
the same too. ``tests/test_cosim.py`` holds both testbenches equal on random layers (cycles,
strobes, results, codes, stalls, physical optics).

**The bare model.** With ``record=True`` every clocked drive word is kept; :meth:`replay` then
clocks a fresh model with exactly those words and nothing else, which is the speed of the
Verilated model alone on the same stimulus (``make bench-sim`` prints it). The hash of the
``watch`` words the replay sees must equal the run's, or the replay is not the same stimulus.

The library is built by Verilator's own ``--build`` (``-CFLAGS -fPIC -LDFLAGS -shared``), with
no public signals at all (the C++ reads the top's ports directly), and cached beside the
co-simulation builds, named by the Verilog's hash, the harness's text and the flags.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..models.configs import XpuParams
from .cosim_top import Fields
from .env import (
    AdcPort,
    ChainResult,
    LayerResult,
    SimulationTimeout,
    activation_order,
    chain_layers,
    check_payloads,
    decode_results,
    optical_port,
)
from .optical_bridge import OpticalBridge
from .stimulus import LayerRun, layer_stimulus

__all__ = ["EventTestbench", "HARNESS", "build_library"]

HARNESS = Path(__file__).with_name("event_harness.cpp")
"""The C++ half of the testbench."""

LIBRARY = "libxpu_event.so"

# Status codes of oxbnn_resume (event_harness.cpp).
_DONE, _NEED_CODES, _PROGRESS, _TIMEOUT, _WINDOW, _LAYER_DONE, _NEED_RANDOM = 0, 1, 2, 3, 4, 5, 10
#: The most bytes of optical-port rows kept since the last PCA sample (1 GiB: 230k cycles at
#: S = 49, 11M at S = 1); an XPU that stops sampling fails with a clear error there instead of
#: filling the memory before its cycle budget runs out.
MAX_WINDOW_BYTES = 1 << 30
# Slots between two returns of the C++ loop (progress, Ctrl-C): about 0.1-0.5 s at any S.
_PROGRESS_SLOTS = 1 << 16
# Pre-drawn random decisions per refill.
_DRAWS = 1 << 16
STREAMS = ("thr", "act", "wgt")
"""The streams in the harness's order (stream k of ``oxbnn_draws``; 3 is the host)."""


def build_flags() -> tuple[str, ...]:
    """Verilator's arguments for the library (besides the sources and the output folder)."""
    from .cosim import VERILATOR_FLAGS

    return (
        "--cc",
        "--exe",
        "--build",
        "-j",
        "2",
        *VERILATOR_FLAGS,
        "--top-module",
        "xpu_cosim",
        "-CFLAGS",
        "-fPIC",
        "-LDFLAGS",
        "-shared -Wl,-Bsymbolic",
        "-o",
        LIBRARY,
    )


def build_id(verilog_hash: str) -> str:
    """The model's build: the Verilog's hash and the flags. The harness is not part of it: a
    changed harness recompiles its one file and relinks (:func:`build_library`), in seconds,
    while the model (minutes at S = 49) stays."""
    h = hashlib.sha256(verilog_hash.encode())
    h.update(repr(build_flags()).encode())
    return h.hexdigest()[:16]


def harness_key() -> str:
    """A hash of the harness's text (a library built from another text is relinked)."""
    return hashlib.sha256(HARNESS.read_bytes()).hexdigest()[:16]


def build_library(verilog: Path, build_dir: Path, log: Path, *, fresh: bool = True) -> Path:
    """Compile the harness with the Verilated model of ``verilog`` into ``build_dir``; returns
    the library's path. ``fresh=False``: the model is built already, only the harness is
    recompiled and the library relinked (Verilator's own makefile, which tracks the harness
    file). Raises ``RuntimeError`` with the log's first error if the build fails. The caller
    holds the build lock and decides whether to build."""
    from .cosim import BUILD_ERROR_MARKS, first_error, verilator_environ

    build_dir.mkdir(parents=True, exist_ok=True)
    obj = build_dir / "obj"
    if fresh:
        cmd = [
            "verilator",
            *build_flags(),
            "--Mdir",
            str(obj),
            str(HARNESS),
            str(verilog.resolve()),
        ]
    else:
        cmd = ["make", "-C", str(obj), "-f", "Vxpu_cosim.mk", LIBRARY]
    with open(log, "a" if not fresh else "w") as fh:
        fh.write(" ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(
            cmd, stdout=fh, stderr=subprocess.STDOUT, env=verilator_environ(), cwd=build_dir
        )
    if proc.returncode != 0:
        cause = first_error(log, BUILD_ERROR_MARKS) or f"{cmd[0]} exited with {proc.returncode}"
        raise RuntimeError(cause)
    (build_dir / "harness.key").write_text(harness_key())
    return obj / LIBRARY


def _limbs(bits: int) -> int:
    return (bits + 31) // 32


def _to_limbs(values: list[int], width: int) -> np.ndarray:
    """Integers as rows of 32-bit limbs, little-endian (``(len, limbs)`` uint32, flattened)."""
    n = 4 * _limbs(width)
    return np.frombuffer(b"".join(v.to_bytes(n, "little") for v in values), dtype=np.uint32)


def _from_limbs(arr: np.ndarray, limbs: int) -> list[int]:
    rows = arr.reshape(-1, limbs)
    return [int.from_bytes(r.tobytes(), "little") for r in rows]


_P = ctypes.c_void_p
_I64P = ctypes.POINTER(ctypes.c_int64)
_U32P = ctypes.POINTER(ctypes.c_uint32)


def _ptr(arr: np.ndarray, kind=_U32P):
    return arr.ctypes.data_as(kind)


class EventTestbench:
    """One Verilated XPU with the C++ host, memory and ADC; Python plays the optics.

    Parameters
    ----------
    xpu : XpuParams
    library : path
        The harness library (:func:`build_library`).
    drive, watch : Fields
        The layout of :class:`~oxbnn.testbenches.cosim_top.CosimTop`'s words.
    record : bool
        Keep every clocked drive word, for :meth:`replay`.
    """

    def __init__(
        self, xpu: XpuParams, library: Path, drive: Fields, watch: Fields, *, record: bool = False
    ):
        self.xpu = xpu
        self.drive, self.watch = drive, watch
        lib = ctypes.CDLL(str(library))
        lib.oxbnn_new.restype = _P
        lib.oxbnn_new.argtypes = [_I64P]
        lib.oxbnn_free.argtypes = [_P]
        lib.oxbnn_record.argtypes = [_P, ctypes.c_int]
        lib.oxbnn_layer.argtypes = [
            _P,
            _U32P,
            ctypes.POINTER(_U32P),
            ctypes.POINTER(_I64P),
            _I64P,
            _I64P,
            _I64P,
            _I64P,
            ctypes.c_double,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int64,
        ]
        lib.oxbnn_draws.argtypes = [
            _P,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_uint8),
            ctypes.c_int64,
        ]
        lib.oxbnn_resume.argtypes = [_P]
        lib.oxbnn_resume.restype = ctypes.c_int
        lib.oxbnn_pending.argtypes = [_P, _I64P, ctypes.c_int64]
        lib.oxbnn_pending.restype = ctypes.c_int64
        lib.oxbnn_rows.argtypes = [_P, _I64P, _I64P]
        lib.oxbnn_rows.restype = ctypes.POINTER(ctypes.c_uint8)
        lib.oxbnn_deliver.argtypes = [_P, ctypes.c_int64, _U32P]
        lib.oxbnn_consume.argtypes = [_P]
        lib.oxbnn_counts.argtypes = [_P, _I64P]
        lib.oxbnn_copy.argtypes = [_P, _U32P, _I64P, _I64P, _I64P, _U32P, _U32P]
        lib.oxbnn_hash.argtypes = [_P, _I64P]
        lib.oxbnn_hash.restype = ctypes.c_uint64
        lib.oxbnn_replay.argtypes = [_P]
        lib.oxbnn_replay.restype = ctypes.c_uint64
        lib.oxbnn_flip_recorded.argtypes = [_P, ctypes.c_int64, ctypes.c_int64]
        lib.oxbnn_recorded.argtypes = [_P]
        lib.oxbnn_recorded.restype = ctypes.c_int64
        lib.oxbnn_chain.argtypes = [_P, ctypes.c_int64, _U32P]
        lib.oxbnn_append.argtypes = [
            _P, ctypes.c_int, _U32P, _I64P, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
        ]  # fmt: skip
        lib.oxbnn_begin.argtypes = [
            _P, ctypes.c_double, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
        ]  # fmt: skip
        lib.oxbnn_taken.argtypes = [_P, _I64P]
        self._lib = lib
        self._opt_base, self._opt_width = optical_port(xpu, watch)
        cfg = [
            drive.width,
            watch.width,
            drive.offset("start"),
            drive.offset("res_ready"),
            watch.offset("res_valid"),
            watch.offset("res_payload"),
            watch.layout["res_payload"][1],
            watch.offset("error"),
            watch.offset("done"),
            self._opt_base,
            self._opt_width,
            xpu.n_xpes,
            xpu.symbols_per_cycle,
        ]
        for key in STREAMS:
            cfg += [
                watch.offset(f"{key}_ready"),
                drive.offset(f"{key}_valid"),
                drive.offset(f"{key}_payload"),
                drive.layout[f"{key}_payload"][1],
            ]
        cfg.append(watch.offset("start_ready"))
        self._cfg = np.array(cfg, dtype=np.int64)
        env = lib.oxbnn_new(_ptr(self._cfg, _I64P))
        if not env:
            raise RuntimeError(
                f"{library}: the model's drive / watch ports are not {drive.width} / "
                f"{watch.width} bits (a library built from other Verilog)"
            )
        self._env = env
        if record:
            lib.oxbnn_record(env, 1)
        self._keep: dict[int, np.ndarray] = {}  # draw arrays the C++ side points into
        self._stopped_in: str | None = None  # the layer a failure left the model in

    def close(self) -> None:
        if self._env:
            self._lib.oxbnn_free(self._env)
            self._env = None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown
        try:
            self.close()
        except Exception:
            pass

    def run_layer(
        self,
        run: LayerRun,
        bridge: OpticalBridge,
        *,
        max_cycles: int = 5_000_000,
        trace_window: tuple[int, int] | None = None,
        progress: Callable[[int], None] | None = None,
        max_window_bytes: int = MAX_WINDOW_BYTES,
    ) -> LayerResult:
        """One layer, as :class:`~oxbnn.testbenches.env.XpuEnv` plays it (then one idle cycle);
        ``progress`` is called with the layer's cycle now and then. A layer that raises leaves
        the model inside it: this testbench then refuses further layers (make a new one)."""
        return self.run_chain(
            [run],
            bridge,
            max_cycles=max_cycles,
            trace_window=trace_window,
            progress=progress,
            max_window_bytes=max_window_bytes,
        ).results[0]

    def run_chain(
        self,
        runs: list[LayerRun],
        bridge: OpticalBridge,
        *,
        next_input: Callable[[int, np.ndarray], np.ndarray] | None = None,
        dependent: list[bool] | None = None,
        max_cycles: int = 5_000_000,
        trace_window: tuple[int, int] | None = None,
        progress: Callable[[int], None] | None = None,
        max_window_bytes: int = MAX_WINDOW_BYTES,
    ) -> ChainResult:
        """Layers through the descriptor queue, as :class:`~oxbnn.testbenches.env.ChainEnv`
        plays them (``next_input``, ``dependent`` as there), then one idle cycle; one layer is
        :meth:`run_layer`. ``trace_window`` is in each layer's own cycles; ``progress`` is
        called with the chain's cycle now and then."""
        xpu, lib, env = self.xpu, self._lib, self._env
        if self._stopped_in is not None:
            raise RuntimeError(
                f"this event testbench stopped inside layer {self._stopped_in}; its model is "
                "mid-layer, so run the next layer on a new one (Cosim.event_testbench())"
            )
        if xpu.adc_latency < 1:
            raise ValueError(f"adc_latency must be >= 1 cycle, not {xpu.adc_latency}")
        runs, deps = chain_layers(runs, next_input, dependent)
        n = len(runs)
        self._stopped_in = runs[0].label
        stims = [layer_stimulus(run, xpu) for run in runs]
        for _, _, feeders in stims:
            check_payloads(feeders, self.drive)
        descs = [_to_limbs([self.drive.pack({"desc": d})], self.drive.width) for _, d, _ in stims]
        first_feeders = stims[0][2]
        self._keep = {}
        arrays = [self._stream(key, first_feeders[key]) for key in STREAMS]
        word_ptrs = (_U32P * 3)(*(_ptr(a[0]) for a in arrays))
        start_ptrs = (_I64P * 3)(*(_ptr(a[1], _I64P) for a in arrays))
        n_tiles, lat, per_word, stalling = (
            np.array(v, dtype=np.int64)
            for v in zip(*((len(f.tiles), f.mem.latency_cycles, f.mem.cycles_per_word,
                            1 if f.stall else 0)
                           for f in (first_feeders[k] for k in STREAMS)), strict=True)
        )  # fmt: skip
        first, last = trace_window if trace_window else (0, -1)
        lib.oxbnn_layer(
            env,
            _ptr(descs[0]),
            word_ptrs,
            start_ptrs,
            *(_ptr(a, _I64P) for a in (n_tiles, lat, per_word, stalling)),
            float(runs[0].ready_probability),
            int(max_cycles),
            int(xpu.adc_latency),
            int(first),
            int(last),
            max(256, _PROGRESS_SLOTS // xpu.symbols_per_cycle),
            int(max_window_bytes),
        )
        self._keep["descs"] = np.concatenate(descs)
        if n > 1:
            lib.oxbnn_chain(env, n, _ptr(self._keep["descs"]))

        def append(k: int, key: str) -> None:
            feeder = stims[k][2][key]
            if feeder.tiles:
                words, starts = self._stream(key, feeder)
                lib.oxbnn_append(
                    env, STREAMS.index(key), _ptr(words), _ptr(starts, _I64P),
                    len(feeder.tiles), feeder.mem.latency_cycles, feeder.mem.cycles_per_word,
                )  # fmt: skip

        for k in range(1, n):
            append(k, "thr")
            append(k, "wgt")
        for k in activation_order(deps, 0):
            append(k, "act")
        rngs: dict[int, tuple[random.Random, float]] = {}
        for k, key in enumerate(STREAMS):
            if first_feeders[key].stall:
                rngs[k] = (first_feeders[key].rng, first_feeders[key].stall)
        results: list[LayerResult] = []
        starts: list[int] = [0]
        clock = [0]  # the chain's cycle at the current layer's start
        t_wall = time.perf_counter()
        for k in range(n):
            run = runs[k]
            plan = stims[k][0]
            bridge.start_layer()
            sat0, clip0 = bridge.saturation_events, bridge.clip_events
            adc = AdcPort(xpu, self.drive, run.label)
            if run.ready_probability < 1:
                rngs[3] = (random.Random(run.seed), run.ready_probability)
            else:
                rngs.pop(3, None)
            if k:
                lib.oxbnn_begin(env, float(run.ready_probability), int(max_cycles), first, last)
            layer_done = self._resume(
                run, bridge, adc, rngs, clock[0], progress, (max_cycles, max_window_bytes)
            )
            counts = self._counts()
            results.append(self._result(run, plan, adc, counts, sat0, clip0, first, bridge, t_wall))
            t_wall = time.perf_counter()
            if not layer_done:
                break
            clock[0] += counts[0]
            starts.append(clock[0])
            if deps[k + 1]:
                if next_input is not None:
                    act = next_input(k + 1, results[-1].output)
                    runs[k + 1] = dataclasses.replace(runs[k + 1], act=act)
                    stims[k + 1] = layer_stimulus(runs[k + 1], xpu)
                for j in activation_order(deps, k + 1):
                    append(j, "act")
        self._stopped_in = None
        taken = np.zeros(n, dtype=np.int64)
        lib.oxbnn_taken(env, _ptr(taken, _I64P))
        return ChainResult(results=results, starts=starts, taken=taken.tolist())

    def _stream(self, key: str, feeder) -> tuple[np.ndarray, np.ndarray]:
        """Stream ``key``'s feeder as the harness takes it: every word as limbs of the
        payload's width, and the first word of each tile, then the total."""
        width = self.drive.layout[f"{key}_payload"][1]
        flat = [w for tile in feeder.tiles for w in tile]
        words = _to_limbs(flat, width) if flat else np.zeros(1, dtype=np.uint32)
        starts = np.cumsum([0] + [len(t) for t in feeder.tiles], dtype=np.int64)
        self._keep[f"{key}{len(self._keep)}"] = (words, starts)  # the C++ side copies them
        return words, starts

    def _resume(self, run, bridge, adc, rngs, base: int, progress, limits) -> bool:
        """Clock until the layer is done: True if it was a chain's layer with more to come
        (LAYER_DONE), False at the end of the run. ``limits``: the cycle budget and the most
        bytes of port rows without a sample, for the messages."""
        max_cycles, max_window_bytes = limits
        lib, env, xpu = self._lib, self._env, self.xpu
        dl = _limbs(self.drive.width)
        pending = np.zeros(3 * 64, dtype=np.int64)
        n_rows, row_bytes = ctypes.c_int64(), ctypes.c_int64()
        while True:
            status = lib.oxbnn_resume(env)
            if status == _DONE:
                return False
            if status == _LAYER_DONE:
                return True
            if status == _NEED_CODES:
                count = lib.oxbnn_pending(env, _ptr(pending, _I64P), len(pending) // 3)
                if 3 * count > len(pending):
                    pending = np.zeros(6 * count, dtype=np.int64)
                    lib.oxbnn_pending(env, _ptr(pending, _I64P), len(pending) // 3)
                rows_at = lib.oxbnn_rows(env, ctypes.byref(n_rows), ctypes.byref(row_bytes))
                rows = np.ctypeslib.as_array(rows_at, shape=(n_rows.value, row_bytes.value))
                for t, lo, hi in pending[: 3 * count].reshape(count, 3).tolist():
                    bits = adc.convert(t - base, bridge.readout_rows(rows[lo:hi]))
                    lib.oxbnn_deliver(env, t + xpu.adc_latency, _ptr(_to_limbs([bits], dl * 32)))
                lib.oxbnn_consume(env)
            elif status >= _NEED_RANDOM:
                k = status - _NEED_RANDOM
                rng, p = rngs[k]
                draws = np.fromiter((rng.random() < p for _ in range(_DRAWS)), np.uint8, _DRAWS)
                self._keep[k] = draws
                lib.oxbnn_draws(
                    env, k, draws.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), _DRAWS
                )
            elif status == _PROGRESS:
                if progress is not None:
                    progress(base + self._counts()[0])
            elif status == _WINDOW:
                t_now, n_res = self._counts()[:2]
                lib.oxbnn_rows(env, ctypes.byref(n_rows), ctypes.byref(row_bytes))
                raise SimulationTimeout(
                    f"layer {run.label}, cycle {t_now}: no PCA sample for {n_rows.value} cycles "
                    f"(the port rows since the last one passed {max_window_bytes} bytes; "
                    f"{n_res} results taken): the XPU has stopped computing"
                )
            elif status == _TIMEOUT:
                raise SimulationTimeout(
                    f"layer {run.label} did not finish in {max_cycles} cycles "
                    f"({self._counts()[1]} results taken)"
                )
            else:  # pragma: no cover - a harness/driver mismatch
                raise RuntimeError(f"event harness: unknown status {status}")

    def _result(self, run, plan, adc, counts, sat0, clip0, first, bridge, wall0) -> LayerResult:
        """The finished layer's records (oxbnn_counts, oxbnn_copy) as a LayerResult."""
        lib, env = self._lib, self._env
        dl = _limbs(self.drive.width)
        t_done, n_res, n_samp, n_reset, not_ready, error, n_trace = counts[:7]
        rl = _limbs(self.watch.layout["res_payload"][1])
        wl = _limbs(self.watch.width)
        res = np.zeros(max(n_res * rl, 1), dtype=np.uint32)
        res_cycles = np.zeros(max(n_res, 1), dtype=np.int64)
        samp = np.zeros(max(n_samp, 1), dtype=np.int64)
        resets = np.zeros(max(n_reset, 1), dtype=np.int64)
        tw = np.zeros(max(n_trace * wl, 1), dtype=np.uint32)
        td = np.zeros(max(n_trace * dl, 1), dtype=np.uint32)
        lib.oxbnn_copy(
            env,
            _ptr(res),
            _ptr(res_cycles, _I64P),
            _ptr(samp, _I64P),
            _ptr(resets, _I64P),
            _ptr(tw),
            _ptr(td),
        )
        payloads = _from_limbs(res[: n_res * rl], rl) if n_res else []
        cycles = res_cycles[:n_res].tolist()
        output, out_cycle = decode_results(plan, list(zip(payloads, cycles, strict=True)))
        trace = []
        if n_trace:
            trace = list(
                zip(
                    _from_limbs(tw[: n_trace * wl], wl),
                    _from_limbs(td[: n_trace * dl], dl),
                    strict=True,
                )
            )
        return LayerResult(
            name=run.name,
            output=output,
            output_cycle=out_cycle,
            cycles=int(t_done),
            sample_slots=samp[:n_samp].tolist(),
            reset_slots=resets[:n_reset].tolist(),
            result_cycles=cycles,
            events=adc.events,
            not_ready_cycles=int(not_ready),
            error=bool(error),
            saturation_events=bridge.saturation_events - sat0,
            clip_events=bridge.clip_events - clip0,
            wall_s=time.perf_counter() - wall0,
            trace=trace,
            trace_from=first,
        )

    def _counts(self) -> list[int]:
        out = np.zeros(8, dtype=np.int64)
        self._lib.oxbnn_counts(self._env, _ptr(out, _I64P))
        return out.tolist()

    def replay(self) -> tuple[int, float, bool]:
        """Clock a fresh model with every recorded drive word (``record=True``): ``(cycles,
        wall seconds, whether it saw the run's watch words)``."""
        lib = self._lib
        n = lib.oxbnn_recorded(self._env)
        clocked = ctypes.c_int64()
        want = lib.oxbnn_hash(self._env, ctypes.byref(clocked))
        if n == 0 or n != clocked.value:
            raise RuntimeError(
                f"replay: {n} drive words recorded of {clocked.value} clocked cycles "
                "(record=True from the start is needed)"
            )
        t0 = time.perf_counter()
        got = lib.oxbnn_replay(self._env)
        return n, time.perf_counter() - t0, got == want

    def corrupt_recording(self, cycle: int = 0, field: str = "start") -> None:
        """Flip the lowest bit of ``field`` in the recorded drive word of ``cycle`` (counted
        from the first clocked cycle): the tests' proof that :meth:`replay` can disagree."""
        self._lib.oxbnn_flip_recorded(self._env, cycle, self.drive.offset(field))
