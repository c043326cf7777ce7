"""Random parameters and running statistics for the equality tests of the layers and fast paths, and the
relative-error assertion they use."""
import torch


def scramble_(module, seed=0):
    """Give ``module`` random parameters and running statistics (variances in [0.5, 2]), so that no branch or
    channel block looks like another and every gate actually gates; returns ``module``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith('running_var'):
                tensor.uniform_(0.5, 2.0, generator=gen)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.3)
    return module


def assert_rel_close(actual, expected, rtol=1e-5, name='', atol=0.0):
    """``||actual - expected|| <= rtol * ||expected|| + atol`` (relative error of the whole tensor)."""
    assert actual.shape == expected.shape, name
    actual, expected = actual.detach().double(), expected.detach().double()
    err, scale = (actual - expected).norm(), expected.norm()
    assert err <= rtol * scale + atol, f'{name}: relative error {float(err / scale):.3g} > {rtol}'
