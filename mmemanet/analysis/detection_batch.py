"""A fixed batch of synthetic detection inputs in mmdet's format, for timing detectors."""
from typing import Tuple

import torch


def synthetic_detection_batch(batch_size: int, chw: Tuple[int, int, int], num_classes: int, boxes_per_image: int = 4,
                              seed: int = 0) -> dict:
    """``dict(inputs=[uint8 [C, H, W]] * B, data_samples=[DetDataSample] * B)``, what a detector's data
    preprocessor takes: random images and ``boxes_per_image`` random ground-truth boxes (10-40 % of the image
    side, inside it) with random labels in ``[0, num_classes)``; metainfo of an unscaled, unflipped image."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(seed)
    c, h, w = chw
    inputs, samples = [], []
    for i in range(batch_size):
        inputs.append(torch.randint(0, 256, (c, h, w), dtype=torch.uint8, generator=gen))
        size = torch.rand(boxes_per_image, 2, generator=gen) * 0.3 + 0.1
        corner = torch.rand(boxes_per_image, 2, generator=gen) * (1 - size)
        scale = torch.tensor([w, h], dtype=torch.float32)
        boxes = torch.cat([corner * scale, (corner + size) * scale], dim=1)
        sample = DetDataSample(metainfo=dict(img_id=i, img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0),
                                             flip=False, flip_direction=None))
        sample.gt_instances = InstanceData(
            bboxes=boxes, labels=torch.randint(0, num_classes, (boxes_per_image, ), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)
