"""A small triangle-mesh type: geometry queries in torch, file IO through trimesh.

Conventions: Y is up; faces wind counter-clockwise seen from outside. ``uvs`` are per-vertex
(vertices are split at UV seams, as xatlas returns them) with (0, 0) at the bottom-left of the
texture, as in OBJ and trimesh; ``texture`` is [H,W,3] float in [0, 1] with row 0 the top row, as
image files store it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from get3d.errors import Get3dError

MESH_FORMATS = (".obj", ".ply", ".glb", ".gltf", ".off", ".stl")


@dataclass
class Mesh:
    """verts [V,3] float, faces [F,3] int64, optional uvs [V,2] float and texture [H,W,3] float."""

    verts: torch.Tensor
    faces: torch.Tensor
    uvs: torch.Tensor | None = None
    texture: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.verts.dim() != 2 or self.verts.shape[1] != 3:
            raise Get3dError(f"Mesh verts must be [V,3], got shape {tuple(self.verts.shape)}")
        if self.faces.dim() != 2 or self.faces.shape[1] != 3:
            raise Get3dError(f"Mesh faces must be [F,3], got shape {tuple(self.faces.shape)}")
        if self.faces.dtype.is_floating_point:
            raise Get3dError(f"Mesh faces must be integer indices, got {self.faces.dtype}")
        self.faces = self.faces.long()
        if self.faces.numel() and (int(self.faces.min()) < 0 or int(self.faces.max()) >= self.verts.shape[0]):
            raise Get3dError(
                f"Mesh faces index vertices outside [0, {self.verts.shape[0]}): "
                f"min {int(self.faces.min())}, max {int(self.faces.max())}"
            )
        if not torch.isfinite(self.verts).all():
            raise Get3dError("Mesh verts contain NaN or infinite values")
        if self.uvs is not None and tuple(self.uvs.shape) != (self.verts.shape[0], 2):
            raise Get3dError(f"Mesh uvs must be [V,2] with V={self.verts.shape[0]}, got {tuple(self.uvs.shape)}")
        if self.texture is not None and (self.texture.dim() != 3 or self.texture.shape[2] != 3):
            raise Get3dError(f"Mesh texture must be [H,W,3], got shape {tuple(self.texture.shape)}")

    # ------------------------------------------------------------------ basic properties
    @property
    def num_verts(self) -> int:
        return int(self.verts.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def is_empty(self) -> bool:
        return self.num_faces == 0

    def to(self, device: torch.device | str) -> "Mesh":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Mesh(self.verts.to(device), self.faces.to(device), move(self.uvs), move(self.texture))

    # ------------------------------------------------------------------ geometry
    def _corners(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p = self.verts[self.faces]  # [F,3,3]
        return p[:, 0], p[:, 1], p[:, 2]

    def face_normals(self, normalize: bool = True) -> torch.Tensor:
        """[F,3] outward normals (unit, or twice the face area long when ``normalize=False``)."""
        a, b, c = self._corners()
        n = torch.cross(b - a, c - a, dim=-1)
        return torch.nn.functional.normalize(n, dim=-1) if normalize else n

    def face_areas(self) -> torch.Tensor:
        """[F] triangle areas."""
        return 0.5 * self.face_normals(normalize=False).norm(dim=-1)

    def vertex_normals(self) -> torch.Tensor:
        """[V,3] unit normals: the area-weighted mean of the adjacent faces' normals."""
        weighted = self.face_normals(normalize=False)  # length = 2 * area: area weighting for free
        normals = torch.zeros_like(self.verts)
        normals.index_add_(0, self.faces.reshape(-1), weighted.repeat_interleave(3, dim=0))
        return torch.nn.functional.normalize(normals, dim=-1)

    def signed_volume(self) -> torch.Tensor:
        """Enclosed volume (positive for a closed, outward-wound surface)."""
        a, b, c = self._corners()
        return (a * torch.cross(b, c, dim=-1)).sum() / 6.0

    def _edge_use_counts(self) -> torch.Tensor:
        """[E] how many faces use each undirected edge."""
        edges = torch.sort(self.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), dim=1).values
        return torch.unique(edges, dim=0, return_counts=True)[1]

    def boundary_and_nonmanifold_edges(self) -> tuple[int, int]:
        """Counts of edges used by one face (holes) and by more than two (non-manifold)."""
        counts = self._edge_use_counts()
        return int((counts == 1).sum()), int((counts > 2).sum())

    def euler_characteristic(self) -> int:
        """V - E + F (2 for a sphere-like closed surface, 0 for a torus)."""
        return self.num_verts - len(self._edge_use_counts()) + self.num_faces

    def sample_points(
        self, num: int, generator: torch.Generator | None = None, return_faces: bool = False,
        return_barycentrics: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Area-uniform random points on the surface, differentiable w.r.t. ``verts``.

        Returns points [num,3] (and the face index [num] of each when ``return_faces``; and also
        the barycentric weights [num,3] of each within its face when ``return_barycentrics``:
        (points, face_index, weights), for looking up per-corner attributes there).
        """
        areas = self.face_areas().detach()
        if self.is_empty or not float(areas.sum()) > 0:
            raise Get3dError("cannot sample points from a mesh with no faces or zero surface area")
        dev = self.verts.device
        face_idx = torch.multinomial(areas.cpu().double(), num, replacement=True, generator=generator).to(dev)
        u = torch.rand(num, 2, generator=generator).to(dev, self.verts.dtype)
        # sqrt warping makes (u, v) uniform over the triangle instead of bunched at a corner.
        r = u[:, 0].sqrt()
        w = torch.stack([1 - r, r * (1 - u[:, 1]), r * u[:, 1]], -1)  # [num,3]
        points = (self.verts[self.faces[face_idx]] * w.unsqueeze(-1)).sum(1)
        if return_barycentrics:
            return points, face_idx, w
        return (points, face_idx) if return_faces else points

    # ------------------------------------------------------------------ IO
    def to_trimesh(self, material_name: str = "material"):
        import trimesh
        from PIL import Image

        mesh = trimesh.Trimesh(
            vertices=self.verts.detach().cpu().numpy().astype(np.float64),
            faces=self.faces.detach().cpu().numpy(),
            process=False,
        )
        if self.uvs is not None and self.texture is not None:
            image = Image.fromarray((self.texture.detach().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8))
            material = trimesh.visual.material.SimpleMaterial(image=image, name=material_name)
            mesh.visual = trimesh.visual.TextureVisuals(uv=self.uvs.detach().cpu().numpy(), material=material)
        return mesh

    def save(self, path: str | Path) -> Path:
        """Write OBJ (+MTL +PNG when textured), PLY, GLB, OFF or STL, chosen by the extension."""
        path = Path(path)
        if path.suffix.lower() not in MESH_FORMATS:
            raise Get3dError(f"{path}: unsupported mesh format {path.suffix!r}; use one of {', '.join(MESH_FORMATS)}")
        if self.is_empty:
            raise Get3dError(f"{path}: refusing to write an empty mesh (no faces)")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Material, MTL and PNG are named after the mesh so several meshes can share one folder.
        mesh = self.to_trimesh(material_name=path.stem)
        if path.suffix.lower() == ".obj":
            mesh.export(path, mtl_name=f"{path.stem}.mtl")
        elif path.suffix.lower() in (".glb", ".gltf"):
            # Vertex normals, so viewers shade the surface smoothly instead of facet by facet.
            mesh.export(path, include_normals=True)
        else:
            mesh.export(path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> "Mesh":
        """Read a mesh file (scenes are merged into one mesh); UVs and texture when present."""
        import trimesh

        path = Path(path)
        if not path.is_file():
            raise Get3dError(f"{path}: no such mesh file")
        try:
            mesh = trimesh.load(path, force="mesh", process=False)
        except Exception as err:  # noqa: BLE001 - any parser failure means the file is unreadable
            raise Get3dError(f"{path}: cannot read mesh ({type(err).__name__}: {err})") from None
        if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
            raise Get3dError(f"{path}: file holds no triangles")
        if path.suffix.lower() == ".stl":
            mesh.merge_vertices()  # STL stores each triangle's corners separately
        # Only OBJ (via MTL) and glTF carry a texture image; trimesh invents one for PLY UVs.
        has_texture = path.suffix.lower() in (".obj", ".glb", ".gltf")
        verts = torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32, device=device)
        faces = torch.as_tensor(np.asarray(mesh.faces), dtype=torch.int64, device=device)
        uvs, texture = _read_texture(mesh, device) if has_texture else (None, None)
        try:
            return cls(verts, faces, uvs, texture)
        except Get3dError as err:
            raise Get3dError(f"{path}: {err}") from None


def _read_texture(mesh, device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """UVs [V,2] and texture [H,W,3] from a trimesh visual, or (None, None) when it has none."""
    visual = getattr(mesh, "visual", None)
    uv = getattr(visual, "uv", None)
    material = getattr(visual, "material", None)
    image = getattr(material, "image", None) or getattr(material, "baseColorTexture", None)
    if uv is None or image is None or len(uv) != len(mesh.vertices):
        return None, None
    tex = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return (
        torch.as_tensor(np.asarray(uv), dtype=torch.float32, device=device),
        torch.as_tensor(tex, device=device),
    )
