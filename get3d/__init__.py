"""get3d: generate textured 3D meshes with GET3D, and steer them with text."""

__version__ = "0.1.0"

from get3d.errors import Get3dError  # noqa: E402  (re-exported: the one error type users catch)

__all__ = ["Get3dError", "__version__"]
