"""Per-category facts and the defaults several commands share, each stated once (torch-free).

One row per GET3D category (:data:`CATEGORIES`): the training presets (get3d.config), loading
GET3D's own checkpoints (get3d.official), the render-dataset job (get3d.datasets.settings), refine's
``--mesh`` grid and the CLI's help all read these rows, so no per-category number is written twice.

Sources (GET3D = nv-tlabs/GET3D): ``tet_res`` and ``grid_scale`` (its ``--dmtet_scale``) and
``r1_gamma`` (its ``--gamma``) from the training commands of its README and train_3d.py;
``render_scale`` from its Blender script render_shapenet_data/render_all.py (the normalised
largest bounding-box side); ``camera_mode`` is its ``--data_camera_mode`` and ``split`` the folder
of its split files, ``3dgan_data_split/<split>/{train,val,test}.txt``. ``synset`` is the ShapeNet
id GET3D's render folders are named by (``img/03001627/...``); names and synset ids are both
accepted wherever a category is asked for. ``None`` means GET3D publishes no value.

The shared defaults below them (truncation, the CLIP pair, the metric hook's sample counts) are
the values every command that takes the option uses unless told otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from get3d.errors import Get3dError

__all__ = ["CAMERA_MODES", "CATEGORIES", "Category", "CLIP_MODELS", "DEFAULT_RENDER_SCALE", "GET3D_TET_RES", "SYNSETS",
           "SURFACE_POINTS", "TRAIN_METRIC_IMAGES", "TRAIN_METRIC_SHAPES", "TRUNCATION", "find_category", "get_category",
           "render_scale"]

# ------------------------------------------------------------------------- GET3D constants
GET3D_TET_RES = 90  # the tet grid every released GET3D model was trained with
DEFAULT_RENDER_SCALE = 0.9  # GET3D's Blender script for any category it names no scale for


@dataclass(frozen=True)
class Category:
    name: str
    synset: Optional[str]  # ShapeNet synset id (render folder name); None outside ShapeNet
    camera_mode: Optional[str]  # GET3D's --data_camera_mode
    split: Optional[str]  # GET3D's 3dgan_data_split/<split>/ folder
    grid_scale: float = 1.0  # GET3D's dmtet_scale: the tet grid spans [-0.5, 0.5]^3 * grid_scale
    r1_gamma: Optional[float] = None  # GET3D's --gamma; a shapenet-<name> training preset exists when set
    render_scale: float = DEFAULT_RENDER_SCALE  # largest bounding-box side in GET3D's renders
    tet_res: int = GET3D_TET_RES
    # Elevation range (degrees, uniform) of the training views of its camera mode; azimuth is
    # uniform over the full circle at radius 1.2 in every mode.
    elevation: Optional[tuple] = (0.0, 30.0)


_ROWS = (
    Category("car", "02958343", "shapenet_car", "shapenet_car", r1_gamma=40.0),
    Category("chair", "03001627", "shapenet_chair", "shapenet_chair", grid_scale=0.8, r1_gamma=400.0,
             render_scale=0.7),
    Category("motorbike", "03790512", "shapenet_motorbike", "shapenet_motorbike", r1_gamma=80.0),
    # GET3D's table model was trained on all of ShapeNet's tables: its code names no mode or split.
    Category("table", "04379243", None, None, elevation=None),
    Category("animal", None, "ts_animal", None, elevation=(0.0, 45.0)),
    Category("human", None, "renderpeople", None, elevation=(0.0, 20.0)),
    Category("house", None, "ts_house", None),
)
CATEGORIES: dict[str, Category] = {row.name: row for row in _ROWS}
SYNSETS: dict[str, str] = {row.synset: row.name for row in _ROWS if row.synset}  # synset id -> name
# GET3D's named camera distributions (--data_camera_mode, read from its code) -> elevation range.
CAMERA_MODES: dict[str, tuple] = {row.camera_mode: row.elevation for row in _ROWS if row.camera_mode}


def find_category(name_or_synset) -> Optional[Category]:
    """The row for a category name or ShapeNet synset id (case-insensitive), or None."""
    key = str(name_or_synset).strip().lower()
    return CATEGORIES.get(SYNSETS.get(key, key))


def get_category(name_or_synset, what: str = "category") -> Category:
    """Like find_category, but an unknown name raises Get3dError naming ``what`` and the choices."""
    row = find_category(name_or_synset)
    if row is None:
        raise Get3dError(f"{what}: unknown category {name_or_synset!r}; choose from {', '.join(CATEGORIES)}")
    return row


def render_scale(name_or_synset) -> float:
    """GET3D's normalised size (largest bounding-box side) for a category name or synset id."""
    row = find_category(name_or_synset)
    return DEFAULT_RENDER_SCALE if row is None else row.render_scale


def render_scale_help() -> str:
    """'chair 0.7, car 0.9, ... others 0.9' for the CLI's help, from the table."""
    named = ", ".join(f"{row.name} {row.render_scale:g}" for row in CATEGORIES.values() if row.synset)
    return f"{named}, others {DEFAULT_RENDER_SCALE:g}"


def camera_mode_help() -> str:
    """'0-30 (shapenet_car, ...), 0-45 (ts_animal), ...' for the CLI's help, from the table."""
    by_range: dict = {}
    for mode, (low, high) in CAMERA_MODES.items():
        by_range.setdefault(f"{low:g}-{high:g}", []).append(mode)
    return ", ".join(f"{span} ({', '.join(modes)})" for span, modes in by_range.items())


# ------------------------------------------------------------------------- shared defaults
TRUNCATION = 0.7  # psi of every command that samples a trained generator (GET3D's inference uses 0.7)
CLIP_MODELS = ("openai/clip-vit-base-patch32", "openai/clip-vit-base-patch16")  # finetune-text and clip metric
TRAIN_METRIC_IMAGES = 5000  # train --metrics: generated images for fid/kid per snapshot
TRAIN_METRIC_SHAPES = 200  # train --metrics: generated shapes for cov/mmd/1nna per snapshot
SURFACE_POINTS = 2048  # area-uniform points per shape for Chamfer distances (GET3D's evaluation)
