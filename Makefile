# Two entry points (README): `make demo` sets everything up and runs the main job on an
# included example; `make test` runs the whole test suite. Both create .venv if needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.snn-interop-installed

.PHONY: setup demo test conformance docs native-nir-matrix lava-env clean

setup: $(STAMP)

# torch first, from the CPU build on local disk; then one resolver run for the project,
# its four frameworks and the dev tools, held on that torch and one nir by the constraints.
$(STAMP): pyproject.toml constraints/cpu.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints/cpu.txt -e '.[all,dev]'
	# the current nir release, apart, to prove our files read in plain nir.read (tests/nir)
	$(PY) -m pip install --quiet --no-deps --target $(VENV)/nir-current nir==1.0.8
	touch $(STAMP)

# The main job on the included example: a trained SpikingJelly network (examples/sj_mlp) to
# snnTorch, verified on the same input (spikes, gradients), written to build/demo-snntorch.
demo: $(STAMP)
	$(VENV)/bin/snn-convert --from spikingjelly --to snntorch examples.sj_mlp.model:build \
		--weights examples/sj_mlp/weights.pt -o build/demo-snntorch --verify --force

test: $(STAMP)
	$(PY) -m pytest -q

# The quick conformance suite on CPU (1052 cases x every installed framework and the kernel, ~2.5 min on 2 cores);
# reports in build/conformance. The full suite: $(VENV)/bin/snn-conformance -j 2 (docs/conformance.md).
conformance: $(STAMP)
	$(VENV)/bin/snn-conformance --quick -j 2 --out build/conformance --force

docs: $(STAMP)
	$(PY) scripts/gen_spec_docs.py

# The frameworks' own NIR code needs nir >= 1.0.7, which sinabs' package pin refuses: measure it
# in an environment of its own (sinabs installed without its pins; samna left out).
NATIVE := .venv-nir-native
$(NATIVE)/.stamp: constraints/native-nir.txt pyproject.toml
	python3 -m venv $(NATIVE)
	$(NATIVE)/bin/python -m pip install --quiet torch==2.13.0
	$(NATIVE)/bin/python -m pip install --quiet -c constraints/native-nir.txt snntorch==1.0.0 spikingjelly==2.0.0 norse==1.1.0 nir nirtorch pbr scipy h5py
	$(NATIVE)/bin/python -m pip install --quiet --no-deps sinabs==3.1.3 -e .
	touch $@

native-nir-matrix: $(NATIVE)/.stamp
	$(NATIVE)/bin/python scripts/native_nir_matrix.py

# Lava (lava-nc 0.10.0, lava-dl 0.6.0) declares Python < 3.11: an environment of its own, patched,
# where tests/hardware/test_loihi_lava.py runs Lava on the netx files we write (docs/hardware-loihi.md).
LAVA := .venv-lava
$(LAVA)/.stamp: scripts/lava_env.sh $(STAMP)
	scripts/lava_env.sh $(LAVA)
	touch $@

lava-env: $(LAVA)/.stamp

clean:
	rm -rf $(VENV) $(NATIVE) $(LAVA)
