"""Writing meshes to the formats ``get3d generate`` offers (GLB with the texture embedded, OBJ +
MTL + PNG, PLY geometry only) through get3d.geometry.Mesh.save."""
from __future__ import annotations

from pathlib import Path

from get3d.errors import Get3dError
from get3d.geometry.mesh import Mesh

FORMATS = ("glb", "obj", "ply")


def parse_formats(text: str | list[str]) -> list[str]:
    items = [t.strip().lower().lstrip(".") for t in (text.split(",") if isinstance(text, str) else text)]
    bad = [t for t in items if t not in FORMATS]
    if bad or not items:
        raise Get3dError(f"formats (--format): unknown format {bad[0] if bad else text!r}; choose from {', '.join(FORMATS)}")
    return items


def save_asset(mesh: Mesh, outdir: Path, stem: str, formats: list[str]) -> list[str]:
    """Write ``mesh`` as ``outdir/<stem>.<fmt>`` for each format -> the paths written."""
    files = []
    for fmt in formats:
        files.append(str(mesh.save(outdir / f"{stem}.{fmt}")))
    return files
