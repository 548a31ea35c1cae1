"""Pure-Python models: optics, golden BNN, timing, system, workloads and presets."""
