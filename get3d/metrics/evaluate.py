"""Metrics of a trained generator against a dataset: the library behind ``get3d metrics``.

Images (FID, KID), GET3D's protocol (``protocol="get3d"``, its metrics/metric_utils.py): one
latent pair per image, style mixing with probability 0.9 drawn per image, truncation psi = 1
(configurable), cameras drawn from the generator's training distribution (the config's
rotation/elevation ranges; GET3D's ``sample_camera``), at the dataset's resolution, composited
on black like the real renders; real statistics are cached per dataset, resolution and
extractor. GET3D's paper numbers use its test split (``--split`` with
3dgan_data_split/shapenet_<category>/test.txt). ``protocol="dataset"`` is the older get3d way:
no style mixing, each fake image taking the angles of a random real view.

Text (``clip``, get3d.metrics.clip_score): mean CLIP cosine between renders and ``prompt``,
measured without a dataset: how far a text fine-tune moved toward its text, beside FID for how
far it moved from the data.

Geometry (COV, MMD, 1-NNA with Chamfer distance): generated meshes (seeds 0..N-1, empty shapes
left out and counted) against reference meshes: a mesh folder, or by default the meshes that
``synth-data`` keeps in DATA/mesh.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from get3d.categories import CLIP_MODELS
from get3d.errors import Get3dError
from get3d.options import (ALL_METRICS, GEOMETRY_METRICS, IMAGE_METRICS, PROTOCOLS, TEXT_METRICS,  # noqa: F401
                           MetricsOptions, TrainMetricsOptions, check_protocol, parse_metric_names)
from get3d.render.camera import Cameras

DEFAULT_CLIP = ",".join(CLIP_MODELS)  # the fine-tune's default pair
_M = MetricsOptions()  # get3d metrics' defaults, stated once in get3d.options
GET3D_EVAL_MIXING = 0.9  # metric_utils.py: use_style_mixing=True with the generator's 0.9


def parse_metrics(text: str | list[str]) -> list[str]:
    """'fid,cov' (or a list) -> ['fid', 'cov']; an unknown name is an error naming --metrics."""
    return parse_metric_names(text)


def _checked_options(metrics, **settings) -> MetricsOptions:
    """evaluate's and evaluate_generator's keyword settings as one checked MetricsOptions (by name)."""
    return MetricsOptions(metrics=",".join(parse_metrics(metrics)), **settings).check()


def dataset_cameras(data_dir: str | Path, category: str | None = None,
                    split_file: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All (rotation, elevation) pairs of a dataset's views, in degrees: the fake-camera pool."""
    shapes = _dataset_shapes(data_dir, category, split_file)
    rotation = np.concatenate([s.rotation for s in shapes])
    elevation = np.concatenate([s.elevation for s in shapes])
    return rotation, elevation


def _dataset_shapes(data_dir, category=None, split_file=None) -> list:
    from get3d.datasets import RenderFolderDataset

    return RenderFolderDataset(data_dir, category=category, split_file=split_file, verify="none").shapes


def real_images(data_dir: str | Path, category: str | None = None, split_file: str | Path | None = None):
    """The real renders FID/KID compare with: the folder DATA/img[/category] (all its images), or
    with a split file the images of the listed shapes only (a sorted file list)."""
    data_dir = Path(data_dir)
    if split_file is None:
        folder = data_dir / "img" / category if category else data_dir / "img"
        if not folder.is_dir():
            raise Get3dError(f"{folder}: no such image folder (data_dir, category; --data, --category)")
        return folder
    return sorted(p for s in _dataset_shapes(data_dir, category, split_file) for p in s.images)


def reference_meshes(data_dir: Path, ref_meshes, names: list[str], category: str | None = None,
                     split_file: str | Path | None = None):
    """The geometry reference: ``ref_meshes`` or DATA/mesh (DATA/mesh/<category> when it exists),
    restricted to the split's shape ids (file stems) when a split file is given."""
    from get3d.datasets.render_folder import read_split_file
    from get3d.metrics.geometry import mesh_files

    reference = _reference_folder(data_dir, ref_meshes, names)
    if category and ref_meshes is None and (reference / category).is_dir():
        reference = reference / category
    if split_file is None:
        return reference
    ids = set(read_split_file(split_file))
    files = [f for f in mesh_files(reference) if f.stem in ids]
    if not files:
        raise Get3dError(f"{reference}: none of its meshes is named after a shape id of {split_file} "
                         f"(render-dataset --keep-meshes writes DATA/mesh/<category>/<shape id>.ply)")
    return files


def generated_images(generator, cameras, num: int, resolution: int, truncation: float = 1.0, batch: int = 8,
                     seed: int = 0, protocol: str = "dataset"):
    """Yield uint8 batches [B,3,R,R] of generated images.

    ``cameras``: (rotation, elevation) arrays in degrees, each image taking a random pair
    (``protocol="dataset"``), or ((rot_lo, rot_hi), (elev_lo, elev_hi)) ranges sampled
    uniformly like training cameras, with style mixing (prob. 0.9 per image) (``"get3d"``)."""
    check_protocol(protocol)
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    if protocol == "dataset":
        rotation, elevation = (torch.as_tensor(a, dtype=torch.float32) for a in cameras)
    for start in range(0, num, batch):
        n = min(batch, num - start)
        z = torch.randn(n, 2, generator.z_dim, generator=rng).to(device)
        if protocol == "dataset":
            pick = torch.randint(len(rotation), (n,), generator=rng)
            cams = Cameras(rotation[pick], elevation[pick]).to(device)
            mixing = 0.0
        else:
            cams = Cameras.sample_training_cameras(n, generator=rng, rot_range=tuple(cameras[0]),
                                                   elev_range=tuple(cameras[1]), device=device)
            mixing = GET3D_EVAL_MIXING
        with torch.no_grad():
            out = generator(z[:, 0], z[:, 1], cams, psi=truncation, resolution=resolution,
                            style_mixing_prob=mixing, generator=rng)
        yield (out.rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu()


def generated_meshes(generator, num: int, truncation: float = 1.0, seed: int = 0,
                     protocol: str = "dataset", progress: bool = False) -> tuple[list, int]:
    """(meshes as Mesh, number of empty shapes left out) for ``num`` random latents; with
    ``protocol="get3d"`` the geometry codes are style-mixed (prob. 0.9 per shape), as GET3D's
    save_geo_for_inference samples its shapes for COV/MMD."""
    from get3d.geometry import Mesh

    check_protocol(protocol)
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed + 1)  # independent of the image stream
    from tqdm import tqdm

    meshes, empty = [], 0
    for _ in tqdm(range(num), desc="metrics: generated shapes", unit="shape", disable=not progress):
        z = torch.randn(1, 2, generator.z_dim, generator=rng).to(device)
        with torch.no_grad():
            ws_geo, _ = generator.mapping(z[:, 0], z[:, 1], psi=truncation)
            if protocol == "get3d":
                ws_geo = generator._style_mix(generator.mapping_geo, ws_geo, z[:, 0], truncation, GET3D_EVAL_MIXING,
                                              rng)
            # Raw extraction, as GET3D samples its shapes for COV/MMD (no boundary caps).
            (verts, faces), = generator.extract_meshes(ws_geo, empty_as_none=True, closed=False)
        if faces is None or faces.shape[0] == 0:
            empty += 1
        else:
            meshes.append(Mesh(verts.float().cpu(), faces.cpu()))
    return meshes, empty


def evaluate(ckpt, data_dir: str | Path | None = None, metrics=_M.metrics, num_images: int = _M.num_images,
             num_shapes: int = _M.num_shapes, truncation: float = _M.truncation, ref_meshes: str | Path | None = None,
             num_points: int = _M.num_points, inception: str | Path | None = None, extractor=None,
             device=None, seed: int = _M.seed, batch: int = _M.batch, category: str | None = None,
             split_file: str | Path | None = None, prompt: str | None = None, clip=None,
             clip_images: int = _M.clip_images, clip_views: int = _M.clip_views, protocol: str = _M.protocol,
             progress: bool = False) -> dict:
    """Compute the asked metrics for a checkpoint; returns a JSON-ready dict.

    ``category``: the dataset's category folder (DATA/img/<category>; default: the one the
    checkpoint was trained on) and, for a GET3D ``.pt``, its grid (get3d.categories.CATEGORIES, or
    a ShapeNet synset id). ``split_file``: GET3D's split file (e.g. its test split) restricting
    real images, cameras and reference meshes to the listed shapes. ``clip``: CLIP folders / hub
    ids (comma-separated) or ImageTextEncoder objects for the ``clip`` metric, against ``prompt``.
    """
    from get3d.checkpoint import load_generator
    from get3d.official import is_official_checkpoint

    options = _checked_options(metrics, num_images=num_images, num_shapes=num_shapes, truncation=truncation,
                               num_points=num_points, seed=seed, batch=batch, clip_images=clip_images,
                               clip_views=clip_views, protocol=protocol)  # before loading anything
    names = options.metric_names()
    encoders = None
    if "clip" in names:
        if not str(prompt or "").strip():
            raise Get3dError("metrics (--metrics) clip needs prompt (--prompt), the text to score renders against")
        encoders = clip if clip is not None else DEFAULT_CLIP
        if isinstance(encoders, str) or (isinstance(encoders, (list, tuple)) and all(isinstance(e, str) for e in encoders)):
            from get3d.text.encoder import split_names

            encoders = split_names(encoders)
            if not encoders:
                raise Get3dError("clip (--clip): no CLIP model given for the clip metric")
    if any(m not in TEXT_METRICS for m in names) and data_dir is None:
        raise Get3dError(f"data_dir (--data) is needed for {', '.join(m for m in names if m not in TEXT_METRICS)} "
                         "(only the clip metric runs without a dataset)")
    grid_category = category if is_official_checkpoint(ckpt) else None
    generator, config = load_generator(ckpt, device, category=grid_category)
    if encoders is not None and isinstance(encoders[0], str):
        from get3d.text.encoder import load_clip

        encoders = [load_clip(name, device=next(generator.parameters()).device) for name in encoders]
    result = {"checkpoint": str(ckpt)}
    result.update(evaluate_generator(generator, config, data_dir, names, num_images=num_images,
                                     num_shapes=num_shapes, truncation=truncation, ref_meshes=ref_meshes,
                                     num_points=num_points, inception=inception, extractor=extractor,
                                     device=device, seed=seed, batch=batch, category=category,
                                     split_file=split_file, encoders=encoders, prompt=prompt,
                                     clip_images=clip_images, clip_views=clip_views, protocol=protocol,
                                     progress=progress))
    return result


def _reference_folder(data_dir: Path, ref_meshes, names: list[str]) -> Path:
    reference = Path(ref_meshes) if ref_meshes is not None else data_dir / "mesh"
    if not reference.is_dir():
        raise Get3dError(f"{reference}: no reference meshes; pass ref_meshes (--ref-meshes, a mesh folder) for "
                         f"{', '.join(names)} (synth-data and render-dataset --keep-meshes write DATA/mesh)")
    return reference


def evaluate_generator(generator, config, data_dir: str | Path | None, metrics=_M.metrics,
                       num_images: int = _M.num_images, num_shapes: int = _M.num_shapes,
                       truncation: float = _M.truncation, ref_meshes: str | Path | None = None,
                       num_points: int = _M.num_points, inception: str | Path | None = None, extractor=None,
                       device=None, seed: int = _M.seed, batch: int = _M.batch, category: str | None = None,
                       split_file: str | Path | None = None, encoders=None, prompt: str | None = None,
                       clip_images: int = _M.clip_images, clip_views: int = _M.clip_views,
                       protocol: str = _M.protocol, progress: bool = False) -> dict:
    """The metrics of an in-memory generator (what ``evaluate`` and training snapshots use).

    ``category`` defaults to the config's training category; ``encoders``: ImageTextEncoders for
    the clip metric (see :func:`evaluate`); ``protocol``: see the module docstring.
    """
    from get3d.metrics.fid import image_metrics
    from get3d.metrics.geometry import geometry_metrics

    options = _checked_options(metrics, num_images=num_images, num_shapes=num_shapes, truncation=truncation,
                               num_points=num_points, seed=seed, batch=batch, clip_images=clip_images,
                               clip_views=clip_views, protocol=protocol)
    names = options.metric_names()
    gen_device = next(generator.parameters()).device
    category = category or config.data.category
    result: dict = {"truncation": truncation}
    if any(m not in TEXT_METRICS for m in names):
        result["protocol"] = protocol
    image_names = [m for m in names if m in IMAGE_METRICS]
    geometry_names = [m for m in names if m in GEOMETRY_METRICS]
    if image_names or geometry_names:
        data_dir = Path(data_dir) if data_dir is not None else None
        if data_dir is None or not data_dir.is_dir():
            raise Get3dError(f"{data_dir}: no such dataset folder (data_dir, --data)")
        result["data"] = str(data_dir)
        if category:
            result["category"] = category
        if split_file is not None:
            result["split"] = str(split_file)
    reference = reference_meshes(data_dir, ref_meshes, geometry_names, category, split_file) if geometry_names \
        else None
    if image_names:
        if extractor is None:
            from get3d.metrics.features import InceptionExtractor

            extractor = InceptionExtractor.from_path(inception, device=gen_device)
        resolution = config.data.resolution
        if protocol == "get3d":
            cams = (tuple(config.data.rotation_range), tuple(config.data.elevation_range))
        else:
            cams = dataset_cameras(data_dir, category, split_file)
        fakes = generated_images(generator, cams, num_images, resolution, truncation, batch, seed, protocol)
        if progress:
            from tqdm import tqdm

            fakes = tqdm(fakes, total=-(-num_images // batch), desc="metrics: generated images", unit="batch")
        result.update(image_metrics(real_images(data_dir, category, split_file), fakes, resolution,
                                    extractor=extractor, metrics=image_names, device=device, seed=seed,
                                    kid_subset_size=min(1000, num_images)))
    if geometry_names:
        meshes, empty = generated_meshes(generator, num_shapes, truncation, seed, protocol, progress=progress)
        if not meshes:
            raise Get3dError(f"all {num_shapes} generated shapes are empty; cannot compute {', '.join(geometry_names)}")
        geo = geometry_metrics(meshes, reference, num_points=num_points, seed=seed,
                               with_1nna="1nna" in geometry_names, device=device)
        result.update({k: v for k, v in geo.items() if k in geometry_names or k.startswith("num_")})
        result["empty_generated"] = empty
        result["cd_x1000"] = {k: 1000 * geo[k] for k in ("mmd",) if k in geo}
    if "clip" in names:
        from get3d.metrics.clip_score import clip_score

        if encoders is None:
            raise Get3dError("the clip metric needs CLIP encoders (encoders, --clip)")
        ranges = (tuple(config.data.rotation_range), tuple(config.data.elevation_range))
        result.update(clip_score(generator, encoders, prompt, num_images=clip_images, views=clip_views,
                                 truncation=truncation, batch=batch, seed=seed, camera_ranges=ranges))
    result["options"] = options.to_dict()  # every setting the numbers above were computed with
    return result


def runnable_metrics(data_dir, ref_meshes=None, inception=None, extractor=None, prompt=None,
                     category: str | None = None) -> tuple[list[str], dict[str, str]]:
    """What ``get3d metrics`` computes when no ``--metrics`` is given: every metric whose inputs are
    here -> (names, {skipped name: why}). FID/KID need the Inception network on disk (or an
    extractor; nothing is downloaded for a default), COV/MMD/1-NNA reference meshes, clip a prompt."""
    from get3d.metrics.features import find_inception

    names, skipped = [], {}
    data_dir = Path(data_dir) if data_dir is not None else None
    if data_dir is None:
        for m in IMAGE_METRICS + GEOMETRY_METRICS:
            skipped[m] = "no data_dir (--data)"
    elif not data_dir.is_dir():
        raise Get3dError(f"{data_dir}: no such dataset folder (data_dir, --data)")
    else:
        if extractor is None:
            try:
                find_inception(inception, download=False)
                names += IMAGE_METRICS
            except Get3dError as err:
                for m in IMAGE_METRICS:
                    skipped[m] = f"no Inception network ({err})"
        else:
            names += IMAGE_METRICS
        reference = Path(ref_meshes) if ref_meshes is not None else data_dir / "mesh"
        if reference.is_dir():
            names += GEOMETRY_METRICS
        else:
            for m in GEOMETRY_METRICS:
                skipped[m] = f"no reference meshes at {reference} (ref_meshes, --ref-meshes)"
    if str(prompt or "").strip():
        names += TEXT_METRICS
    else:
        skipped["clip"] = "no prompt (--prompt)"
    return names, skipped


class SnapshotMetricsHook:
    """``hook(snapshot, G_ema, images_seen) -> {name: value}``: ``options.metrics`` of the EMA
    generator at a training snapshot (scalars only, for TensorBoard and metrics.jsonl). ``options``
    (a TrainMetricsOptions) is what the training loop records beside each result. Empty shapes
    early in training are normal: if every generated shape is empty the geometry metrics of that
    snapshot are left out (and said so via ``log``) instead of stopping the run."""

    def __init__(self, data_dir: str | Path, options: TrainMetricsOptions, log=None, extractor=None,
                 inception: str | Path | None = None):
        self.data_dir, self.options, self.log, self.extractor = Path(data_dir), options, log, extractor
        self.names = options.metric_names()
        self.inception = inception

    def __call__(self, snapshot, generator, images_seen: int) -> dict:
        from get3d.config import Config

        config = Config.from_dict(json.loads(Path(snapshot.json_path).read_text())["config"])
        kwargs = dict(self.options.evaluate_kwargs(), inception=self.inception, extractor=self.extractor)
        names = self.names
        was_training = generator.training
        generator.eval()
        try:
            result = evaluate_generator(generator, config, self.data_dir, names, **kwargs)
        except Get3dError as err:
            if "generated shapes are empty" not in str(err):
                raise
            if self.log is not None:
                self.log(f"metrics at {images_seen / 1000:.1f} kimg: {err}")
            image_names = [m for m in names if m in IMAGE_METRICS]
            result = evaluate_generator(generator, config, self.data_dir, image_names, **kwargs) if image_names else {}
        finally:
            generator.train(was_training)
        return {k: float(v) for k, v in result.items() if k in names}


def snapshot_metrics_hook(data_dir: str | Path, options: TrainMetricsOptions, log=None,
                          extractor=None) -> SnapshotMetricsHook:
    """A ``train(on_snapshot=...)`` hook computing ``options.metrics`` (a TrainMetricsOptions:
    ``get3d train --metrics``' settings, defaults in get3d.options) for the EMA generator at each
    snapshot; see :class:`SnapshotMetricsHook`. ``extractor``: a feature network instead of
    Inception. Everything that can be checked is checked now, before a long run starts: the
    options, the reference meshes, the Inception network (found, or downloaded once when online).
    """
    if not isinstance(options, TrainMetricsOptions):
        raise Get3dError(f"snapshot_metrics_hook takes a TrainMetricsOptions, got {type(options).__name__}")
    options.check()
    names = options.metric_names()
    data_dir = Path(data_dir)
    if any(m in GEOMETRY_METRICS for m in names):
        _reference_folder(data_dir, options.ref_meshes, [m for m in names if m in GEOMETRY_METRICS])
    inception = options.inception
    if any(m in IMAGE_METRICS for m in names) and extractor is None:
        # Now, not at the first snapshot minutes (or hours) into the run: a missing Inception
        # network is found (or downloaded once, when online) before training starts.
        from get3d.metrics.features import find_inception

        inception = find_inception(options.inception)
    return SnapshotMetricsHook(data_dir, options, log=log, extractor=extractor, inception=inception)
