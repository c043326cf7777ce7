"""Write small synthetic datasets in the real CIFAR-10 / VOC0712 / COCO on-disk formats.

    python tools/make_small_datasets.py [OUT_DIR] [--kinds cifar voc coco] [--seed 0]
        [--cifar TRAIN TEST] [--voc TRAINVAL TEST] [--coco TRAIN VAL] [--det-size MIN MAX]

Writes ``OUT_DIR/cifar10/cifar-10-batches-py``, ``OUT_DIR/VOCdevkit/VOC{2007,2012}`` and
``OUT_DIR/coco/{train2017,val2017,annotations}`` (default OUT_DIR: data/small) and prints what it
wrote. See :mod:`mmemanet.testing.synthetic_datasets` for what the images show.
"""
import argparse
import json

from mmemanet.testing.synthetic_datasets import DEFAULT_SIZES, KINDS, write_small_datasets


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', nargs='?', default='data/small', help='output folder')
    parser.add_argument('--kinds', nargs='+', choices=KINDS, default=list(KINDS))
    parser.add_argument('--seed', type=int, default=0)
    for kind, (a, b) in DEFAULT_SIZES.items():
        parser.add_argument(f'--{kind}', nargs=2, type=int, metavar='N', default=(a, b),
                            help=f'image counts (default {a} {b})')
    parser.add_argument('--det-size', nargs=2, type=int, metavar='PX', default=(160, 224),
                        help='smallest and largest side of the detection images (default 160 224)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sizes = {kind: tuple(getattr(args, kind)) for kind in KINDS}
    for summary in write_small_datasets(args.out_dir, args.kinds, args.seed, sizes,
                                        args.det_size):
        print(json.dumps({k: v for k, v in summary.items() if k != 'files'}))


if __name__ == '__main__':
    main()
