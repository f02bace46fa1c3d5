"""Differentiable rendering of a batch of triangle meshes seen from per-item GET3D cameras.

What :func:`render` returns (all ``[B, H, W, C]``, TOP ROW FIRST, background exactly 0):

* ``mask`` [.., 1]: coverage passed through the backend's ``antialias`` so silhouette pixels
  are fractional and the mask has gradients w.r.t. vertex positions (how GET3D's silhouette
  loss reaches the geometry).
* ``position`` [.., 3]: interpolated WORLD position of the visible surface point.
* ``depth`` [.., 1]: planar camera-space depth ``-z_cam`` (distance along the optical axis,
  positive in front of the camera; like Blender's Z pass), not the Euclidean ray length.
  Interpolating the per-vertex ``-z_cam`` with perspective-correct barycentrics is exact.
* ``normal`` [.., 3]: unit WORLD-space normals. ``normals="vertex"`` (default): area-weighted
  vertex normals interpolated and renormalised (smooth; what extracted DMTet meshes want);
  ``normals="face"``: the flat geometric normal of the visible triangle. Both assume
  counter-clockwise winding seen from outside (right-hand rule gives the outward normal).
* ``color`` [.., C] or None: from a texture field ``texture_fn(points[P,3], batch_index[P])``
  evaluated ONLY at the P foreground pixels (GET3D's texture network never sees background),
  or from per-item UV texture maps; antialiased like the mask.
* ``rast`` [.., 4]: the backend's raw ``(u, v, z/w, tri_id + 1)`` (flipped to top-first; the
  triangle ids index the batch's concatenated face list), and ``triangle_id`` [B, H, W]
  int64: the face index WITHIN each item's own face list, -1 on background.

Batching: items may have different vertex/face counts. When every item shares one face tensor
(e.g. one mesh seen from several cameras) the batch is rasterized in nvdiffrast's instanced
mode (``pos [B, V, 4]``, one ``tri``). Otherwise vertices (already transformed to clip space by
each item's own camera) and offset faces are concatenated and rasterized once in range mode
(``pos [sum V, 4]`` with ``ranges[b] = (first face, face count)``): one rasterizer call for the
whole batch, no padding and no per-item Python loop of kernel launches, and the attributes are
interpolated in one call too because triangle ids are global.

UV textures: ``uvs`` are per-vertex ``[V, 2]`` in the OBJ/OpenGL convention (v = 0 at the
BOTTOM of the image) and textures are ``[Ht, Wt, C]`` stored TOP ROW FIRST (as loaded from an
image file), so the renderer samples at ``(u, 1 - v)``; pass ``uv_v_up=False`` for UVs whose
v = 0 is the top row. Sampling is bilinear with clamped borders.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch

from get3d.errors import Get3dError
from get3d.render.camera import Cameras, _resolution, world_to_clip

__all__ = ["Fragments", "RenderResult", "Renderer", "render", "render_meshes", "vertex_normals", "face_normals"]

TextureFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Fragments:
    """The foreground pixels of a batch, as handed to a ``fragment_fn``; P pixels in all."""

    position: torch.Tensor  # [P, 3] world position
    normal: torch.Tensor  # [P, 3] unit world-space normal (as chosen by ``normals=``)
    batch_index: torch.Tensor  # [P] int64 item of each pixel
    face_index: torch.Tensor  # [P] int64 face within that item's mesh
    barycentrics: torch.Tensor  # [P, 3] weights of the face's corners 0, 1, 2 (perspective-correct)


FragmentFn = Callable[[Fragments], torch.Tensor]


@dataclass
class RenderResult:
    """Renderer outputs; every image is [B, H, W, C], top row first, background 0."""

    mask: torch.Tensor  # [B, H, W, 1] antialiased coverage in [0, 1]
    position: torch.Tensor  # [B, H, W, 3] world position
    depth: torch.Tensor  # [B, H, W, 1] planar camera depth (-z_cam)
    normal: torch.Tensor  # [B, H, W, 3] unit world-space normal
    rast: torch.Tensor  # [B, H, W, 4] (u, v, z/w, global tri id + 1)
    triangle_id: torch.Tensor  # [B, H, W] int64, per-item face index, -1 on background
    color: Optional[torch.Tensor] = None  # [B, H, W, C] antialiased colour

    @property
    def hard_mask(self) -> torch.Tensor:
        """[B, H, W, 1] float: 1 where a triangle covers the pixel centre (no antialiasing)."""
        return (self.triangle_id >= 0).unsqueeze(-1).to(self.mask.dtype)


# ----------------------------------------------------------------------------------- geometry


def face_normals(verts: torch.Tensor, faces: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """verts [V, 3], faces [F, 3] -> [F, 3] face normals (unnormalised: length = 2 * area)."""
    v0, v1, v2 = (verts[faces[:, i]] for i in range(3))
    normals = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)
    return torch.nn.functional.normalize(normals, dim=-1, eps=1e-20) if normalize else normals


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals: verts [V, 3], faces [F, 3] -> [V, 3]."""
    per_face = face_normals(verts, faces, normalize=False)
    normals = torch.zeros_like(verts)
    for i in range(3):
        normals = normals.index_add(0, faces[:, i], per_face)
    return torch.nn.functional.normalize(normals, dim=-1, eps=1e-20)


# ------------------------------------------------------------------------------------ inputs


def _as_list(value, name: str) -> List[torch.Tensor]:
    """A [B, N, K] tensor or a sequence of [N_b, K] tensors -> list of 2-D tensors."""
    if isinstance(value, torch.Tensor):
        if value.dim() == 2:
            return [value]
        if value.dim() == 3:
            return list(value.unbind(0))
        raise Get3dError(f"{name} must be [N, K], [B, N, K] or a list of [N, K] tensors, got {tuple(value.shape)}")
    if isinstance(value, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in value):
        return list(value)
    raise Get3dError(f"{name} must be a tensor or a list of tensors, got {type(value).__name__}")


def _check_item_shapes(verts, faces, uvs) -> None:
    for b, (v, f) in enumerate(zip(verts, faces)):
        if v.dim() != 2 or v.shape[-1] != 3 or not v.is_floating_point():
            raise Get3dError(f"verts[{b}] must be a float tensor [V, 3], got {tuple(v.shape)} {v.dtype}")
        if f.dim() != 2 or f.shape[-1] != 3 or f.is_floating_point():
            raise Get3dError(f"faces[{b}] must be an integer tensor [F, 3], got {tuple(f.shape)} {f.dtype}")
        if uvs is not None and (uvs[b].dim() != 2 or uvs[b].shape != (v.shape[0], 2)):
            raise Get3dError(f"uvs[{b}] must be [V, 2] with V={v.shape[0]}, got {tuple(uvs[b].shape)}")


def _broadcast_items(items: list, batch: int, name: str) -> list:
    if len(items) == batch:
        return items
    if len(items) == 1:
        return items * batch
    raise Get3dError(f"{name} has {len(items)} items but the batch has {batch}")


def _camera_matrices(cameras, device) -> Tuple[torch.Tensor, torch.Tensor]:
    """-> (view [B, 4, 4], proj [B, 4, 4]) from Cameras or a (view, projection) pair."""
    if isinstance(cameras, Cameras):
        view, proj = cameras.view(), cameras.projection()
    elif isinstance(cameras, (tuple, list)) and len(cameras) == 2:
        view, proj = (torch.as_tensor(m, dtype=torch.float32) for m in cameras)
    else:
        raise Get3dError(
            f"cameras must be a Cameras or a (view [B,4,4], projection [4,4]) pair, got {type(cameras).__name__}"
        )
    if view.dim() == 2:
        view = view[None]
    if view.dim() != 3 or view.shape[-2:] != (4, 4):
        raise Get3dError(f"cameras view matrices must be [B, 4, 4], got {tuple(view.shape)}")
    if proj.dim() == 2:
        proj = proj[None]
    if proj.dim() != 3 or proj.shape[-2:] != (4, 4) or proj.shape[0] not in (1, view.shape[0]):
        raise Get3dError(f"cameras projection must be [4, 4] or [B, 4, 4], got {tuple(proj.shape)}")
    view, proj = view.to(device), proj.to(device)
    return view, proj.expand(view.shape[0], 4, 4)


def _resolve_backend(backend):
    """A backend name (get_backend caches one object per name: contexts are expensive) or a
    ready backend object."""
    if isinstance(backend, str):
        from get3d.render.rasterizer import get_backend

        return get_backend(backend)
    if all(hasattr(backend, op) for op in ("rasterize", "interpolate", "texture", "antialias")):
        return backend
    raise Get3dError(f"backend must be a backend name or a rasterizer backend object, got {type(backend).__name__}")


# ---------------------------------------------------------------------------------- renderer


@dataclass
class _Packed:
    """The batch laid out for one rasterizer call."""

    pos: torch.Tensor  # clip-space [B, V, 4] (instanced) or [sum V, 4] (range mode)
    tri: torch.Tensor  # int32 [F, 3] or [sum F, 3]
    ranges: Optional[torch.Tensor]  # int32 [B, 2] on the CPU (range mode) or None
    face_offset: torch.Tensor  # int64 [B] first global face id of each item


def _shared_topology(faces: List[torch.Tensor], verts: List[torch.Tensor]) -> bool:
    first = faces[0]
    if any(v.shape[0] != verts[0].shape[0] for v in verts):
        return False
    return all(f is first or (f.shape == first.shape and torch.equal(f, first)) for f in faces)


def _pack(clip: List[torch.Tensor], faces: List[torch.Tensor]) -> _Packed:
    """Per-item clip-space verts [V_b, 4] and faces [F_b, 3] -> one rasterizer call's inputs."""
    device = clip[0].device
    batch = len(clip)
    if _shared_topology(faces, clip):
        tri = faces[0].to(device=device, dtype=torch.int32).contiguous()
        return _Packed(
            pos=torch.stack(clip).contiguous(),
            tri=tri,
            ranges=None,
            face_offset=torch.zeros(batch, dtype=torch.int64, device=device),
        )
    n_verts = torch.tensor([c.shape[0] for c in clip], dtype=torch.int64)
    n_faces = torch.tensor([f.shape[0] for f in faces], dtype=torch.int64)
    vert_offset = torch.cumsum(n_verts, 0) - n_verts
    face_offset = torch.cumsum(n_faces, 0) - n_faces
    tri = torch.cat([f.to(device=device, dtype=torch.int64) + int(o) for f, o in zip(faces, vert_offset)])
    ranges = torch.stack((face_offset, n_faces), dim=1).to(torch.int32)  # nvdiffrast wants CPU
    return _Packed(
        pos=torch.cat(clip).contiguous(),
        tri=tri.to(torch.int32).contiguous(),
        ranges=ranges,
        face_offset=face_offset.to(device),
    )


def _check_face_indices(verts: List[torch.Tensor], faces: List[torch.Tensor]) -> None:
    """Every index of faces[b] in [0, V_b), checked with a single device sync for the batch."""
    flags = torch.stack(
        [((f < 0) | (f >= v.shape[0])).any() if f.numel() else f.new_zeros((), dtype=torch.bool)
         for v, f in zip(verts, faces)]
    ).cpu()
    if bool(flags.any()):
        b = int(flags.nonzero()[0, 0])
        raise Get3dError(f"faces[{b}] has vertex indices outside [0, {verts[b].shape[0]})")


class Renderer:
    """Renders batches of meshes through a rasterizer backend (see module docstring).

    backend: "auto" | "torch" | "nvdiffrast" or a backend object from
    ``get3d.render.rasterizer.get_backend``.
    """

    def __init__(self, backend: Union[str, object] = "auto"):
        self.backend = _resolve_backend(backend)

    def render_meshes(self, meshes: Sequence, cameras, resolution=256, **kwargs) -> RenderResult:
        """Render duck-typed meshes (``.verts``, ``.faces``, optional ``.uvs`` / ``.texture``).

        UV textures are used when every mesh has both ``uvs`` and ``texture`` and no
        ``texture_fn`` is given. Other kwargs as in :meth:`render`.
        """
        if not isinstance(meshes, (list, tuple)):
            meshes = [meshes]
        for b, m in enumerate(meshes):
            if not (hasattr(m, "verts") and hasattr(m, "faces")):
                raise Get3dError(f"meshes[{b}] has no .verts/.faces (got {type(m).__name__})")
        uvs = [getattr(m, "uvs", None) for m in meshes]
        textures = [getattr(m, "texture", None) for m in meshes]
        use_uv = kwargs.get("texture_fn") is None and all(u is not None for u in uvs) and all(
            t is not None for t in textures
        )
        if use_uv:
            kwargs.setdefault("uvs", uvs)
            kwargs.setdefault("textures", textures)
        return self.render([m.verts for m in meshes], [m.faces for m in meshes], cameras, resolution, **kwargs)

    def render(
        self,
        verts,
        faces,
        cameras,
        resolution: Union[int, Tuple[int, int]] = 256,
        *,
        texture_fn: Optional[TextureFn] = None,
        uvs=None,
        textures=None,
        normals: str = "vertex",
        uv_v_up: bool = True,
        fragment_fn: Optional[FragmentFn] = None,
        antialias_color: bool = True,
    ) -> RenderResult:
        """Render B meshes, item b from camera b.

        verts: list of [V_b, 3] float tensors or a [B, V, 3] tensor (world, Y-up).
        faces: list of [F_b, 3] integer tensors, a [B, F, 3] tensor, or one [F, 3] tensor
            shared by all items.
        cameras: :class:`Cameras` with B entries, or ``(view [B,4,4], projection [4,4])``.
            A single mesh with B cameras renders that mesh B times; a single camera is shared.
        resolution: ``size`` or ``(H, W)``.
        texture_fn: ``(points [P, 3] world, batch_index [P] int64) -> colour [P, C]``, called
            once with the P foreground pixels of the whole batch.
        uvs / textures: per-item ``[V_b, 2]`` UVs and ``[Ht, Wt, C]`` texture maps (or a
            ``[B, Ht, Wt, C]`` tensor / one shared map); used when ``texture_fn`` is None.
        normals: "vertex" (smooth, interpolated) or "face" (flat).
        fragment_fn: ``(Fragments) -> colour [P, C]``, the general form of ``texture_fn``: also
            gets each foreground pixel's face index, barycentrics and normal (multi-material
            meshes, vertex colours, lighting). The colour is antialiased like the others.
        antialias_color: False leaves the colour as shaded at pixel centres (exactly 0 where no
            triangle covers the centre), as GET3D renders its images; the mask is always antialiased.
        """
        if sum(x is not None for x in (texture_fn, textures, fragment_fn)) > 1:
            raise Get3dError("give only one of texture_fn, textures and fragment_fn")
        if normals not in ("vertex", "face"):
            raise Get3dError(f"normals must be 'vertex' or 'face', got {normals!r}")
        if (uvs is None) != (textures is None):
            raise Get3dError("uvs and textures must be given together")
        height, width = _resolution(resolution)

        verts_l = _as_list(verts, "verts")
        faces_l = _as_list(faces, "faces")
        device = verts_l[0].device
        view, proj = _camera_matrices(cameras, device)
        batch = max(len(verts_l), len(faces_l), view.shape[0])
        verts_l = _broadcast_items(verts_l, batch, "verts")
        faces_l = _broadcast_items(faces_l, batch, "faces")
        view, proj = (m.expand(batch, 4, 4) if m.shape[0] == 1 else m for m in (view, proj))
        if view.shape[0] != batch:
            raise Get3dError(f"cameras has {view.shape[0]} entries but the batch has {batch} meshes")
        uvs_l = _broadcast_items(_as_list(uvs, "uvs"), batch, "uvs") if uvs is not None else None
        _check_item_shapes(verts_l, faces_l, uvs_l)
        # Rasterizers work in float32 (nvdiffrast requires it); .to() keeps gradients flowing.
        verts_l = [v.to(device=device, dtype=torch.float32) for v in verts_l]
        faces_l = [f.to(device=device, dtype=torch.int64) for f in faces_l]
        _check_face_indices(verts_l, faces_l)
        tex_l = _texture_list(textures, batch, device) if textures is not None else None

        mvp = proj @ view
        clip = [world_to_clip(v[None], mvp[b : b + 1])[0] for b, v in enumerate(verts_l)]
        depth_v = [-world_to_clip(v[None], view[b : b + 1])[0, :, 2:3] for b, v in enumerate(verts_l)]
        attrs = [torch.cat([v, d], dim=-1) for v, d in zip(verts_l, depth_v)]
        if normals == "vertex":
            attrs = [torch.cat([a, vertex_normals(v, f)], -1) for a, v, f in zip(attrs, verts_l, faces_l)]
        if uvs_l is not None:
            attrs = [torch.cat([a, u.to(a)], -1) for a, u in zip(attrs, uvs_l)]
        packed = _pack(clip, faces_l)

        if packed.tri.shape[0] == 0:
            return _empty_result(batch, height, width, verts_l, texture_fn or fragment_fn, tex_l)
        rast, _ = self.backend.rasterize(packed.pos, packed.tri, resolution=(height, width), ranges=packed.ranges)
        attr = torch.stack(attrs) if packed.ranges is None else torch.cat(attrs)
        interp, _ = self.backend.interpolate(attr.contiguous(), rast, packed.tri)

        covered = rast[..., 3:4] > 0  # [B, H, W, 1]
        hard = covered.to(interp.dtype)
        interp = interp * hard  # background exactly 0 whatever the backend leaves there
        position, depth = interp[..., 0:3], interp[..., 3:4]
        global_tri = _decode_triangle_ids(rast[..., 3]) - 1  # [B, H, W], -1 on background
        local_tri = torch.where(global_tri >= 0, global_tri - packed.face_offset[:, None, None], global_tri)
        if normals == "vertex":
            normal = torch.nn.functional.normalize(interp[..., 4:7], dim=-1, eps=1e-20) * hard
        else:
            normal = _face_normal_image(verts_l, faces_l, local_tri, covered)

        color = None
        if texture_fn is not None:
            color = _shade_field(texture_fn, position, covered[..., 0])
        elif tex_l is not None:
            color = _shade_uv(self.backend, tex_l, interp[..., -2:], uv_v_up) * hard
        elif fragment_fn is not None:
            color = _shade_fragments(fragment_fn, position, normal, local_tri, rast, covered[..., 0])
        mask = self.backend.antialias(hard.contiguous(), rast, packed.pos, packed.tri)
        if color is not None and antialias_color:
            color = self.backend.antialias(color.contiguous(), rast, packed.pos, packed.tri)

        flip = _top_row_first
        return RenderResult(
            mask=flip(mask),
            position=flip(position),
            depth=flip(depth),
            normal=flip(normal),
            rast=flip(rast),
            triangle_id=flip(local_tri),
            color=flip(color),
        )

    __call__ = render


def _top_row_first(image: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """Backends write row 0 at the bottom (OpenGL); images and datasets want the top row first."""
    return None if image is None else torch.flip(image, dims=[1])


def _texture_list(textures, batch: int, device) -> List[torch.Tensor]:
    if isinstance(textures, torch.Tensor):
        textures = [textures] if textures.dim() == 3 else list(textures.unbind(0)) if textures.dim() == 4 else None
        if textures is None:
            raise Get3dError("textures must be [Ht, Wt, C], [B, Ht, Wt, C] or a list of [Ht, Wt, C]")
    if not isinstance(textures, (list, tuple)):
        raise Get3dError(f"textures must be a tensor or a list of tensors, got {type(textures).__name__}")
    textures = _broadcast_items(list(textures), batch, "textures")
    for b, t in enumerate(textures):
        if not isinstance(t, torch.Tensor) or t.dim() != 3 or not t.is_floating_point():
            raise Get3dError(f"textures[{b}] must be a float tensor [Ht, Wt, C]")
        if t.shape[-1] != textures[0].shape[-1]:
            raise Get3dError(f"textures[{b}] has {t.shape[-1]} channels but textures[0] has {textures[0].shape[-1]}")
    return [t.to(device=device, dtype=torch.float32) for t in textures]


# nvdiffrast writes triangle_id + 1 into a float32 channel: exact up to 2**24, above that as
# the float whose bit pattern is 0x4A800000 + id (so ids stay exact for huge batches).
_ID_FLOAT_EXACT_MAX = 1 << 24
_ID_BIT_OFFSET = 0x4A800000


def _decode_triangle_ids(channel: torch.Tensor) -> torch.Tensor:
    """rast[..., 3] [B, H, W] -> int64 ``triangle_id + 1`` (0 on background)."""
    channel = channel.detach()
    ids = channel.long()
    if channel.dtype == torch.float32:
        big = channel.contiguous().view(torch.int32).long() - _ID_BIT_OFFSET
        ids = torch.where(channel <= float(_ID_FLOAT_EXACT_MAX), ids, big)
    return ids


def _face_normal_image(verts, faces, local_tri, covered) -> torch.Tensor:
    """Flat normals: gather each pixel's triangle normal from the batch's face-normal table.

    local_tri [B, H, W] per-item face ids (-1 background) -> [B, H, W, 3].
    """
    table = torch.cat([face_normals(v, f) for v, f in zip(verts, faces)])  # [sum F, 3]
    n_faces = torch.tensor([f.shape[0] for f in faces], device=local_tri.device)
    offset = torch.cumsum(n_faces, 0) - n_faces
    ids = (local_tri + offset[:, None, None]).clamp(min=0)
    return table[ids] * covered.to(table.dtype)


def _shade_field(texture_fn: TextureFn, position: torch.Tensor, covered: torch.Tensor) -> torch.Tensor:
    """Evaluate the texture field at foreground pixels only and scatter into an image.

    position [B, H, W, 3], covered [B, H, W] bool -> colour [B, H, W, C] (0 on background).
    """
    b_idx, y_idx, x_idx = covered.nonzero(as_tuple=True)
    points = position[b_idx, y_idx, x_idx]  # [P, 3]
    rgb = texture_fn(points, b_idx)
    if not isinstance(rgb, torch.Tensor) or rgb.dim() != 2 or rgb.shape[0] != points.shape[0]:
        shape = tuple(rgb.shape) if isinstance(rgb, torch.Tensor) else type(rgb).__name__
        raise Get3dError(f"texture_fn must return [P, C] with P={points.shape[0]}, got {shape}")
    image = position.new_zeros(*covered.shape, rgb.shape[-1], dtype=rgb.dtype)
    return image.index_put((b_idx, y_idx, x_idx), rgb)


def _shade_fragments(fragment_fn: FragmentFn, position, normal, face_index, rast, covered) -> torch.Tensor:
    """Call ``fragment_fn`` on the foreground pixels and scatter its colours into an image.

    position/normal [B, H, W, 3], face_index [B, H, W], rast [B, H, W, 4], covered [B, H, W] bool
    -> colour [B, H, W, C] (0 on background).
    """
    b_idx, y_idx, x_idx = covered.nonzero(as_tuple=True)
    uv = rast[b_idx, y_idx, x_idx, 0:2]
    fragments = Fragments(
        position=position[b_idx, y_idx, x_idx],
        normal=normal[b_idx, y_idx, x_idx],
        batch_index=b_idx,
        face_index=face_index[b_idx, y_idx, x_idx],
        barycentrics=torch.cat([uv, 1.0 - uv.sum(-1, keepdim=True)], dim=-1),
    )
    rgb = fragment_fn(fragments)
    if not isinstance(rgb, torch.Tensor) or rgb.dim() != 2 or rgb.shape[0] != b_idx.shape[0]:
        shape = tuple(rgb.shape) if isinstance(rgb, torch.Tensor) else type(rgb).__name__
        raise Get3dError(f"fragment_fn must return [P, C] with P={b_idx.shape[0]}, got {shape}")
    image = position.new_zeros(*covered.shape, rgb.shape[-1], dtype=rgb.dtype)
    return image.index_put((b_idx, y_idx, x_idx), rgb)


def _shade_uv(backend, textures: List[torch.Tensor], uv: torch.Tensor, uv_v_up: bool) -> torch.Tensor:
    """Bilinear texture lookup: textures list of [Ht, Wt, C], uv [B, H, W, 2] -> [B, H, W, C]."""
    if uv_v_up:
        uv = torch.stack((uv[..., 0], 1.0 - uv[..., 1]), dim=-1)
    uv = uv.contiguous()
    if all(t.shape == textures[0].shape for t in textures):
        return backend.texture(torch.stack(textures).contiguous(), uv, filter_mode="linear", boundary_mode="clamp")
    # Different texture sizes cannot share one call: sample item by item.
    return torch.cat(
        [
            backend.texture(t[None].contiguous(), uv[b : b + 1], filter_mode="linear", boundary_mode="clamp")
            for b, t in enumerate(textures)
        ]
    )


def _empty_result(batch, height, width, verts, texture_fn, textures) -> RenderResult:
    """Nothing to rasterize (every mesh is empty): all-background outputs, still on the graph."""
    zero = sum(v.sum() for v in verts) * 0.0  # keeps verts in the autograd graph
    img = lambda c: zero + torch.zeros(batch, height, width, c, device=verts[0].device)  # noqa: E731
    channels = None
    if textures is not None:
        channels = textures[0].shape[-1]
    elif texture_fn is not None:
        channels = 3
    return RenderResult(
        mask=img(1),
        position=img(3),
        depth=img(1),
        normal=img(3),
        rast=torch.zeros(batch, height, width, 4, device=verts[0].device),
        triangle_id=torch.full((batch, height, width), -1, dtype=torch.int64, device=verts[0].device),
        color=None if channels is None else img(channels),
    )


def render(verts, faces, cameras, resolution=256, *, backend="auto", **kwargs) -> RenderResult:
    """Functional form of :meth:`Renderer.render` (backends are cached per name)."""
    return Renderer(backend).render(verts, faces, cameras, resolution, **kwargs)


def render_meshes(meshes, cameras, resolution=256, *, backend="auto", **kwargs) -> RenderResult:
    """Functional form of :meth:`Renderer.render_meshes`."""
    return Renderer(backend).render_meshes(meshes, cameras, resolution, **kwargs)
