"""The WGAN-GP toy study (Gulrajani et al., NeurIPS 2017): a gradient-penalty critic against weight clipping.

`game`: data, networks, alternating training and the problems `wgan_game` and `wgan_toy`; `evaluation`:
each trained game measured on held-out data; `report`: the study's section of `optlab report`. Registered
by the hook module `optlab_plugins.wgan`; configured by `configs/wgan_gp_8gaussians.yaml`.
"""
