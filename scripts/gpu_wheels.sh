#!/usr/bin/env bash
# CPU side of a GPU check: download, into .whl/ (git-ignored), the Python 3.12 x86-64 wheels that the
# lent GPU machine (torch, transformers, scipy already there; no network) lacks for get3d and its
# tests. scripts/gpu_check.sh installs them there. About 22 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES="trimesh==5.2.0 xatlas diffusers==0.42.1 importlib_metadata diffrp-nvdiffrast libigl pygltflib
          dataclasses-json marshmallow deprecated"
mkdir -p .whl
for pkg in $PACKAGES; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$pkg"
done
ls -la .whl
