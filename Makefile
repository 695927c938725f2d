# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-gpu install lint clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	# torch first, from the CPU wheel on disk; everything after sees it satisfied.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[data,dev,bench,triton]"
	# Norse and SpikingJelly without their torchvision/torchaudio (which would pin another torch).
	$(PIP) install -q --no-deps snntorch==1.0.0 norse==1.1.0 spikingjelly==2.0.0
	$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m spikeflow train digits --out runs/digits --overwrite

test: $(STAMP)
	$(PY) -m pytest -n 2 -q tests

bench: $(STAMP)
	$(PY) benchmarks/peers.py

# the triton backend against the floor and SpikingJelly on a CUDA machine (exits with a message without CUDA)
bench-gpu: $(STAMP)
	$(PY) benchmarks/gpu_peers.py

lint: $(STAMP)
	$(PY) -m ruff check spikeflow tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
