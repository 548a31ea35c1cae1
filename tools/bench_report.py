"""Wall time of the whole evaluation behind ``oxbnn report``: 5 accelerators x 4 networks.

``python -m oxbnn.tools.bench_report`` starts cold (no cached presets, derivations or cycle
counts), times :func:`oxbnn.models.system.evaluate` on every shipped accelerator and built-in
network, and says where the time goes: loading presets and deriving the OXBNN optics, the
closed-form cycle model (:func:`oxbnn.models.timing.layer_cycles`, called once per unique
``(share spec, XPU, memory)``: its results are cached) and the rest of the system model. A warm
re-run shows the cost with every cycle count cached, and the S = 1 idealisation pass that
``oxbnn report`` adds (:func:`oxbnn.models.system_preset.s1_idealisation` of every accelerator;
at S = 1 its cycle counts are the cached ones). Target: at most 2 s cold.
"""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["main"]

TARGET_S = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oxbnn.tools.bench_report",
        description="Time the 5 x 4 evaluation of oxbnn report (target <= 2 s).",
    )
    parser.parse_args(argv)

    t_import = time.perf_counter()
    from ..models import derive, mapping, system, timing
    from ..models.system_preset import ACCELERATORS, s1_idealisation
    from ..models.workloads import NETWORKS

    t_import = time.perf_counter() - t_import

    # Cold start: forget every cache the evaluation fills.
    mapping.clear_cache()
    mapping._model_by_name.cache_clear()
    derive._cached_xpu_params.cache_clear()

    spent = {"layer_cycles": 0.0}
    calls = {"layer_cycles": 0}
    original = timing.layer_cycles

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent["layer_cycles"] += time.perf_counter() - t
            calls["layer_cycles"] += 1

    timing.layer_cycles = timed  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        models = [mapping.accelerator_model(a) for a in ACCELERATORS]
        t1 = time.perf_counter()
        results = system.evaluate(models, tuple(NETWORKS))
        t2 = time.perf_counter()
        system.evaluate(models, tuple(NETWORKS))
        t3 = time.perf_counter()
        ideal = [mapping.accelerator_model(s1_idealisation(m.preset)) for m in models]
        system.evaluate(ideal, tuple(NETWORKS))
        t4 = time.perf_counter()
    finally:
        timing.layer_cycles = original  # type: ignore[assignment]

    total = t2 - t0
    pairs = sum(len(row) for row in results.values())
    layers = sum(len(r.layers) for row in results.values() for r in row.values())
    print(
        f"oxbnn report evaluation: {len(models)} accelerators x {len(NETWORKS)} networks "
        f"= {pairs} frames, {layers} layer results"
    )
    print(f"  imports (numpy, models; workloads built): {t_import:.3f} s, not counted")
    print(f"  wall time, cold:                     {total:.3f} s  (target <= {TARGET_S:g} s)")
    print(f"    presets + optics derivation:       {t1 - t0:.3f} s")
    print(
        f"    timing.layer_cycles ({calls['layer_cycles']:5d} unique): "
        f"{spent['layer_cycles']:.3f} s"
    )
    print(f"    rest of the system model:          {t2 - t1 - spent['layer_cycles']:.3f} s")
    print(f"  wall time, warm (cycle counts cached): {t3 - t2:.3f} s")
    print(f"  S = 1 idealisation pass:               {t4 - t3:.3f} s")
    return 0 if total <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
