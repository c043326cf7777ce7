"""Which oneDNN implementation runs each of MA's convolutions in one training step, and how long forward,
backward-data and weight gradient take (``ONEDNN_VERBOSE=profile``; see :mod:`mmemanet.analysis.conv_profile`).

Example (EMANet-50, CIFAR stem, batch 32):
    python tools/analysis/conv_profile.py cifar_emanet50 --batch-size 32
"""
import argparse

from mmemanet.analysis.conv_profile import format_profile, profile_training_step


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('target', nargs='?', default='cifar_emanet50', help='preset name or config file')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--input-size', type=int, nargs=2, default=(32, 32), metavar=('H', 'W'))
    parser.add_argument('--threads', type=int, help='torch.set_num_threads (default: torch default)')
    parser.add_argument('--all-convs', action='store_true', help='every convolution, not only MA-like ones')
    args = parser.parse_args()
    try:
        rows = profile_training_step(args.target, args.batch_size, tuple(args.input_size), args.threads,
                                     ma_only=not args.all_convs)
    except ValueError as e:
        raise SystemExit(f'error: {e}')
    print(format_profile(rows))


if __name__ == '__main__':
    main()
