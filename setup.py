"""get3d: GET3D (textured mesh GAN) in PyTorch, with text-driven fine-tuning and score distillation."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "get3d" / "__init__.py").read_text()).group(1)

setup(
    name="get3d",
    version=VERSION,
    description="GET3D textured-mesh GAN in PyTorch with CLIP and score-distillation text steering",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["get3d", "get3d.*"]),
    include_package_data=True,
    package_data={"get3d": ["py.typed", "pretrained/*.json", "pretrained/*.safetensors", "pretrained/*.md",
                            "geometry/data/*.npz", "geometry/data/*.md",
                            # the galleries' 3-D viewer (get3d.export.gallery), with its licence
                            "export/vendor/model-viewer/*"]},
    install_requires=[
        # Any torch >= 2.1 is kept as installed (CPU or CUDA); the Makefile installs one only
        # when none is importable, so this range never pulls a second multi-GB build.
        "torch>=2.1",
        "numpy>=1.24",
        "pillow>=9.0",
        "click>=8.0",
        "tensorboard>=2.12",
        "ninja>=1.11",
        "trimesh>=4.0",
        "xatlas>=0.0.9",
        "safetensors>=0.4",
        "tqdm>=4.60",
        # nvdiffrast 0.3.3 sources; its CUDA plugin compiles with ninja on first use on a GPU machine.
        "diffrp-nvdiffrast>=0.3.3",
    ],
    extras_require={
        # libigl: signed distance of a mesh for `get3d refine --mesh`.
        "text": ["transformers>=4.40", "diffusers>=0.27", "libigl>=2.5"],
        # The text stages' tests build tiny CLIP and Stable Diffusion models from configs, so the
        # test extra carries the text extra's libraries too.
        "test": ["pytest>=7.4", "hypothesis>=6.0", "scipy>=1.10", "pygltflib>=1.16", "transformers>=4.40", "diffusers>=0.27",
                 "libigl>=2.5"],
    },
    entry_points={"console_scripts": ["get3d=get3d.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
