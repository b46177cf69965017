"""The spec used when no file is given and ./archinspect.yaml does not exist."""

DEFAULT_SOURCE = "<embedded default spec>"

DEFAULT_SPEC = """\
name: default-unet-2d
model:
  family: ClassicUNet
  num_spatial_dims: 2
  in_channels: 1
  out_channels: 1
input:
  resolution: 64
"""
