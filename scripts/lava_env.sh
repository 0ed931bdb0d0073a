#!/usr/bin/env bash
# An optional environment where lava-nc 0.10.0 and lava-dl 0.6.0 run on Python 3.11, to compare
# Lava's own run of a netx file with snn-interop's fixed-point model (docs/hardware-loihi.md).
#   scripts/lava_env.sh [VENV]        (default: .venv-lava); then run the tests with
#   SNN_INTEROP_LAVA_PYTHON=VENV/bin/python .venv/bin/python -m pytest tests/hardware/test_loihi_lava.py
# Both packages declare Python < 3.11 and numpy < 2, so they are installed without their
# dependency resolution, beside numpy 1.26, and patched in two places:
#   1. lava/magma/compiler/var_model.py: ByteEncoder becomes a frozen dataclass (Python 3.11
#      rejects an unhashable dataclass instance as a field default: "mutable default ... ByteEncoder");
#   2. lava/lib/dl/slayer/__init__.py: the object_detection import (cv2, torchvision) is dropped;
#      netx does not use it.
# torch is the project's own (.venv), reached through a .pth placed after the venv's packages.
set -eu
VENV=${1:-.venv-lava}
MAIN_SITE=$(.venv/bin/python -c "import site; print(site.getsitepackages()[0])")
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install -q "numpy>=1.24.4,<2" "scipy>=1.10.1,<2" "networkx<=2.8.7" "asteval>=0.9.31,<0.10" \
    "scikit-learn>=1.5,<2" "h5py>=3.7,<4"
"$VENV/bin/pip" install -q --no-deps --ignore-requires-python lava-nc==0.10.0 lava-dl==0.6.0
SITE=$("$VENV/bin/python" -c "import site; print(site.getsitepackages()[0])")
echo "$MAIN_SITE" > "$SITE/zz_snn_interop_main_venv.pth"  # torch; appended after numpy 1.26
sed -i 's/^class ByteEncoder:/@dataclass(frozen=True)\nclass ByteEncoder:/' "$SITE/lava/magma/compiler/var_model.py"
sed -i 's/^from \. import object_detection as obd$/# (snn-interop patch) object_detection needs cv2 and torchvision; netx does not/' \
    "$SITE/lava/lib/dl/slayer/__init__.py"
"$VENV/bin/python" -c "from lava.lib.dl import netx; print('lava-dl netx imports')"
