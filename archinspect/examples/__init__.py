"""Example models written the way their users write them, for the README and the configs.

`flax_tcn`: the temporal convolutional network of the convolution guide in `flax.nnx`
(needs the flax extra: pip install 'archinspect[flax]').
`stateful`: an Equinox network with BatchNorm and dropout, called as `model(x, state, key=key)`
(README "forward:").
"""
