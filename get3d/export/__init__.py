"""Export: UV atlases, texture baking, mesh files and previews."""
from get3d.export.previews import image_grid, labelled_grid, render_previews, save_gif, save_image, turntable
from get3d.export.uv_bake import bake_texture, dilate, sample_texture, uv_unwrap

__all__ = ["bake_texture", "dilate", "image_grid", "labelled_grid", "render_previews", "sample_texture", "save_gif", "save_image",
           "turntable", "uv_unwrap"]
