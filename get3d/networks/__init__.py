"""GET3D networks: the generator (mapping, triplane backbone, DMTet geometry, texture field)
and the camera-conditioned StyleGAN2 discriminators. See docs/model.md."""
from get3d.networks.discriminator import Discriminator, build_discriminators, camera_condition
from get3d.networks.generator import Generator, GeneratorOutput

__all__ = ["Discriminator", "Generator", "GeneratorOutput", "build_discriminators", "camera_condition"]
