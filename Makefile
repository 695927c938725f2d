# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-gpu bench-online install lint clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	# torch first, from the CPU wheel on disk; everything after sees it satisfied.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[data,dev,bench,triton,tensorboard,tonic]"
	# Norse and SpikingJelly without their torchvision/torchaudio (which would pin another torch).
	$(PIP) install -q --no-deps snntorch==1.0.0 norse==1.1.0 spikingjelly==2.0.0
	# NeuroBench without torchaudio/tonic/librosa: its Benchmark and metrics import only snntorch and tqdm.
	$(PIP) install -q --no-deps neurobench==2.3.0
	# tonic without librosa and its audio stack (only its file readers and ToFrame are used).
	$(PIP) install -q --no-deps tonic==1.7.0
	$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m spikeflow train digits --out runs/digits --overwrite

test: $(STAMP)
	# Debian packages for optional tests (skipped without them): headless Chromium (HTML report)
	# and espeak-ng (spoken digits). Best effort: needs root and apt; failure is tolerated.
	-{ command -v chromium >/dev/null 2>&1 && command -v espeak-ng >/dev/null 2>&1; } || { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && apt-get install -y -qq chromium espeak-ng; } || true
	$(PY) -m pytest -n 2 -q tests

bench: $(STAMP)
	$(PY) benchmarks/peers.py

# peak memory and time per step vs T: BPTT (reference, fused), OTTT, e-prop, SpikingJelly's OTTT
bench-online: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) benchmarks/online_memory.py --plot docs/img/online_memory.png

# the triton backend against the floor and SpikingJelly on a CUDA machine (exits with a message without CUDA)
bench-gpu: $(STAMP)
	$(PY) benchmarks/gpu_peers.py

lint: $(STAMP)
	$(PY) -m ruff check spikeflow tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
