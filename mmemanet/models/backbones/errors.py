"""Invalid backbone arguments: one-line ``ValueError``s that are also the exception type mmdet 3.3's and
mmpretrain 1.2's ResNets raise for the same mistake, so code written against them (their tests included) catches
ours too."""


class PeerKeyError(ValueError, KeyError):
    """Where the peers raise ``KeyError``: an unsupported ``depth``."""

    __str__ = BaseException.__str__  # the message as given (KeyError's own str() quotes it)


class PeerAssertionError(ValueError, AssertionError):
    """Where the peers assert: num_stages, strides / dilations, style, out_indices, deep_stem with the CIFAR stem,
    stage_with_dcn, plugins, conv_cfg with dcn, a BasicBlock's expansion, pretrained with init_cfg."""


class PeerAttributeError(ValueError, AttributeError):
    """Where the peers fail looking up a stage that does not exist: ``frozen_stages`` beyond the last stage."""
