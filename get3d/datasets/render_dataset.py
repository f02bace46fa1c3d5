"""Render a folder of meshes into GET3D's dataset layout, without Blender.

For each mesh: normalise it (scale its largest bounding-box side to ``scale``: GET3D's Blender
script uses a size per category, get3d.categories' ``render_scale``; that script scales about the
file's own origin and does not re-centre, so ``recentre`` is an option), draw ``views`` cameras
with rotation uniform in [0, 360)
and elevation uniform in [0, 30) degrees (seeded per shape, so a re-run draws the same ones),
render RGBA images with simple lighting, and write::

    OUT/img/<category>/<shape>/<view:03d>.png      straight (non-premultiplied) RGBA
    OUT/camera/<category>/<shape>/rotation.npy     [views] degrees
    OUT/camera/<category>/<shape>/elevation.npy    [views] degrees

The camera files are written last, each atomically, so their presence marks a finished shape:
a re-run skips those, and a shape interrupted half-way is rendered again from the start.
"""
from __future__ import annotations

import hashlib
import os
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from get3d.datasets.settings import Lighting, RenderSettings, category_scale  # noqa: F401
from get3d._io import atomic_path
from get3d.errors import Get3dError
from get3d.geometry.mesh import MESH_FORMATS
from get3d.geometry.mesh_io import ShadingMesh, load_shading_mesh, normalize_verts, surface_albedo
from get3d.render.camera import Cameras
from get3d.render.renderer import Fragments, Renderer

# ---------------------------------------------------------------------------------- discovery
@dataclass(frozen=True)
class MeshSource:
    path: Path
    category: str
    shape_id: str


def discover_meshes(mesh_dir: str | Path, category: str | None = None) -> list[MeshSource]:
    """Find meshes under ``mesh_dir`` and name them.

    ShapeNet v2 (``<synset>/<id>/models/model_normalized.obj``) and v1 (``<synset>/<id>/model.obj``)
    give shape ``<id>`` in category ``<synset>``. Any other mesh file gives shape = its file
    name without extension, in the category of its parent folder (``mesh_dir``'s own name for
    files directly inside it). ``category`` overrides the category of every shape.
    """
    root = Path(mesh_dir)
    if not root.is_dir():
        raise Get3dError(f"{root}: mesh folder not found")
    sources: dict[tuple[str, str], MeshSource] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MESH_FORMATS):
        if path.name == "model_normalized.obj" and path.parent.name == "models":
            shape_dir = path.parent.parent
        elif path.name == "model.obj":
            shape_dir = path.parent
        else:
            shape_dir = None
        if shape_dir is not None:
            shape_id, cat = shape_dir.name, shape_dir.parent.name
        else:
            shape_id, cat = path.stem, path.parent.name
        key = (category or cat, shape_id)
        if key in sources:
            raise Get3dError(f"{path}: shape id {shape_id!r} also used by {sources[key].path}; rename one of them")
        sources[key] = MeshSource(path, category or cat, shape_id)
    if not sources:
        raise Get3dError(f"{root}: no mesh files ({', '.join(MESH_FORMATS)}) found")
    return list(sources.values())


# A mesh whose bounding-box centre lies further than this fraction of its largest side from the
# origin is reported when it is not re-centred: the cameras look at the origin, and at GET3D's
# scales (0.7-0.9) and camera distance a box shifted by more than about a tenth of its size starts
# leaving the frame in some views.
OFF_CENTRE_FRACTION = 0.1


def centre_offset(verts: torch.Tensor) -> float:
    """Distance of the bounding-box centre from the origin, as a fraction of the box's largest side."""
    lo, hi = verts.amin(0), verts.amax(0)
    extent = float((hi - lo).max())
    return float(((lo + hi) / 2).norm()) / extent if extent > 0 else 0.0


def make_fragment_fn(mesh: ShadingMesh, view: torch.Tensor, lighting: Lighting, backend):
    """A renderer ``fragment_fn`` shading ``mesh`` (same mesh for every item) seen through ``view`` [B,4,4]."""
    light = torch.nn.functional.normalize(torch.tensor(lighting.direction, dtype=torch.float32), dim=0)

    def shade(frag: Fragments) -> torch.Tensor:
        dev = frag.position.device
        bary = frag.barycentrics.unsqueeze(-1)  # [P,3,1]
        albedo = surface_albedo(mesh, frag.face_index, frag.barycentrics, backend)
        rot = view.to(dev)[frag.batch_index, :3, :3]  # [P,3,3]
        normal = frag.normal
        if mesh.corner_normal is not None:
            normal = (mesh.corner_normal.to(dev)[frag.face_index] * bary).sum(1)
        normal_cam = torch.nn.functional.normalize(torch.einsum("pij,pj->pi", rot, normal), dim=-1)
        pos_cam = torch.einsum("pij,pj->pi", rot, frag.position) + view.to(dev)[frag.batch_index, :3, 3]
        facing = (normal_cam * -pos_cam).sum(-1, keepdim=True)
        normal_cam = torch.where(facing < 0, -normal_cam, normal_cam)
        lambert = (normal_cam * light.to(dev)).sum(-1, keepdim=True).clamp_min(0)
        return (albedo * (lighting.ambient + lighting.diffuse * lambert)).clamp(0, 1)

    return shade


# ---------------------------------------------------------------------------------- rendering
def shape_cameras(seed: int, category: str, shape_id: str, views: int,
                  elevation_range=(0.0, 30.0)) -> tuple[np.ndarray, np.ndarray]:
    """Per-shape (rotation [views], elevation [views]) in degrees, independent of render order."""
    digest = hashlib.sha256(f"{seed}/{category}/{shape_id}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    rotation = rng.uniform(0.0, 360.0, views)
    elevation = rng.uniform(elevation_range[0], elevation_range[1], views)
    return rotation, elevation


def render_views(mesh: ShadingMesh, rotation: np.ndarray, elevation: np.ndarray, resolution: int,
                 renderer: Renderer, lighting: Lighting = Lighting(), device: str = "cpu",
                 max_pixels_per_call: int = 2**21) -> np.ndarray:
    """Render ``mesh`` (already normalised) from each (rotation, elevation): -> RGBA uint8 [V,H,W,4]."""
    verts, faces = mesh.verts.to(device), mesh.faces.to(device)
    per_call = max(1, max_pixels_per_call // (resolution * resolution))
    images = []
    for start in range(0, len(rotation), per_call):
        cams = Cameras(torch.tensor(rotation[start:start + per_call], dtype=torch.float32, device=device),
                       torch.tensor(elevation[start:start + per_call], dtype=torch.float32, device=device))
        with torch.no_grad():
            result = renderer.render(verts, faces, cams, resolution,
                                     fragment_fn=make_fragment_fn(mesh, cams.view(), lighting, renderer.backend))
        alpha = result.mask.clamp(0, 1)
        # The renderer blends colour toward the black background at edges (premultiplied);
        # PNGs store straight alpha, so divide it back out.
        rgb = torch.where(alpha > 0, result.color / alpha.clamp_min(1e-6), torch.zeros_like(result.color)).clamp(0, 1)
        rgba = torch.cat([rgb, alpha], -1)
        images.append((rgba * 255 + 0.5).to(torch.uint8).cpu().numpy())
    return np.concatenate(images)


def _export_ply(path, verts: torch.Tensor, faces: torch.Tensor) -> None:
    import trimesh

    trimesh.Trimesh(verts.detach().cpu().numpy(), faces.cpu().numpy(), process=False).export(path, file_type="ply")


def _save_atomic(path: Path, write) -> None:
    """write(temporary path) then rename onto ``path`` (no fsync: thousands of small renders, and
    a crash only costs re-rendering the shape, which shape_is_done detects)."""
    with atomic_path(path, fsync=False) as tmp:
        write(str(tmp))


def _save_npy(path: str, values: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a bare path
        np.save(f, values)


def shape_is_done(out_dir: Path, category: str, shape_id: str, views: int) -> bool:
    """Finished = both camera files with ``views`` entries and every view image present."""
    cam_dir = out_dir / "camera" / category / shape_id
    img_dir = out_dir / "img" / category / shape_id
    try:
        n = [len(np.load(cam_dir / f"{k}.npy")) for k in ("rotation", "elevation")]
    except (OSError, ValueError):
        return False
    return n == [views, views] and all((img_dir / f"{v:03d}.png").is_file() for v in range(views))


def render_shape(source: MeshSource, out_dir: Path, settings: RenderSettings, renderer: Renderer | None = None) -> float:
    """Load, normalise, render and write one shape (camera files last) -> its centre offset
    (:func:`centre_offset`, before normalising; 0 when ``settings.recentre``)."""
    renderer = renderer or Renderer(settings.backend)
    device = "cuda" if renderer.backend.name == "nvdiffrast" else "cpu"
    mesh = load_shading_mesh(source.path)
    offset = 0.0 if settings.recentre else centre_offset(mesh.verts)
    mesh.verts = normalize_verts(mesh.verts, settings.scale_for(source.category), settings.recentre)
    if settings.keep_meshes:
        # Geometry only, in the renders' frame: what the metrics' --ref-meshes default expects.
        mesh_dir = out_dir / "mesh" / source.category
        mesh_dir.mkdir(parents=True, exist_ok=True)
        _save_atomic(mesh_dir / f"{source.shape_id}.ply", lambda tmp: _export_ply(tmp, mesh.verts, mesh.faces))
    rotation, elevation = shape_cameras(settings.seed, source.category, source.shape_id, settings.views)
    images = render_views(mesh, rotation, elevation, settings.resolution, renderer, settings.lighting, device)
    img_dir = out_dir / "img" / source.category / source.shape_id
    cam_dir = out_dir / "camera" / source.category / source.shape_id
    img_dir.mkdir(parents=True, exist_ok=True)
    cam_dir.mkdir(parents=True, exist_ok=True)
    for v, rgba in enumerate(images):
        _save_atomic(img_dir / f"{v:03d}.png", lambda tmp, rgba=rgba: Image.fromarray(rgba, "RGBA").save(tmp, format="PNG"))
    for name, values in (("elevation", elevation), ("rotation", rotation)):
        _save_atomic(cam_dir / f"{name}.npy", lambda tmp, values=values: _save_npy(tmp, values))
    return offset


# ---------------------------------------------------------------------------------- folder job
@dataclass
class RenderSummary:
    rendered: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)  # (path, reason)
    off_centre: list = field(default_factory=list)  # (path, centre offset / largest side) above OFF_CENTRE_FRACTION

    def line(self) -> str:
        text = f"rendered {self.rendered}, skipped {self.skipped} (already done), failed {len(self.failed)}"
        if self.off_centre:
            text += (f"; {len(self.off_centre)} off-centre (bounding-box centre more than "
                     f"{OFF_CENTRE_FRACTION:.0%} of its size from the origin: views may be cut off; "
                     f"re-render them with settings.recentre (--recentre))")
        return text


def off_centre_warning(path, offset: float) -> str:
    return (f"warning: {path}: bounding-box centre is {offset:.0%} of its size from the origin "
            f"(over {OFF_CENTRE_FRACTION:.0%}); its views may be cut off: settings.recentre (--recentre) "
            f"centres it")


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)


def _render_task(source: MeshSource, out_dir: Path, settings: RenderSettings,
                 renderer: Renderer | None = None) -> tuple[MeshSource, str | None, float]:
    """Render one shape: (source, None, centre offset) on success or (source, one-line reason, 0)."""
    try:
        return source, None, render_shape(source, out_dir, settings, renderer)
    except Get3dError as err:
        return source, str(err), 0.0
    except Exception as err:  # noqa: BLE001 - one bad mesh must not stop the job
        last = traceback.extract_tb(err.__traceback__)[-1]
        return (source, f"{source.path}: {type(err).__name__}: {err} (at {Path(last.filename).name}:{last.lineno})",
                0.0)


def check_workers(workers) -> None:
    """``workers`` of render_mesh_folder: None (the default) or an int >= 0 (0: in this process)."""
    if workers is not None and not (isinstance(workers, int) and workers >= 0):
        raise Get3dError(f"workers (--workers) must be >= 0 (0: render in this process), got {workers!r}")


def render_mesh_folder(mesh_dir: str | Path, out_dir: str | Path, settings: RenderSettings = RenderSettings(),
                       category: str | None = None, workers: int | None = None, progress: bool = True,
                       warn=None) -> RenderSummary:
    """Render every mesh under ``mesh_dir`` into GET3D's layout under ``out_dir`` (resumable).

    workers: processes for CPU rendering (default: one per core, up to 8); 0 renders in this
    process. On a GPU (nvdiffrast backend) rendering stays in this process. ``warn(line)`` is
    told of each off-centre shape as it is rendered (default: a line on stderr above the
    progress bar); the summary counts them.
    """
    from tqdm import tqdm

    settings.check()
    check_workers(workers)
    out_dir = Path(out_dir)
    sources = discover_meshes(mesh_dir, category)
    summary = RenderSummary()
    todo = []
    for source in sources:
        if shape_is_done(out_dir, source.category, source.shape_id, settings.views):
            summary.skipped += 1
        else:
            todo.append(source)
    renderer = Renderer(settings.backend)
    if workers is None:
        workers = 0 if renderer.backend.name == "nvdiffrast" else min(os.cpu_count() or 1, 8)
    if renderer.backend.name == "nvdiffrast":
        workers = 0
    bar = tqdm(total=len(todo), desc="render-dataset", unit="shape", disable=not progress)

    def record(source, reason, offset=0.0):
        if reason is None:
            summary.rendered += 1
            if offset > OFF_CENTRE_FRACTION:
                summary.off_centre.append((str(source.path), offset))
                line = off_centre_warning(source.path, offset)
                warn(line) if warn is not None else bar.write(line, file=sys.stderr)
        else:
            summary.failed.append((str(source.path), reason))
        bar.update(1)

    if workers <= 1 or len(todo) <= 1:
        for source in todo:
            record(*_render_task(source, out_dir, settings, renderer))
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init,
                                 initargs=(threads,)) as pool:
            futures = {pool.submit(_render_task, s, out_dir, settings): s for s in todo}
            for future in as_completed(futures):
                try:
                    record(*future.result())
                except BrokenProcessPool as err:
                    record(futures[future], f"worker process died ({err})")
    bar.close()
    if summary.rendered or summary.failed:
        _log_run(out_dir, mesh_dir, category, settings, summary)
    return summary


def _log_run(out_dir: Path, mesh_dir, category, settings: RenderSettings, summary: RenderSummary) -> None:
    """One line per run that rendered (or tried) shapes, appended to OUT/render_settings.jsonl: the
    settings the new images were made with. A log, not one record: re-runs may add categories or
    shapes with other settings, and each line says which run made what."""
    import json

    line = dict(mesh_dir=str(mesh_dir), category=category, settings=settings.to_dict(), rendered=summary.rendered,
                skipped=summary.skipped, failed=len(summary.failed))
    with open(out_dir / "render_settings.jsonl", "a") as handle:
        handle.write(json.dumps(line) + "\n")
