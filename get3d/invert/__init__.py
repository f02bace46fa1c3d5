"""GAN inversion for GET3D: a user's image(s) or mesh -> the generator's latent codes (W+), and
optionally a generator tuned around them (pivotal tuning). See docs/invert.md.

Modules, one job each (imports run downhill: command -> optimize -> search, tune -> losses,
metrics, render, target, latents):

* ``target``   what to match: images + masks (+ cameras), or a mesh rendered from views + its surface points
* ``render``   one code pair seen from many cameras (mesh extracted once), colour on black
* ``losses``   silhouette, colour, Chamfer and the W prior, each a plain function
* ``metrics``  silhouette IoU per view, masked PSNR, Chamfer (GET3D's protocol)
* ``search``   stage 1: the best of K random codes (and, when unknown, of a grid of cameras)
* ``options``  InvertOptions: every setting, torch-free (the CLI's defaults), checked once
* ``optimize`` stage 2: W+ optimisation (+ joint camera refinement); ``invert()`` runs the stages
* ``tune``     stage 3: pivotal tuning of a copy of G around the found codes
* ``latents``  latents.safetensors IO, and code specs (a file or a seed) for the downstream commands
* ``command``  ``get3d invert``: files in, files out (GLB/OBJ, pictures, TensorBoard, --resume)

Names load lazily (PEP 562), so ``get3d.invert.latents`` is cheap for other commands.
"""
from get3d._lazy import lazy_exports

_EXPORTS = {
    "get3d.invert.target": ("InvertTarget", "image_target", "load_images", "mesh_target"),
    "get3d.invert.latents": ("Latents", "load_latents", "save_latents", "codes_from_spec"),
    "get3d.invert.metrics": ("mask_iou", "masked_psnr", "mesh_chamfer"),
    "get3d.invert.options": ("InvertOptions",),
    "get3d.invert.optimize": ("InvertResult", "invert"),
    "get3d.invert.tune": ("tune_generator",),
    "get3d.invert.command": ("invert_command",),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
