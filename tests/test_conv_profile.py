"""tools/analysis/conv_profile.py: oneDNN's verbose lines parsed into one row per convolution problem, and the
table of one tiny EMANet-50 training step (its rows and columns; no times are judged)."""
import pytest

from mmemanet.analysis.conv_profile import (COLUMNS, PASSES, format_profile, is_ma_conv, kernel_line,
                                            parse_onednn_verbose, profile_training_step)
from mmemanet.ops import conv_cpu

LINES = [
    'onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,forward_training,src:f32 dst:f32,'
    'attr-scratchpad:user,alg:convolution_direct,g4mb32_ic64oc64_ih32oh32kh1sh1dh0ph0_iw32ow32kw1sw1dw0pw0,2.5',
    'onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,forward_training,src:f32 dst:f32,'
    'attr-scratchpad:user,alg:convolution_direct,g4mb32_ic64oc64_ih32oh32kh1sh1dh0ph0_iw32ow32kw1sw1dw0pw0,1.5',
    'onednn_verbose,v1,primitive,exec,cpu,convolution,jit_dw:avx2,backward_weights,src:f32 dst:f32,'
    'attr-scratchpad:user,alg:convolution_direct,g64mb32_ic64oc64_ih32oh32kh9sh1dh0ph4_iw32ow32kw9sw1dw0pw4,7',
    'onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32 dst:f32,attr-scratchpad:user,,16x4,0.1',
    'onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,forward_training,src:f32 dst:f32,'
    'attr-scratchpad:user,alg:convolution_direct,mb32_ic3oc64_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1,1',
]


def test_parse_groups_calls_and_times_per_problem_and_pass():
    grouped, depthwise, stem = parse_onednn_verbose(LINES)
    assert (grouped.kind, grouped.groups, grouped.kernel, grouped.in_size) == ('grouped', 4, 1, 32)
    assert grouped.calls == {'forward': 2} and grouped.ms == {'forward': 4.0} and grouped.impl['forward'] == 'jit:avx2'
    assert depthwise.kind == 'depthwise' and depthwise.ms == {'backward_weights': 7.0}
    assert stem.kind == 'dense' and not is_ma_conv(stem) and is_ma_conv(grouped) and is_ma_conv(depthwise)


def test_the_kernels_lines_join_the_rows_of_their_problem():
    """A line of the package's kernel counts in the row of oneDNN's lines for the same problem."""
    line = kernel_line('backward_weights', (32, 64, 32, 32), (64, 1, 9, 9), (32, 32), 1, 4, 64, 3.0)
    _, depthwise, _ = parse_onednn_verbose(LINES + [line])
    assert depthwise.ms == {'backward_weights': 10.0} and depthwise.calls == {'backward_weights': 2}
    assert depthwise.impl == {'backward_weights': 'mmemanet:direct'}


def test_tiny_emanet50_step_lists_ma_convs_of_all_four_stages():
    rows = profile_training_step('cifar_emanet50', batch_size=2, input_size=(8, 8))  # BN: 2 values at 1x1
    assert {r.out_size for r in rows} == {8, 4, 2, 1}  # the four stages
    for size in (8, 4, 2, 1):
        stage = {(r.kind, r.kernel, r.groups) for r in rows if r.out_size == size and r.stride == 1}
        assert {('dense', 3, 1), ('grouped', 5, 4), ('grouped', 7, 8)} <= stage, size
        assert any(kind == 'depthwise' and k == 9 for kind, k, _ in stage), size
    assert all(set(r.ms) <= set(PASSES) and r.ms for r in rows)
    assert all(set(r.ms) == set(PASSES) for r in rows if r.kind == 'depthwise')
    if conv_cpu.available():  # the depthwise weight gradients and k9 g16's input gradient at P = 64 are the kernels'
        assert {r.impl['backward_weights'] for r in rows if r.kind == 'depthwise'} == {'mmemanet:direct'}
        k9 = next(r for r in rows if (r.kind, r.kernel, r.groups, r.in_channels, r.stride) == ('grouped', 9, 16, 64, 1))
        assert k9.impl['backward_data'] == 'mmemanet:direct'
        assert not any(r.out_channels > r.in_channels for r in rows)  # no row of the transposed convolution
    lines = format_profile(rows).splitlines()
    assert lines[0] == '| ' + ' | '.join(COLUMNS) + ' |'
    assert len(lines) == len(rows) + 3 and lines[-1].startswith('| total')
    assert all(line.count('|') == len(COLUMNS) + 1 for line in lines)


def test_unknown_target_is_one_line_before_any_child_starts():
    with pytest.raises(ValueError, match=r"^'nosuch' is neither a config file \(\.py\) nor a preset; presets: "):
        profile_training_step('nosuch')
