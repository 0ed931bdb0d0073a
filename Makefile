# Two entry points (README): `make demo` sets everything up and runs the main job on an
# included example; `make test` runs the whole test suite. Both create .venv if needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.snn-interop-installed

.PHONY: setup demo test docs clean

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

demo: $(STAMP)
	$(VENV)/bin/snn-interop spec

test: $(STAMP)
	$(PY) -m pytest -q

docs: $(STAMP)
	$(PY) scripts/gen_spec_docs.py

clean:
	rm -rf $(VENV)
