"""The accuracy sweeps: their points, the evaluation of one point, and the sweep's CSV file.

Every point runs the test split (or its first images) through the fast path
(:func:`oxbnn.models.accuracy.forward_optical`: the golden network with every PCA readout through
the physical optical models) with **one knob** moved from the preset's nominal value and all the
other physics at nominal, every effect on. The hardware stays the nominal XPU (its N, γ and
schedule): the sweep asks what the chip as built does when its optics degrade.

Sweeps (:data:`SWEEPS`; :func:`sweep_points` gives ``points`` points of each, the nominal one
first):

``laser_power``
    Laser power per wavelength from nominal down by :data:`POWER_SPAN_DB` (30 dB), evenly spaced
    in dB (log spaced in W). The ADC reference tracks the laser (see
    :mod:`oxbnn.models.optics.pca`), so a weaker laser does not shift codes: fewer
    photo-electrons per count raise the shot and kT/C noise in LSB.
``channel_spacing``
    Comb spacing from the preset's ``FSR / N`` down to the rings' linewidth (FWHM), log spaced:
    neighbouring rings' state-dependent crosstalk grows (the ADC is recalibrated to the link's
    mean levels at each spacing).
``pca_noise``
    The knob is a **noise scale** ``s``, from 1 to :data:`NOISE_SCALE_MAX` (300), log spaced:
    every Gaussian draw of the PCA model (photodetector shot noise, kT/C reset noise and the
    laser RIN it integrates) is multiplied by ``s``, i.e. the noise variance by ``s**2``, the
    signal unchanged (:class:`oxbnn.models.accuracy.OpticalPoint`). No physical parameter does
    this alone: a larger capacitor or a hotter one only raises the kT/C term, which is not the
    largest.
``adc_bits``
    ADC resolution from the preset's bits down to :data:`ADC_BITS_MIN` (3), with one LSB still
    one count: an ADC of ``b`` bits clips every readout above ``2**b - 1`` counts. Fewer than
    ``log2(γ N + 1)`` bits (9 for γ N = 266) can therefore clip a full readout; whether it does
    depends on the data.

Columns of a point (:func:`evaluate_point`), after the knob columns of its
:class:`SweepPoint`: ``accuracy`` (fraction of images classified right), ``accuracy_ideal``
(ideal optics, = the golden model), ``prediction_agreement`` and ``logit_agreement`` (fraction
of images whose prediction / all logits equal the golden model's), ``wrong_readout_fraction``
(readouts whose code differs from their popcount), ``saturated_readouts``,
``adc_clipped_readouts`` (codes clipped at 0 or at the ADC's full scale),
``noise_rms_half_readout_LSB`` (analytic shot + RIN + kT/C noise of a readout of γ slots holding
γ N / 2 counts, times the noise scale), ``photoelectrons_per_count``, ``images``, ``seed``,
``wall_s``.

**Resuming.** A sweep's CSV is append-only (:class:`SweepCsv`): every row carries the key of
its run (:class:`RunKey`: preset content, XPU, parameter file, images, seed, effects, code
version) and of its point (:func:`point_key`, the exact knob value), and is flushed to disk as
its point finishes. A rerun with the same key reuses the finished points instead of computing
them; a run with another key appends its own rows beside the old ones, which stay. The columns
of the CSV are ``run_key`` and ``point_key``, then the point's as above.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import numpy as np

from .accuracy import OpticalPoint, forward_optical
from .atomic import write_text
from .configs import Preset, XpuParams
from .digits import DigitsBnn, predict
from .optics import DwdmLink, Effects, Pca
from .optics.pca import ELEMENTARY_CHARGE_C

__all__ = [
    "ADC_BITS_MIN",
    "KEY_COLUMNS",
    "NOISE_SCALE_MAX",
    "POWER_SPAN_DB",
    "SWEEPS",
    "RunKey",
    "SweepCsv",
    "SweepCsvError",
    "SweepError",
    "SweepPoint",
    "array_digest",
    "attenuated",
    "code_version",
    "evaluate_point",
    "format_value",
    "git_commit",
    "noise_columns",
    "parse_value",
    "point_key",
    "preset_digest",
    "run_key",
    "sources_digest",
    "sweep_points",
]

#: Sweep names, in the order they run; each gives ``accuracy_vs_<name>.csv``.
SWEEPS = ("laser_power", "channel_spacing", "pca_noise", "adc_bits")
#: Attenuation of the laser at the end of the power sweep, in dB.
POWER_SPAN_DB = 30.0
#: Largest PCA noise scale of the noise sweep (dimensionless, multiplies a standard deviation).
NOISE_SCALE_MAX = 300.0
#: Fewest ADC bits of the ADC sweep.
ADC_BITS_MIN = 3


class SweepError(ValueError):
    """A bad argument of a sweep (unknown sweep, too few points, ...)."""


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its knob columns (units in the names) and its optics."""

    sweep: str
    columns: dict[str, float | int | bool]
    optics: OpticalPoint


# ----------------------------------------------------------------------------------------------
# Points
# ----------------------------------------------------------------------------------------------


def attenuated(preset: Preset, attenuation_dB: float) -> Preset:
    """``preset`` with its laser power per wavelength lowered by ``attenuation_dB`` (dB)."""
    power = preset.laser.power_per_wavelength_W * 10 ** (-attenuation_dB / 10)
    return preset.replace("laser", power_per_wavelength_W=power)


def sweep_points(preset: Preset, xpu: XpuParams, sweep: str, points: int) -> list[SweepPoint]:
    """The ``points`` points of ``sweep``, the nominal one first (see the module docstring)."""
    if sweep not in SWEEPS:
        raise SweepError(f"unknown sweep {sweep!r}; expected one of {', '.join(SWEEPS)}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise SweepError(f"--points must be an integer >= 2, not {points!r}")
    out = []
    if sweep == "laser_power":
        for db in np.linspace(0.0, POWER_SPAN_DB, points):
            p = attenuated(preset, float(db))
            watts = p.laser.power_per_wavelength_W
            cols = {
                "attenuation_dB": float(db),
                "laser_power_per_wavelength_W": watts,
                "laser_power_per_wavelength_dBm": 10 * math.log10(watts * 1e3),
            }
            out.append(SweepPoint(sweep, cols, OpticalPoint(p)))
    elif sweep == "channel_spacing":
        link = DwdmLink(preset, xpu.n_lanes)
        fwhm = link.oxg.fwhm_m
        for spacing in np.geomspace(link.channel_spacing_m, fwhm, points):
            at = DwdmLink(preset, xpu.n_lanes, float(spacing))
            cols = {
                "channel_spacing_nm": float(spacing) * 1e9,
                "spacing_over_fwhm": float(spacing / fwhm),
                "crosstalk_penalty_dB": at.crosstalk_penalty_dB,
            }
            out.append(SweepPoint(sweep, cols, OpticalPoint(preset, spacing_m=float(spacing))))
    elif sweep == "pca_noise":
        for scale in np.geomspace(1.0, NOISE_SCALE_MAX, points):
            cols = {"noise_scale": float(scale), "noise_variance_scale": float(scale) ** 2}
            out.append(SweepPoint(sweep, cols, OpticalPoint(preset, noise_scale=float(scale))))
    else:
        nominal = preset.pca.adc_bits
        low = min(ADC_BITS_MIN, nominal)
        bits = sorted(
            {int(round(b)) for b in np.linspace(nominal, low, min(points, nominal - low + 1))},
            reverse=True,
        )
        for b in bits:
            full_scale = (1 << b) - 1
            cols = {
                "adc_bits": b,
                "adc_full_scale_counts": full_scale,
                "can_clip_full_readout": full_scale < xpu.gamma * xpu.n_lanes,
            }
            out.append(SweepPoint(sweep, cols, OpticalPoint(preset.replace("pca", adc_bits=b))))
    return out


def noise_columns(point: OpticalPoint, xpu: XpuParams) -> dict[str, float]:
    """Analytic readout noise at ideal lane levels, and photo-electrons per count."""
    link = point.link(xpu)
    pca = Pca(
        link,
        Effects(shot_noise=True, reset_noise=True, rin=True),
        rng=np.random.default_rng(0),  # constants only: expected_stats draws nothing
    )
    _, var = pca.expected_stats(xpu.gamma * xpu.n_lanes / 2, xpu.gamma)
    return {
        "noise_rms_half_readout_LSB": point.noise_scale * float(np.sqrt(var)),
        "photoelectrons_per_count": pca.count_charge_C / ELEMENTARY_CHARGE_C,
    }


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------


def evaluate_point(
    net: DigitsBnn,
    bits: np.ndarray,
    labels: np.ndarray,
    golden: np.ndarray,
    xpu: XpuParams,
    point: OpticalPoint,
    seed: int,
) -> dict[str, Any]:
    """Accuracy and agreement with the golden logits of the fast path at one point.

    ``bits`` are the binarised images, ``labels`` their classes and ``golden`` their golden
    logits; the columns are those of the module docstring.
    """
    t0 = time.perf_counter()
    run = forward_optical(net, bits, xpu, point, seed=seed)
    pred = run.predictions
    return {
        "accuracy": float(np.mean(pred == labels)),
        "accuracy_ideal": float(np.mean(predict(golden) == labels)),
        "prediction_agreement": float(np.mean(pred == predict(golden))),
        "logit_agreement": float(np.mean(np.all(run.logits == golden, axis=1))),
        "wrong_readout_fraction": run.wrong_readouts / run.readouts,
        "saturated_readouts": run.saturated,
        "adc_clipped_readouts": run.adc_clipped,
        **noise_columns(point, xpu),
        "images": len(bits),
        "seed": seed,
        "wall_s": time.perf_counter() - t0,
    }


# ----------------------------------------------------------------------------------------------
# The key of a run
# ----------------------------------------------------------------------------------------------


def _digest(obj: Any) -> str:
    """SHA-256 of ``obj`` as canonical JSON (sorted keys; floats as ``repr``, exact)."""
    text = json.dumps(obj, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def preset_digest(preset: Preset) -> str:
    """SHA-256 of every value of ``preset`` that the physics reads.

    Its sections' fields, not the file's bytes: a comment, a unit text or a source edited in the
    file does not change a point, a changed coefficient does (and so does a preset file with
    another path but the same values: it is the same preset). The name is not part of it: the
    name picks the output folder and is a component of the key of its own.
    """
    skip = {"name", "description", "path", "units", "sources"}
    values = {
        f.name: dataclasses.asdict(getattr(preset, f.name))
        for f in dataclasses.fields(preset)
        if f.name not in skip
    }
    return _digest(values)


def sources_digest() -> str:
    """SHA-256 of the sources of :mod:`oxbnn.models` (every ``.py`` file, with its path).

    Everything that computes a point (the network, the fast path, the optics, the presets'
    loader, this module) lives in that package; the commands only present the results.
    """
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def git_commit() -> str | None:
    """The commit of the checkout the sources come from, or ``None`` (no git, not a checkout)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def code_version() -> dict[str, Any]:
    """The code that computes a point: package and numpy versions, the models' sources hash.

    Decision: the key holds the hash of the sources (:func:`sources_digest`), always, rather
    than the git commit: a commit does not see the uncommitted edits a researcher reruns after
    (the points would be reused although the code changed), and it changes with every edit of a
    test or a document (the points would be recomputed although nothing that computes them
    changed). The commit, when there is one, is recorded beside the key (``git_commit``) for
    provenance only. numpy's version is in the key because the noise draws are numpy's.
    """
    try:
        package = metadata.version("oxbnn")
    except metadata.PackageNotFoundError:
        package = None
    return {
        "package": package,
        "numpy": np.__version__,
        "models_sources_sha256": sources_digest(),
    }


def array_digest(*arrays: np.ndarray) -> str:
    """SHA-256 of arrays' dtypes, shapes and bytes (the images, labels, parameters of a run)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class RunKey:
    """Everything that determines the points of a run, and its short name ``key``.

    ``components`` (JSON-able): the preset's name and :func:`preset_digest`, the XPU, the
    digits parameter file's SHA-256, the test images (count and SHA-256 of the binarised images
    and labels), the seed, the optics effects of the points and :func:`code_version`. Two runs
    with the same components compute the same points, bit for bit; ``key`` is the first 16 hex
    digits of their SHA-256. The number of points per sweep is not a component: a point is
    identified by its knob value (:func:`point_key`), so a rerun with more points reuses the
    ones the two runs share.
    """

    components: dict[str, Any]

    @property
    def key(self) -> str:
        return _digest(self.components)[:16]


def run_key(
    preset: Preset,
    xpu: XpuParams,
    *,
    params_sha256: str,
    data_sha256: str,
    images: int,
    seed: int,
    effects: Effects,
) -> RunKey:
    """The :class:`RunKey` of a run (see there); ``effects`` are those of its points."""
    return RunKey(
        {
            "preset": preset.name,
            "preset_sha256": preset_digest(preset),
            "xpu": dataclasses.asdict(xpu),
            "params_sha256": params_sha256,
            "images": images,
            "data_sha256": data_sha256,
            "seed": seed,
            "effects": dataclasses.asdict(effects),
            "code": code_version(),
        }
    )


def point_key(point: SweepPoint) -> str:
    """The identity of a point in its sweep: its first knob column's exact value (``repr``)."""
    return repr(next(iter(point.columns.values())))


# ----------------------------------------------------------------------------------------------
# The CSV file
# ----------------------------------------------------------------------------------------------


class SweepCsvError(SweepError):
    """A sweep CSV that cannot be appended to (not UTF-8, a foreign header, a corrupt row)."""


#: Columns the sweep CSV adds before a point's own: the run's key and the point's key.
KEY_COLUMNS = ("run_key", "point_key")
#: Result columns a reused row must hold as numbers in 0..1 (the plot and the summary use them).
_FRACTIONS = ("accuracy", "accuracy_ideal", "wrong_readout_fraction")


def format_value(value: Any) -> Any:
    """A float with 6 significant digits (as the CSV holds it); anything else as it is."""
    return f"{value:.6g}" if isinstance(value, float) else value


def parse_value(text: str) -> Any:
    """A CSV field back as the value it was written from: bool, int, float, else the text."""
    if text in ("True", "False"):
        return text == "True"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while a row is written, so a row is written whole or not at all.

    A signal that arrives meanwhile is delivered when the row is on disk.
    """
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    except (AttributeError, OSError, ValueError):  # no POSIX signal masks here
        old = None
    try:
        yield
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


class SweepCsv:
    """One sweep's CSV file: append-only, keyed by run and point (a context manager).

    Entering reads the file if there is one: its rows of ``run.key`` become :attr:`finished`
    (point key -> row as read, values parsed with :func:`parse_value`); the rows of other runs
    stay in the file untouched and are counted in :attr:`other_runs`. :meth:`write` appends one
    row (``run_key``, ``point_key``, then the point's columns) and flushes it to disk, with
    Ctrl-C and SIGTERM held, so an interrupted sweep keeps every point it finished and no row
    is ever cut by a signal. Nothing is ever rewritten except in one case: a last line left
    partial by a killed run (no final newline, or another number of fields than the header) is
    dropped, the file rewritten atomically without it and ``log`` told. Anything else that is
    wrong with the file (not UTF-8, a header without the key and knob columns, a corrupt row
    that is not the last, a row of this run whose accuracy is not a fraction) is a
    :class:`SweepCsvError` naming the file and the line; the file is left as it is. Extra
    columns (added by hand, say) and a BOM are accepted; appended rows leave extra columns empty.
    A row of this run seen twice (two runs writing one folder at once) is used once; ``log``
    says so.

    Parameters
    ----------
    path : path-like
        The CSV file (created, with its folder, at the first :meth:`write`).
    run : RunKey
        The run whose points are reused and written.
    knob_columns : sequence of str
        The sweep's knob columns (:attr:`SweepPoint.columns`): an existing file must have them.
    log : callable, optional
        Receives one line per message (dropped line, duplicates); default: discard.
    """

    def __init__(
        self,
        path: str | Path,
        run: RunKey,
        knob_columns: Sequence[str],
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.run = run
        self.knob_columns = tuple(knob_columns)
        self.log = log or (lambda _text: None)
        #: Rows of this run already in the file, by point key, values parsed.
        self.finished: dict[str, dict[str, Any]] = {}
        #: Run key -> number of rows of the other runs in the file.
        self.other_runs: dict[str, int] = {}
        self.header: list[str] | None = None
        self._open = False

    def __enter__(self) -> SweepCsv:
        self._read()
        self._open = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False

    # -- reading ---------------------------------------------------------------------------

    def _fail(self, line: int | None, why: str) -> NoReturn:
        where = f"{self.path}" + (f", line {line}" if line else "")
        raise SweepCsvError(
            f"{where}: {why}; the file is left as it is: move it away or choose another --out"
        )

    def _read(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except IsADirectoryError:
            self._fail(None, "is a folder, expected a sweep CSV file")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self._fail(None, f"is not UTF-8 text (byte {exc.start} of {len(data)})")
        whole, partial = text, ""
        if text and not text.endswith("\n"):
            cut = text.rfind("\n") + 1
            whole, partial = text[:cut], text[cut:]
            if "\r" in partial:  # a killed run cuts one line of ours; ours end in "\n" only
                self._fail(
                    whole.count("\n") + 1, "lines that end in a bare CR, not a sweep CSV of oxbnn"
                )
        reader = csv.reader(io.StringIO(whole, newline=""))
        lines: list[tuple[int, list[str]]] = []
        try:
            for fields in reader:
                if fields:  # blank lines are nobody's row
                    lines.append((reader.line_num, fields))
        except csv.Error as exc:
            self._fail(reader.line_num, f"is not a CSV file ({exc})")
        if not lines:
            ours = ",".join((*KEY_COLUMNS, *self.knob_columns))
            if partial and not (ours.startswith(partial) or partial.startswith(ours + ",")):
                self._fail(1, f"one line {partial[:40]!r}, not the header of a sweep CSV")
            if partial:
                self.log(f"{self.path}: dropped its header {partial!r}, cut by an interrupted run")
                self._rewrite([])
            return
        (_, header), body = lines[0], lines[1:]
        missing = [c for c in (*KEY_COLUMNS, *self.knob_columns, *_FRACTIONS) if c not in header]
        if missing:
            self._fail(
                1,
                f"the header lacks the column(s) {', '.join(missing)} (expected a sweep CSV of "
                f"this version of oxbnn, keyed by {' and '.join(KEY_COLUMNS)})",
            )
        if len(set(header)) != len(header):
            self._fail(1, "the header names a column twice")
        drop: list[str] = []  # what a killed run left partial: dropped once the rest is good
        if body and len(body[-1][1]) != len(header):
            line, fields = body.pop()
            drop.append(f"line {line} ({len(fields)} of {len(header)} fields): {fields}")
        if partial:
            drop.append(f"line {whole.count(chr(10)) + 1} (no final newline): {partial!r}")
        twice = 0
        for line, fields in body:
            if len(fields) != len(header):
                self._fail(line, f"{len(fields)} fields, the header has {len(header)}")
            row = dict(zip(header, fields, strict=True))
            if row["run_key"] != self.run.key:
                self.other_runs[row["run_key"]] = self.other_runs.get(row["run_key"], 0) + 1
                continue
            if row["point_key"] in self.finished:
                twice += 1
                continue
            self.finished[row["point_key"]] = self._parsed(line, row)
        self.header = header
        for what in drop:
            self.log(f"{self.path}: dropped {what[:120]}, left partial by an interrupted run")
        if drop:
            self._rewrite([header] + [f for _, f in body])
        if twice:
            self.log(f"{self.path}: {twice} repeated row(s) of run {self.run.key} used once")

    def _parsed(self, line: int, row: dict[str, str]) -> dict[str, Any]:
        out = {k: parse_value(v) for k, v in row.items() if k not in KEY_COLUMNS}
        for column in self.knob_columns:
            value = out[column]
            if isinstance(value, str) or not math.isfinite(value):
                self._fail(line, f"column {column} is {row[column]!r}, expected a finite number")
        for column in _FRACTIONS:
            value = out[column]
            if isinstance(value, str) or isinstance(value, bool) or not 0 <= value <= 1:
                self._fail(line, f"column {column} is {row[column]!r}, expected a number in 0..1")
        return out

    def _rewrite(self, keep: list[list[str]]) -> None:
        """Rewrite the file (atomically) as ``keep``: without the lines a killed run cut."""
        buf = io.StringIO(newline="")
        csv.writer(buf, lineterminator="\n").writerows(keep)
        write_text(self.path, buf.getvalue())

    # -- writing ---------------------------------------------------------------------------

    def write(self, point: str, row: dict[str, Any]) -> dict[str, Any]:
        """Append the row of point key ``point``; returns it as a reader gets it back.

        The header (:data:`KEY_COLUMNS`, then the row's keys) is written first into a new file.
        """
        if not self._open:
            raise SweepError(f"{self.path}: SweepCsv.write outside its 'with' block")
        if point in self.finished:
            raise SweepError(f"{self.path}: point {point} of run {self.run.key} is already there")
        full = {"run_key": self.run.key, "point_key": point, **row}
        new = self.header is None
        header = list(full) if new else self.header
        extra = [k for k in full if k not in header]
        if extra:
            self._fail(1, f"the header lacks the column(s) {', '.join(extra)} of this version")
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=header, restval="", lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow({k: format_value(v) for k, v in full.items()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _signals_held(), open(self.path, "a", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        self.header = header
        back = {
            k: parse_value(str(format_value(full[k])) if k in full else "")
            for k in header
            if k not in KEY_COLUMNS
        }
        self.finished[point] = back
        return back
