"""Small real-format datasets for the demo and the tests (OpenMMLab keeps such code in a ``testing`` package,
like ``mmdet.testing``): :mod:`.synthetic_datasets` writes learnable synthetic CIFAR-10 / VOC / COCO sets in
the official on-disk formats. Nothing here is registered or referenced by a config."""
