# oxbnn — cycle-accurate simulator of the OXBNN photonic BNN accelerator.
# Every target that needs the environment depends on `setup`, which is idempotent.
# Knobs: SEED (random seeds), TEST (pytest -k expression), WAVES=1 (write traces), PRESET,
# SIM=verilator|icarus (the co-simulation's simulator).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SEED   ?= 1
TEST   ?=
WAVES  ?= 0
PRESET ?= oxbnn50
JOBS   ?= 2
export SEED WAVES SIM

PYTEST_K := $(if $(TEST),-k "$(TEST)",)

.DEFAULT_GOAL := help
.PHONY: help setup apt sim test test-slow lint format clean train-digits verilog synth timing \
        bench-rtl bench-sim bench-efficiency bench-chip sim-resnet18 report bench-report accuracy-sweep

help:  ## list the targets
	@echo "oxbnn make targets (knobs: SEED=$(SEED) TEST=<pytest -k> WAVES=0|1 PRESET=$(PRESET))"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18 | sed 's/^/  /'

setup: apt $(VENV)/.installed  ## install EDA tools (apt) and the virtualenv with oxbnn

# Icarus, Yosys, OpenSTA and the OSU 0.18 um cell library (oxbnn timing) come from Debian;
# installed only when missing (root, or sudo, needed then).
OSU018_LIB := /usr/share/qflow/tech/osu018/osu018_stdcells.lib
apt:
	@missing=""; \
	command -v iverilog >/dev/null 2>&1 || missing="$$missing iverilog"; \
	command -v yosys >/dev/null 2>&1 || missing="$$missing yosys"; \
	command -v sta >/dev/null 2>&1 || missing="$$missing opensta"; \
	test -f $(OSU018_LIB) || missing="$$missing qflow-tech-osu018"; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing$$missing with apt-get"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $@

SIM_IMAGES ?= 200

sim: setup  ## the main job: optics of both presets, then the digits BNN on the XPU RTL of PRESET (oxbnn50: S = 49, 1.020 GHz)
	$(BIN)/oxbnn optics --preset oxbnn50
	$(BIN)/oxbnn optics --preset oxbnn5
	$(BIN)/oxbnn infer --preset $(PRESET) --images $(SIM_IMAGES) --seed $(SEED) --waves

test: setup  ## the test suite (skips sweeps marked slow), on $(JOBS) cores
	$(BIN)/pytest -n $(JOBS) -m "not slow" $(PYTEST_K)

test-slow: setup  ## only the long sweeps marked slow
	$(BIN)/pytest -n $(JOBS) -m slow $(PYTEST_K)

lint: setup  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

verilog: setup  ## export the XPU of both presets as Verilog under build/verilog
	$(BIN)/oxbnn export --preset oxbnn50 --out build/verilog
	$(BIN)/oxbnn export --preset oxbnn5 --out build/verilog

synth: setup  ## yosys synth + stat of both presets' XPUs: cell and flip-flop counts
	$(BIN)/python -m oxbnn.tools.synth --preset oxbnn50
	$(BIN)/python -m oxbnn.tools.synth --preset oxbnn5

# oxbnn50: the whole XPU (about 11 min); oxbnn5: 4 of its 53 XPEs (about 7 min; the whole one is
# about 300k cells). Cached in build/timing/cache: a rerun of an unchanged XPU takes seconds.
timing: setup  ## critical path (ps, FO4) and f_max at the target node of both presets' XPUs (yosys + OpenSTA)
	$(BIN)/oxbnn timing --preset oxbnn50 --out build/timing
	$(BIN)/oxbnn timing --preset oxbnn5 --xpes 4 --out build/timing

bench-rtl: setup  ## Amaranth-simulator cycles/s of the 19 x 19 oxbnn50 XPU at S = 1 (oxbnn50-s1) on a real layer
	$(BIN)/python -m oxbnn.tools.bench_rtl

bench-sim: setup  ## co-simulation cycles/s and slots/s of oxbnn50 at S = 1 and S = 49, ideal and physical: event-driven vs bare model vs per-cycle cocotb
	$(BIN)/python -m oxbnn.tools.bench_sim

bench-efficiency: setup  ## cycles over the per-layer lower bound (compute, memory, fixed) of ~150 random layers on every shipped preset, per dataflow, against issue 13's goals
	$(BIN)/python -m oxbnn.tools.bench_efficiency

bench-chip: setup  ## a layer on a chip of 2, 4 and 8 XPUs with 1, 2 and X + 1 global-buffer ports against one XPU, by the chip cycle model
	$(BIN)/python -m oxbnn.tools.bench_chip

sim-resnet18: setup  ## the busiest XPU's share of ResNet18 on OXBNN_50 (S = 49) through the RTL, checked against golden, cycle and system models
	$(BIN)/oxbnn sim --preset $(PRESET) --network resnet18 --seed $(SEED)

report: setup  ## full-network evaluation of the five accelerators: build/report/
	$(BIN)/oxbnn report

bench-report: setup  ## wall time of the whole 5 x 4 evaluation
	$(BIN)/python -m oxbnn.tools.bench_report

accuracy-sweep: setup  ## digits accuracy vs laser power, spacing, PCA noise, ADC bits: build/accuracy-sweep/
	$(BIN)/oxbnn accuracy-sweep --preset $(PRESET) --seed $(SEED) $(if $(filter oxbnn50,$(PRESET)),--check-cosim,)

train-digits: setup  ## retrain the digits BNN (seeded, reproducible) into models/digits_params.npz
	$(BIN)/python -m oxbnn.tools.train_digits --seed 0 --out models/digits_params.npz

clean:  ## remove build outputs (keeps the virtualenv)
	rm -rf build .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
