"""Reading any mesh file with its surface colours, for rendering and fitting (render-dataset,
``refine --mesh``, ``invert --mesh``): one loader below all three.

:class:`ShadingMesh` describes colour per face corner whatever the source material was (textures
with UVs, vertex colours, face colours, a material colour, else :data:`DEFAULT_GREY`), so one
shading path (:func:`surface_albedo`) serves them all. Conventions as get3d.geometry.mesh: Y up;
UVs with v up (OBJ), textures [H,W,3] float32 in [0, 1] with row 0 the top row. Any format trimesh
reads (MESH_FORMATS); scenes are flattened with their transforms applied.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from get3d.errors import Get3dError

__all__ = ["DEFAULT_GREY", "ShadingMesh", "corner_normals", "load_shading_mesh", "normalize_verts", "surface_albedo"]

DEFAULT_GREY = (0.7, 0.7, 0.7)  # base colour of faces whose file gives none


@dataclass
class ShadingMesh:
    """A mesh with its surface colour described per face, for every kind of source material.

    verts [V,3] float32, faces [F,3] int64; corner_color [F,3,3] base colour at each face
    corner (material colour, vertex or face colours); face_texture [F] int64 index into
    ``textures`` (-1 = untextured); corner_uv [F,3,2] (OBJ convention, v up); textures: list of
    [H,W,3] float32 in [0,1], row 0 at the top; corner_normal [F,3,3] shading normals (see
    ``corner_normals``), filled in by ``load_shading_mesh``.
    """

    verts: torch.Tensor
    faces: torch.Tensor
    corner_color: torch.Tensor
    face_texture: torch.Tensor
    corner_uv: torch.Tensor
    textures: list = field(default_factory=list)
    corner_normal: torch.Tensor | None = None


def corner_normals(verts: torch.Tensor, faces: torch.Tensor, crease_deg: float = 40.0) -> torch.Tensor:
    """Shading normals per face corner [F,3,3], smooth across seams but sharp at creases.

    Vertices are welded by exact position first, so UV or material seams (which split vertices)
    do not show in the lighting. A corner takes the mean of the normals of all faces at its
    position, each weighted by its angle there (so how a flat face happens to be triangulated
    does not matter), unless that differs from its own face's normal by more than
    ``crease_deg``, in which case it keeps the face normal: spheres shade smoothly, box edges
    stay sharp, and faces wound against their neighbours (common in ShapeNet) fall back to flat.
    """
    _, position_id = torch.unique(verts, dim=0, return_inverse=True)
    corners = verts[faces]  # [F,3,3]
    face_normal = torch.nn.functional.normalize(
        torch.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=-1), dim=-1)
    to_next = torch.nn.functional.normalize(corners.roll(-1, dims=1) - corners, dim=-1)
    to_prev = torch.nn.functional.normalize(corners.roll(1, dims=1) - corners, dim=-1)
    angle = torch.acos((to_next * to_prev).sum(-1).clamp(-1, 1))  # [F,3] interior angle per corner
    weighted = (angle.unsqueeze(-1) * face_normal[:, None]).reshape(-1, 3)
    summed = torch.zeros(int(position_id.max()) + 1, 3).index_add_(0, position_id[faces].reshape(-1), weighted)
    smooth = torch.nn.functional.normalize(summed, dim=-1)[position_id[faces]]  # [F,3,3]
    agree = (smooth * face_normal[:, None]).sum(-1, keepdim=True) > np.cos(np.radians(crease_deg))
    return torch.where(agree, smooth, face_normal[:, None].expand_as(smooth))


def _image_to_tensor(image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)


def _geometry_colours(geom, textures: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(corner_color [F,3,3], face_texture [F], corner_uv [F,3,2]) for one trimesh geometry."""
    n_faces = len(geom.faces)
    corner_uv = np.zeros((n_faces, 3, 2), np.float32)
    face_texture = np.full(n_faces, -1, np.int64)
    colour = np.broadcast_to(np.array(DEFAULT_GREY, np.float32), (n_faces, 3, 3)).copy()
    visual = getattr(geom, "visual", None)
    kind = getattr(visual, "kind", None)
    if kind == "texture":
        material = visual.material
        image = getattr(material, "image", None) or getattr(material, "baseColorTexture", None)
        uv = visual.uv
        if image is not None and uv is not None and len(uv) == len(geom.vertices):
            # Like Blender's OBJ/glTF import, the texture is the base colour (Kd is ignored).
            textures.append(_image_to_tensor(image))
            face_texture[:] = len(textures) - 1
            corner_uv = np.asarray(uv, np.float32)[geom.faces]
            colour[:] = 1.0
        else:
            colour[:] = np.asarray(material.main_color[:3], np.float32) / 255.0
    elif kind == "vertex":
        colour = np.asarray(visual.vertex_colors, np.float32)[geom.faces][..., :3] / 255.0
    elif kind == "face":
        colour = np.repeat(np.asarray(visual.face_colors, np.float32)[:, None, :3] / 255.0, 3, axis=1)
    return colour, face_texture, corner_uv


def load_shading_mesh(path: str | Path) -> ShadingMesh:
    """Read any mesh file trimesh reads (scenes are flattened with their transforms applied)."""
    import trimesh

    path = Path(path)
    try:
        loaded = trimesh.load(path, process=False)
    except Exception as err:  # noqa: BLE001 - any parser failure means the file is unreadable
        raise Get3dError(f"{path}: cannot read mesh ({type(err).__name__}: {err})") from None
    geoms = loaded.dump() if isinstance(loaded, trimesh.Scene) else [loaded]
    geoms = [g for g in geoms if isinstance(g, trimesh.Trimesh) and len(g.faces) > 0]
    if not geoms:
        raise Get3dError(f"{path}: file holds no triangles")
    for geom in geoms:  # checked before any indexing: a hostile file must not reach numpy's IndexError
        count, faces_np = len(geom.vertices), np.asarray(geom.faces)
        shape_v = np.asarray(geom.vertices).shape
        if len(shape_v) != 2 or shape_v[1] != 3 or faces_np.ndim != 2 or faces_np.shape[1] != 3:
            raise Get3dError(f"{path}: vertices {shape_v} and faces {faces_np.shape} are not [V,3] and [F,3]")
        if faces_np.size and (faces_np.min() < 0 or faces_np.max() >= count):
            raise Get3dError(f"{path}: a face refers to vertex {int(faces_np.max() if faces_np.max() >= count else faces_np.min())} "
                             f"but the mesh has {count} vertices")
        if not np.isfinite(np.asarray(geom.vertices, np.float64)).all():
            raise Get3dError(f"{path}: mesh has NaN or infinite vertex coordinates")
    verts, faces, colours, face_tex, uvs, textures = [], [], [], [], [], []
    offset = 0
    for geom in geoms:
        colour, tex, uv = _geometry_colours(geom, textures)
        verts.append(np.asarray(geom.vertices, np.float64))
        faces.append(np.asarray(geom.faces, np.int64) + offset)
        offset += len(geom.vertices)
        colours.append(colour)
        face_tex.append(tex)
        uvs.append(uv)
    verts = np.concatenate(verts)
    if not np.isfinite(verts).all():
        raise Get3dError(f"{path}: mesh has NaN or infinite vertex coordinates")
    verts_t = torch.from_numpy(verts.astype(np.float32))
    faces_t = torch.from_numpy(np.concatenate(faces))
    return ShadingMesh(
        verts=verts_t,
        faces=faces_t,
        corner_normal=corner_normals(verts_t, faces_t),
        corner_color=torch.from_numpy(np.concatenate(colours).astype(np.float32)),
        face_texture=torch.from_numpy(np.concatenate(face_tex)),
        corner_uv=torch.from_numpy(np.concatenate(uvs)),
        textures=textures,
    )


# ---------------------------------------------------------------------------------- normalising
# GET3D's render_shapenet_data/render_all.py: --scale per ShapeNet synset (get3d.categories'
# render_scale; names and synset ids both work).
def normalize_verts(verts: torch.Tensor, scale: float, recentre: bool = True) -> torch.Tensor:
    """Make the largest bounding-box side ``scale``; ``recentre`` also moves the box centre to
    the origin first (GET3D's Blender script only scales, about the file's origin)."""
    lo, hi = verts.amin(0), verts.amax(0)
    extent = float((hi - lo).max())
    if not extent > 0:
        raise Get3dError("mesh has zero extent (all vertices at one point)")
    if not recentre:
        return verts * (scale / extent)
    return (verts - (lo + hi) / 2) * (scale / extent)


# ---------------------------------------------------------------------------------- shading
def surface_albedo(mesh: ShadingMesh, face_index: torch.Tensor, barycentrics: torch.Tensor, backend) -> torch.Tensor:
    """The mesh's base colour at surface points: face_index [P], barycentrics [P,3] -> rgb [P,3].

    Corner colours interpolated, times the face's texture looked up at the interpolated UV
    (bilinear, wrapping) where it has one; ``backend`` is a rasterizer backend (its ``texture``)."""
    dev = face_index.device
    bary = barycentrics.unsqueeze(-1)  # [P,3,1]
    albedo = (mesh.corner_color.to(dev)[face_index] * bary).sum(1)  # [P,3]
    tex_id = mesh.face_texture.to(dev)[face_index]
    for t, texture in enumerate(mesh.textures):
        sel = (tex_id == t).nonzero().flatten()
        if len(sel) == 0:
            continue
        uv = (mesh.corner_uv.to(dev)[face_index[sel]] * bary[sel]).sum(1)  # [S,2]
        uv = torch.stack([uv[:, 0], 1.0 - uv[:, 1]], -1)  # OBJ v-up -> texture rows top-first
        looked_up = backend.texture(texture.to(dev)[None].contiguous(), uv[None, :, None].contiguous(),
                                    filter_mode="linear", boundary_mode="wrap")[0, :, 0]
        albedo[sel] = albedo[sel] * looked_up
    return albedo
