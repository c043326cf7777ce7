"""Each of MA's convolutions timed alone, oneDNN against the package's compiled CPU kernels (forward, weight
gradient, stride-1 input gradient), and what the shape rules of mmemanet/ops/conv_cpu.py pick (see
:mod:`mmemanet.analysis.conv_kernels`).

Example (EMANet-50's MA shapes, CIFAR stem, batch 32, 2 threads):
    python tools/analysis/conv_kernels.py --batch-size 32 --threads 2
"""
import argparse

import torch

from mmemanet.analysis.conv_kernels import format_kernel_table, ma_conv_shapes, time_kernels


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=7, help='timed calls per measurement (median)')
    parser.add_argument('--threads', type=int, help='torch.set_num_threads (default: torch default)')
    parser.add_argument('--sizes', type=int, nargs=4, default=(32, 16, 8, 4), metavar='S',
                        help="output map size of the four stages (default: EMANet-50's with the CIFAR stem)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        rows = time_kernels(ma_conv_shapes(sizes=args.sizes), args.batch_size, args.repeats)
    except RuntimeError as e:
        raise SystemExit(f'error: {e}')
    print(format_kernel_table(rows))


if __name__ == '__main__':
    main()
