"""Procedural, textured shape categories: the data that ships with get3d.

Every category is a function ``(rng: numpy.random.Generator) -> Mesh`` registered in
:data:`CATEGORIES`. A shape is assembled from parts; each part is a closed, outward-wound
(counter-clockwise seen from outside) surface, and parts may interpenetrate (no boolean union).
Vertices are split where UVs are discontinuous (UV seams, texture-tile borders, sharp creases), so
closedness holds for positions welded by exact equality: split copies are exact copies.

All shapes are Y-up, upright (chair legs and vase foot down), centred on their bounding box
and scaled so the largest bounding-box side is :data:`TARGET_SIZE`. Each has ONE texture atlas
(``texture_size`` square, row 0 at the top) with per-vertex UVs in the OBJ convention
((0, 0) = bottom-left).

Categories (see ``docs/datasets.md`` for the parameter ranges):

* ``chair``: box seat, solid-panel / slatted / framed backrest, 4 straight or splayed legs
  (boxes or tapered cylinders), optional armrests and crossbars; a 2x2 texture atlas with one
  tile per part type (seat, back, legs, arms + crossbars).
* ``vase``: a surface of revolution of a random smooth profile (foot, 1-3 bulges, neck, lip),
  with a wall thickness and an inner floor when open, or a domed lid when capped.
* ``mushroom``: a curved, tapered stem and a flat / conical / domed cap with gills underneath,
  sometimes a cluster of 2-3; spotted, banded or gradient caps.

Geometry is built in numpy float64 and converted to torch float32 at the end. Modules: primitives
(parts and assembly), textures (procedural materials and atlases), categories (the shapes and
the registry).
"""
from get3d.datasets.synthetic.categories import CATEGORIES, category_names, generate_shape, generate_shapes
from get3d.datasets.synthetic.primitives import TARGET_SIZE
from get3d.datasets.synthetic.textures import TEXTURE_SIZE

__all__ = ["CATEGORIES", "TARGET_SIZE", "TEXTURE_SIZE", "generate_shape", "generate_shapes", "category_names"]
