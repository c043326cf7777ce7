"""Mixture Attention (MA), the module EMANet puts in place of a ResNet block's 3x3 convolution.

- :class:`MixtureAttention`: ``x: [B, C_in, H, W] -> [B, P, H / stride, W / stride]``, four ConvMixer
  branches weighted by one shared SE with a softmax across the branches; a fused path over all P channels
  and the per-branch reference path on the same parameters;
- :data:`REFERENCE_BRANCH_PATHS`, :class:`ReferencePiece`, :func:`reference_pieces`: where each tensor of the
  reference implementation's per-branch layout lives in the fused state dict (the checkpoint converter,
  :mod:`mmemanet.checkpoints.reference_conversion`, and the tests read them);
- :func:`branch_conv`, :func:`pointwise_conv`, :func:`to_format`: the CPU fast paths of the fused forward.
"""
from typing import Dict, List, NamedTuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import nn

from ...ops import conv_cpu
from ...utils.torch_compat import get_autocast_dtype, is_autocast_enabled
from .branches import BranchSE, branch_convs, branch_weights, check_branches
from .precision import cast_to
from .softban import SoftBAN, running_stats_momentum, soft_ban
from .tracing import tracing


def _batch_norm_channels(x, bn, channels, momentum):
    """BatchNorm ``bn`` restricted to ``channels``; running-stat updates land in ``bn``'s buffers (views)."""
    return F.batch_norm(x, bn.running_mean[channels], bn.running_var[channels], bn.weight[channels],
                        bn.bias[channels], bn.training, momentum, bn.eps)


def memory_format_of(x):
    """``torch.channels_last`` for a channels_last (and not also NCHW-contiguous) 4-d tensor, else NCHW."""
    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if channels_last else torch.contiguous_format


class _ToFormat(torch.autograd.Function):
    """``x.contiguous(memory_format=fmt)`` whose gradient goes back in ``x``'s own format (plain autograd
    would pass it on in ``fmt``, and on CPU elementwise ops on mixed formats are slow)."""

    @staticmethod
    def forward(ctx, x, fmt):
        ctx.fmt = memory_format_of(x)
        return x.contiguous(memory_format=fmt)

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous(memory_format=ctx.fmt), None


def to_format(x, fmt):
    """``x`` in memory format ``fmt`` (``x`` itself if it already is); its gradient keeps ``x``'s format.
    Without a gradient to shape, or while tracing (export), a plain ``contiguous``."""
    if x.is_contiguous(memory_format=fmt):
        return x
    if not torch.is_grad_enabled() or tracing():
        return x.contiguous(memory_format=fmt)
    return _ToFormat.apply(x, fmt)


def branch_conv(x, weight, stride, padding, groups):
    """``F.conv2d(x, weight, None, stride, padding, 1, groups)``. On CPU without autograd (inference, and inside
    :class:`_SharedInputConvs`), where the compiled kernel is built and its shape rule picks it
    (:func:`mmemanet.ops.conv_cpu.use_forward`: few inputs and outputs per group), that kernel;
    otherwise a grouped convolution with ONE output channel per group and several inputs per group (MA's k = 9,
    g = 16 branch at P = 64) runs as the depthwise convolution with the same taps followed by a sum over each
    group's input channels: the same function (to float32 round-off), which oneDNN runs faster (its grouped
    kernel is slow for such narrow groups; the README's benchmarks give the figures). Elsewhere a plain
    ``conv2d``."""
    out_channels, per_group = weight.shape[:2]
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    if not needs_grad and conv_cpu.use_forward(x, weight, groups):  # the kernel has no autograd of its own
        return conv_cpu.conv_forward(x, weight, stride, padding, groups).contiguous(memory_format=memory_format_of(x))
    if x.device.type != 'cpu' or out_channels != groups or per_group == 1:
        return F.conv2d(x, weight, None, stride, padding, 1, groups)
    taps = weight.reshape(out_channels * per_group, 1, *weight.shape[2:])
    y = F.conv2d(x, taps, None, stride, padding, 1, out_channels * per_group)
    return y.unflatten(1, (out_channels, per_group)).sum(2).contiguous(memory_format=memory_format_of(y))


#: :func:`pointwise_conv`'s shape rule: the grouped 1x1 runs as one block-diagonal matmul when a group has at
#: most this many input channels. Measured (2-core AMD EPYC, AVX-512, contended, batch 32, NCHW, forward + backward,
#: medians of 11, ms; grouped conv / block-diagonal batched matmul): EMANet-50's MA at P = 64, 32x32 (16 per
#: group) 25.1 / 9.1; P = 128, 16x16 (32 per group) 5.2 / 7.5; P = 256, 8x8 3.8 / 8.6; P = 512, 4x4 3.5 / 25.
#: A second run through :class:`_BlockDiagonalPointwise`: P = 64 12.8 / 10.8, P = 128 4.7 / 4.5 (a tie). With 16
#: per group oneDNN's grouped kernel fills few vector lanes; from 32 per group the n-times larger dense product
#: does not pay. channels_last inputs keep the grouped conv (oneDNN's grouped 1x1 is fast in NHWC).
POINTWISE_DENSE_MAX_PER_GROUP = 16


def _block_diagonal(weight, groups):
    """``[P, P / groups, 1, 1]`` grouped 1x1 weight -> the ``[P, P]`` block-diagonal dense matrix."""
    return torch.block_diag(*weight.flatten(1).split(weight.shape[0] // groups))


class _BlockDiagonalPointwise(torch.autograd.Function):
    """``F.conv2d(x, weight, bias, groups=groups)`` for a 1x1 ``weight: [P, P / groups, 1, 1]`` and an NCHW
    ``x: [B, P, H, W]`` as ONE batched matmul with the block-diagonal ``[P, P]`` matrix. Keeps only ``x`` and
    ``weight`` for backward (the matrix is rebuilt there); the weight gradient is the diagonal blocks of the
    dense one."""

    @staticmethod
    def forward(ctx, x, weight, bias, groups):
        ctx.groups = groups
        ctx.save_for_backward(x, weight)
        b, p, h, w = x.shape
        return torch.baddbmm(bias[:, None], _block_diagonal(weight, groups).expand(b, p, p),
                             x.flatten(2)).view(b, p, h, w)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        b, p, h, w = x.shape
        n, c = ctx.groups, p // ctx.groups
        grad = grad.reshape(b, p, h * w)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.matmul(_block_diagonal(weight, n).t(), grad).view(b, p, h, w)
        if ctx.needs_input_grad[1]:  # [P, P] summed over the batch, then its n diagonal [c, c] blocks
            dense = torch.bmm(grad, x.flatten(2).transpose(1, 2)).sum(0)
            grad_w = dense.view(n, c, n, c).diagonal(dim1=0, dim2=2).permute(2, 0, 1).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2))
        return grad_x, grad_w, grad_b, None


def pointwise_conv(x, conv):
    """``conv(x)`` for MA's grouped 1x1 ``conv`` (Conv2d(P, P, 1, groups=n, bias)), ``x: [B, P, H, W]``.
    On CPU in float32 (no autocast, not tracing), for an NCHW ``x`` and at most
    :data:`POINTWISE_DENSE_MAX_PER_GROUP` channels per group, it runs as ONE batched matmul with the
    block-diagonal ``[P, P]`` matrix built from ``conv.weight`` (:class:`_BlockDiagonalPointwise`: same
    function to float32 round-off, same parameters). Elsewhere ``conv(x)`` itself."""
    per_group = conv.in_channels // conv.groups
    if (x.device.type != 'cpu' or x.dtype != torch.float32 or is_autocast_enabled('cpu') or tracing()
            or conv.groups == 1 or per_group > POINTWISE_DENSE_MAX_PER_GROUP or not x.is_contiguous()):
        return conv(x)
    return _BlockDiagonalPointwise.apply(x, conv.weight, conv.bias, conv.groups)


class _SharedInputConvs(torch.autograd.Function):
    """``cat([conv2d(x, w_j, stride_j, padding_j, groups_j) for j], dim=1)``, no biases, evaluated on ONE copy of
    ``x`` in memory format ``fmt``. Backward makes that copy again instead of autograd keeping it next to
    ``x`` (which the block keeps anyway): one input-sized tensor less per MA in training. The forward runs each
    convolution through :func:`branch_conv`, the backward through ``convolution_backward`` of the grouped
    convolution itself, the weight and input gradients through the compiled kernels where their shape rules pick
    them (:func:`mmemanet.ops.conv_cpu.use_weight_grad`, ``use_input_grad``). Under autocast the convolutions run
    in the autocast dtype, as ``F.conv2d`` does; ``x``'s gradient has ``x``'s format.
    """

    @staticmethod
    def forward(ctx, x, fmt, specs, *weights):
        device = x.device.type
        dtype = get_autocast_dtype(device) if is_autocast_enabled(device) else x.dtype
        ctx.fmt, ctx.specs, ctx.dtype = fmt, specs, dtype
        ctx.save_for_backward(x, *weights)
        xc = x.to(dtype).contiguous(memory_format=fmt)
        with torch.autocast(device, enabled=False):
            return torch.cat([branch_conv(xc, w.to(dtype), stride, padding, groups)
                              for w, (stride, padding, groups) in zip(weights, specs)], dim=1)

    @staticmethod
    def backward(ctx, grad):
        x, *weights = ctx.saved_tensors
        xc = x.to(ctx.dtype).contiguous(memory_format=ctx.fmt)
        grad = grad.to(ctx.dtype)
        grad_x, grad_weights, start = None, [], 0
        for j, (w, (stride, padding, groups)) in enumerate(zip(weights, ctx.specs)):
            grad_j = grad[:, start:start + w.shape[0]]
            kernel_wgrad = ctx.needs_input_grad[3 + j] and conv_cpu.use_weight_grad(xc, w.shape, groups)
            kernel_xgrad = ctx.needs_input_grad[0] and conv_cpu.use_input_grad(grad_j, w.shape, stride, padding,
                                                                               groups)
            mask = (ctx.needs_input_grad[0] and not kernel_xgrad, ctx.needs_input_grad[3 + j] and not kernel_wgrad,
                    False)
            gx = gw = None
            if any(mask):
                gx, gw, _ = torch.ops.aten.convolution_backward(
                    grad_j, xc, w.to(ctx.dtype), None, stride, padding, (1, 1), False, (0, 0), groups, mask)
            if kernel_wgrad:
                gw = conv_cpu.conv_weight_grad(xc, grad_j, w.shape, stride, padding, groups)
            if kernel_xgrad:
                gx = conv_cpu.conv_input_grad(grad_j, w, groups)
            start += w.shape[0]
            if gx is not None:  # summed in place: one input-sized gradient, not one per branch
                grad_x = gx if grad_x is None else grad_x.add_(gx)
                del gx
            grad_weights.append(None if gw is None else gw.to(w.dtype))
        del xc  # before the format change, which may copy grad_x
        if grad_x is not None:
            grad_x = grad_x.to(x.dtype).contiguous(memory_format=memory_format_of(x))
        return (grad_x, None, None, *grad_weights)


#: The reference implementation keeps one ``nn.Sequential`` per branch (``conv_{i}``, i = 1..n): ``.0`` the
#: branch conv (here ``branch_convs.{i-1}``), then these, which :class:`MixtureAttention` stores fused over
#: the P channels in OUTPUT order (branch i in channel block n - i): fused tensor -> path inside ``conv_{i}``.
REFERENCE_BRANCH_PATHS = {
    'bn1': '2',              # Conv -> GELU -> BN
    'dw_conv': '3.0.fn.0',   # spatial mixing: Residual(Conv9x9dw -> GELU -> BN)
    'bn2': '3.0.fn.2',
    'softban': '3.1.fn.0',   # channel mixing: Residual(SoftBAN -> Conv1x1 -> GELU -> BN)
    'pw_conv': '3.1.fn.1',
    'bn3': '3.1.fn.3',
}


class ReferencePiece(NamedTuple):
    """Reference tensor ``reference_key`` fills block ``block`` of ``num_blocks`` along ``dim`` of this
    module's tensor ``key`` (``num_blocks == 1``: the whole tensor; a 0-d counter is shared by the blocks)."""
    reference_key: str
    key: str
    dim: int = 0
    block: int = 0
    num_blocks: int = 1

    def view(self, tensor: torch.Tensor) -> torch.Tensor:
        """The part of ``tensor`` (this module's ``key``) that the reference tensor fills."""
        if self.num_blocks == 1 or tensor.dim() == 0:
            return tensor
        size = tensor.shape[self.dim] // self.num_blocks
        return tensor.narrow(self.dim, self.block * size, size)


def reference_pieces(state: Dict[str, torch.Tensor], num_branches: int) -> List[ReferencePiece]:
    """Where each tensor of the reference per-branch layout lives in a :class:`MixtureAttention` state dict
    (keys without prefix): every key of ``state`` is covered, the reference keys are relative to the MA."""
    pieces = []
    for key, tensor in state.items():
        part, attr = key.split('.', 1)
        if part == 'branch_convs':
            index, attr = attr.split('.', 1)
            pieces.append(ReferencePiece(f'conv_{int(index) + 1}.0.{attr}', key))
        elif part == 'se':
            pieces.append(ReferencePiece(key, key))
        elif part in REFERENCE_BRANCH_PATHS:
            dim = 1 if part == 'softban' and tensor.dim() == 4 else 0  # SoftBAN's affine: [1, C, 1, 1]
            pieces += [ReferencePiece(f'conv_{i}.{REFERENCE_BRANCH_PATHS[part]}.{attr}', key, dim,
                                      num_branches - i, num_branches) for i in range(1, num_branches + 1)]
        else:
            raise KeyError(f'{key} is not a MixtureAttention tensor; known parts: branch_convs, se, '
                           f'{", ".join(REFERENCE_BRANCH_PATHS)}')
    return pieces


@MODELS.register_module()
class MixtureAttention(BaseModule):
    """The MA (Mixture Attention) module of EMANet (Yang et al., "Multiscale Hybrid Convolutional Deep
    Neural Networks with Channel Attention", Entropy 2022, 24(9):1180): EPSANet's PSA with each branch
    conv replaced by a ConvMixer unit.

    ``x: [B, in_channels, H, W] -> [B, P, H / stride, W / stride]``, ``P = out_channels``, ``n`` branches
    of ``c = P / n`` channels. Branch i (kernel k_i, groups g_i)::

        a = BN(GELU(Conv2d(in_channels -> c, k_i, stride, groups g_i, no bias)(x)))
        a = a + BN(GELU(DepthwiseConv2d(c, mixer_kernel, bias)(a)))        # spatial mixing
        a = a + BN(GELU(Conv2d(c -> c, 1x1, bias)(SoftBAN(a))))            # channel mixing
        w_i = SE(a)                        # one SE weight module shared by the branches
        y_i = a * softmax_over_i(w_i)

    Output: ``cat([y_n, ..., y_1])`` (REVERSED branch order, as the reference implementation).
    As an mmdet ResNet plugin (``position='after_conv2'``) it keeps ``in_channels`` and the spatial size.

    Parameter layout (one state dict for both ``impl``\\ s). ``branch_convs[i]`` is branch i's first conv
    (k = 3 first). Everything after it is stored fused over the P channels in OUTPUT order: channel block
    ``j`` (channels ``j*c : (j+1)*c``) belongs to branch ``n - 1 - j``, so block 0 is the last branch (k = 9):
    ``bn1`` BatchNorm2d(P), ``dw_conv`` Conv2d(P, P, mixer_kernel, groups=P, bias), ``bn2`` BatchNorm2d(P),
    ``softban`` SoftBAN(P, softmax_groups=n), ``pw_conv`` Conv2d(P, P, 1, groups=n, bias; group j is
    branch n-1-j's dense 1x1 conv), ``bn3`` BatchNorm2d(P); ``se`` (:class:`BranchSE` on c channels)
    is shared. Each fused norm has one ``num_batches_tracked``. The reference implementation's per-branch
    keys map onto these through :data:`REFERENCE_BRANCH_PATHS` / :func:`reference_pieces` (used by the
    checkpoint converter and the tests).

    Parameters at P = 64 with the defaults: 34,097 (branches 10,960 / 8,144 / 8,016 / 6,928 plus the
    SE's 49), 256 of them SoftBAN's, which thop-style counters do not see.

    Args:
        in_channels (int): input channels; a multiple of lcm(groups).
        out_channels (int | None): P, a multiple of n * lcm(groups) (64 for the defaults); default in_channels.
        stride (int): stride of the branch convs (the EMANet block puts its stride here).
        kernels, groups (tuple[int]): per-branch odd kernel size and group count, same length.
        mixer_kernel (int): odd kernel of the depthwise spatial mixing.
        se_ratio (int): reduction of the shared SE (``c -> c // se_ratio -> c``).
        impl (str): ``'fused'`` (default): batched ops over all P channels, the four branch convs on one
            shared input copy; on CPU its convolutions run in channels_last and its norms in NCHW (the fast
            layout for each; in eval mode, where the norms are affine maps, in channels_last too), a branch
            with one output channel per group as a depthwise conv + group sum
            (:func:`branch_conv`), the grouped 1x1 ``pw_conv`` with few channels per group as one dense
            block-diagonal matmul (:func:`pointwise_conv`), and where the package's compiled CPU kernels are
            built, narrow branch convs and the depthwise and narrow weight gradients through them
            (:mod:`mmemanet.ops.conv_cpu`); the output has the input's memory format;
            autocast and torch.compile work.
            ``'reference'``: the plain per-branch formulation on slices of the same parameters, kept to test
            the fused path against. Same function, same state dict.
    """
    _abbr_ = 'ma'
    slot = 'mixer'  # where a residual block takes it (see backbones/blocks.py)
    IMPLS = ('fused', 'reference')

    def __init__(self, in_channels, out_channels=None, stride=1, kernels=(3, 5, 7, 9), groups=(1, 4, 8, 16),
                 mixer_kernel=9, se_ratio=16, impl='fused', init_cfg=None):
        super().__init__(init_cfg)
        out_channels = in_channels if out_channels is None else out_channels
        check_branches('MixtureAttention', in_channels, out_channels, kernels, groups, se_ratio)
        if mixer_kernel < 1 or mixer_kernel % 2 == 0:
            raise ValueError(f'MixtureAttention: mixer_kernel={mixer_kernel} must be a positive odd number '
                             f'(published: 9)')
        if impl not in self.IMPLS:
            raise ValueError(f'MixtureAttention: impl={impl!r} is not one of {self.IMPLS}')
        self.impl = impl
        self.num_branches = n = len(kernels)
        p = out_channels
        self.branch_convs = branch_convs(in_channels, p, stride, kernels, groups)
        self.bn1 = nn.BatchNorm2d(p)
        self.dw_conv = nn.Conv2d(p, p, mixer_kernel, padding=mixer_kernel // 2, groups=p)
        self.bn2 = nn.BatchNorm2d(p)
        self.softban = SoftBAN(p, softmax_groups=n)
        self.pw_conv = nn.Conv2d(p, p, 1, groups=n)
        self.bn3 = nn.BatchNorm2d(p)
        self.se = BranchSE(p // n, se_ratio)

    def forward(self, x):
        if self.impl == 'fused':
            return self._forward_fused(x)
        return self._forward_reference(x)

    def _forward_fused(self, x):
        out_format = memory_format_of(x)
        # On CPU, oneDNN's grouped / depthwise convolutions are much faster in channels_last (NHWC) than
        # in NCHW (backward most of all), while batch norm in training mode is faster AND sums more accurately in
        # NCHW: the convolutions run in channels_last, everything else in NCHW (in channels_last too when the norms
        # are in eval mode: see _norms_reduce). Elsewhere the input's format is kept.
        # Format changes come before the GELUs and send gradients back in the original format: gelu_backward,
        # add, threshold_backward on mixed formats are slow.
        on_cpu = x.device.type == 'cpu'
        conv_format = torch.channels_last if on_cpu else out_format
        norm_format = torch.contiguous_format if on_cpu and self._norms_reduce() else conv_format
        convs = self.branch_convs[::-1]  # output channel order
        if torch.is_grad_enabled() and not tracing():
            y = _SharedInputConvs.apply(x, conv_format, tuple((c.stride, c.padding, c.groups) for c in convs),
                                        *(c.weight for c in convs))
        elif tracing():  # plain convolution modules, as FLOP counters and exporters know them
            x = x.contiguous(memory_format=conv_format)
            y = torch.cat([conv(x) for conv in convs], dim=1)
        else:  # nothing kept for backward
            x = x.contiguous(memory_format=conv_format)
            y = torch.cat([branch_conv(x, c.weight, c.stride, c.padding, c.groups) for c in convs], dim=1)
        y = self.bn1(F.gelu(to_format(y, norm_format)))
        y_conv = to_format(y, conv_format)
        mixed = self.dw_conv(y_conv) if tracing() else conv_cpu.depthwise_conv(y_conv, self.dw_conv)
        y = y + self.bn2(F.gelu(to_format(mixed, norm_format)))
        y = y + self.bn3(F.gelu(pointwise_conv(self.softban(y), self.pw_conv)))
        y = y * branch_weights(y, self.se, self.num_branches)
        return to_format(y, out_format)

    def _norms_reduce(self) -> bool:
        """Whether a norm computes batch statistics (training mode): a reduction, faster and more accurate over
        NCHW data. In eval mode every norm is a per-channel affine map, as fast in channels_last, where MA's
        convolutions run: then MA stays in channels_last and makes no format copies."""
        return any(norm.training for norm in (self.bn1, self.bn2, self.softban, self.bn3))

    def _forward_reference(self, x):
        n = self.num_branches
        c = self.bn1.num_features // n
        bn1, bn2, sb, bn3 = self.bn1, self.bn2, self.softban, self.bn3
        # each fused norm counts this batch once, as one nn.BatchNorm per branch would
        m1, m2, msb, m3 = (running_stats_momentum(bn) for bn in (bn1, bn2, sb, bn3))
        feats, weights = [], []
        for i, conv in enumerate(self.branch_convs):
            ch = slice((n - 1 - i) * c, (n - i) * c)  # branch i's channel block
            a = _batch_norm_channels(F.gelu(conv(x)), bn1, ch, m1)
            mixed = F.conv2d(a, self.dw_conv.weight[ch], self.dw_conv.bias[ch], padding=self.dw_conv.padding,
                             groups=c)
            a = a + _batch_norm_channels(F.gelu(mixed), bn2, ch, m2)
            normed = soft_ban(a, sb.running_mean[ch], sb.running_var[ch], sb.weight[:, ch], sb.bias[:, ch],
                              sb.weight_readjust[:, ch], sb.bias_readjust[:, ch], training=sb.training,
                              momentum=msb, eps=sb.eps)
            mixed = F.conv2d(normed, self.pw_conv.weight[ch], self.pw_conv.bias[ch])
            a = a + _batch_norm_channels(F.gelu(mixed), bn3, ch, m3)
            feats.append(a)
            weights.append(self.se(a))
        # [B, n, c, 1, 1]: softmax across the branches (float32 under autocast, see BranchSE)
        w = cast_to(torch.stack(weights, dim=1).softmax(dim=1), feats[0].dtype)
        return torch.cat([feats[i] * w[:, i] for i in reversed(range(n))], dim=1)
