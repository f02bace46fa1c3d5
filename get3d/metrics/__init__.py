"""Evaluation metrics: FID/KID on renders, Chamfer-based COV/MMD/1-NNA on shapes (docs/metrics.md).

Image side (GET3D/StyleGAN3 protocol): ``image_folder_metrics(real_dir, fake_dir, resolution)``,
or ``image_metrics(real_dir, fake_batches, resolution)`` with any iterable of image batches (a
generator's renders). Geometry side: ``geometry_metrics(gen, ref)`` with meshes, mesh folders
or point clouds.
"""
from get3d.metrics.chamfer import (
    chamfer_distance,
    normalize_mesh,
    normalize_shape,
    pairwise_chamfer,
    sample_mesh_points,
)
from get3d.metrics.coverage import coverage, mmd, one_nna
from get3d.metrics.features import (
    INCEPTION_ENV,
    INCEPTION_URL,
    CallableExtractor,
    FeatureExtractor,
    InceptionExtractor,
    TorchScriptExtractor,
    find_inception,
    to_uint8_images,
)
from get3d.metrics.fid import (
    compute_stats,
    fid_from_features,
    frechet_distance,
    image_folder_metrics,
    image_metrics,
    kernel_inception_distance,
    kid_from_features,
    mean_cov,
    real_folder_stats,
)
from get3d.metrics.geometry import ShapeSet, geometry_metrics, load_shape_points, mesh_files
from get3d.metrics.image_folder import iter_image_batches, list_images, load_image
from get3d.metrics.stats_cache import cached_real_stats, folder_fingerprint, metrics_cache_dir

__all__ = [
    "INCEPTION_ENV",
    "INCEPTION_URL",
    "CallableExtractor",
    "FeatureExtractor",
    "InceptionExtractor",
    "ShapeSet",
    "TorchScriptExtractor",
    "cached_real_stats",
    "chamfer_distance",
    "compute_stats",
    "coverage",
    "fid_from_features",
    "find_inception",
    "folder_fingerprint",
    "frechet_distance",
    "geometry_metrics",
    "image_folder_metrics",
    "image_metrics",
    "iter_image_batches",
    "kernel_inception_distance",
    "kid_from_features",
    "list_images",
    "load_image",
    "load_shape_points",
    "mean_cov",
    "mesh_files",
    "metrics_cache_dir",
    "mmd",
    "normalize_mesh",
    "normalize_shape",
    "one_nna",
    "pairwise_chamfer",
    "real_folder_stats",
    "sample_mesh_points",
    "to_uint8_images",
]
