// Direct CPU kernels for MA's narrow convolutions: float32, NHWC (channels_last) tensors.
//
// Both kernels see a grouped convolution (C_in -> C_out, `groups` groups, cg = C_in / groups inputs and
// og = C_out / groups outputs per group, k x k taps) as a DEPTHWISE one over V = C_out * cg "virtual channels"
// v = ci * C_out + o: virtual channel v multiplies output o with input channel (o / og) * cg + ci. A block of
// LANES consecutive virtual channels shares ci and covers LANES consecutive outputs, so each tap is one
// element-wise multiply-add of LANES floats (one AVX-512 register, two AVX2 ones), whatever the group width.
// The input block is gathered into a zero-padded buffer once per sample, so the tap loops have no bounds tests.
//
//   weight_grad: dW[o, ci, ky, kx] = sum_{n, oy, ox} dy[n, oy, ox, o] * x[n, oy*s + ky - p, ox*s + kx - p, c(o, ci)]
//   forward:     y[n, oy, ox, o]   = sum_{ci, ky, kx} W[o, ci, ky, kx] * x[n, oy*s + ky - p, ox*s + kx - p, c(o, ci)]
//
// Parallel over (block, sample chunk) with at::parallel_for; each work item owns its output (forward) or its
// partial sum (weight gradient, summed over the chunks afterwards): no atomics, the same result on every run. The
// number of sample chunks grows with the thread count, and with it the weight gradient's order of summation
// (float32 round-off).
// The hot loops are compiled once per x86-64 level (target_clones: AVX-512, AVX2 + FMA, baseline) and the
// loader picks the machine's at run time, so one build runs anywhere.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define MMEMANET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MMEMANET_CLONES
#endif

namespace {

constexpr int64_t LANES = 16;

struct Geometry {
  int64_t n, h, w, cin, ho, wo, cout, k, stride, pad, cg, og;
  int64_t hp, wp;  // padded buffer size
  int64_t virtual_channels() const { return cout * cg; }
  int64_t blocks() const { return (virtual_channels() + LANES - 1) / LANES; }
};

Geometry geometry(const at::Tensor& x, int64_t cout, int64_t ho, int64_t wo, int64_t k, int64_t stride,
                  int64_t pad, int64_t groups) {
  Geometry g;
  g.n = x.size(0); g.cin = x.size(1); g.h = x.size(2); g.w = x.size(3);
  g.cout = cout; g.ho = ho; g.wo = wo; g.k = k; g.stride = stride; g.pad = pad;
  g.cg = g.cin / groups; g.og = cout / groups;
  g.hp = std::max(g.h + 2 * pad, (ho - 1) * stride + k);
  g.wp = std::max(g.w + 2 * pad, (wo - 1) * stride + k);
  return g;
}

// The input channel of each lane of virtual block `b` (-1: a lane past the last virtual channel).
void block_channels(const Geometry& g, int64_t b, int64_t* channel, int64_t* output) {
  for (int64_t l = 0; l < LANES; ++l) {
    const int64_t v = b * LANES + l;
    if (v >= g.virtual_channels()) { channel[l] = -1; output[l] = -1; continue; }
    const int64_t ci = v / g.cout, o = v % g.cout;
    channel[l] = (o / g.og) * g.cg + ci;
    output[l] = o;
  }
}

// x[n] (NHWC) -> buf[hp][wp][LANES], lanes gathered from `channel`, zero padding around and in unused lanes.
void gather_padded(const Geometry& g, const float* x, const int64_t* channel, float* buf) {
  std::fill(buf, buf + g.hp * g.wp * LANES, 0.f);
  for (int64_t iy = 0; iy < g.h; ++iy) {
    for (int64_t ix = 0; ix < g.w; ++ix) {
      const float* src = x + (iy * g.w + ix) * g.cin;
      float* dst = buf + ((iy + g.pad) * g.wp + ix + g.pad) * LANES;
      for (int64_t l = 0; l < LANES; ++l) dst[l] = channel[l] >= 0 ? src[channel[l]] : 0.f;
    }
  }
}

// dy[n] (NHWC) -> buf[ho][wo][LANES] from the outputs of the block's lanes.
void gather_outputs(const Geometry& g, const float* dy, const int64_t* output, float* buf) {
  for (int64_t p = 0; p < g.ho * g.wo; ++p) {
    const float* src = dy + p * g.cout;
    for (int64_t l = 0; l < LANES; ++l) buf[p * LANES + l] = output[l] >= 0 ? src[output[l]] : 0.f;
  }
}

// acc[ky][kx][LANES] += sum_{oy, ox} dyb[oy][ox] * xb[oy*s + ky][ox*s + kx]
MMEMANET_CLONES
void accumulate_weight_grad(const float* __restrict xb, const float* __restrict dyb, float* __restrict acc,
                            int64_t ho, int64_t wo, int64_t wp, int64_t k, int64_t stride) {
  for (int64_t oy = 0; oy < ho; ++oy) {
    const float* dyrow = dyb + oy * wo * LANES;
    for (int64_t ky = 0; ky < k; ++ky) {
      const float* xrow = xb + (oy * stride + ky) * wp * LANES;
      int64_t kx = 0;
      for (; kx + 4 <= k; kx += 4) {  // four taps share each load of dy
        float a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};
        for (int64_t ox = 0; ox < wo; ++ox) {
          const float* d = dyrow + ox * LANES;
          const float* xp = xrow + (ox * stride + kx) * LANES;
          for (int64_t l = 0; l < LANES; ++l) {
            a0[l] += d[l] * xp[l];
            a1[l] += d[l] * xp[LANES + l];
            a2[l] += d[l] * xp[2 * LANES + l];
            a3[l] += d[l] * xp[3 * LANES + l];
          }
        }
        float* t = acc + (ky * k + kx) * LANES;
        for (int64_t l = 0; l < LANES; ++l) {
          t[l] += a0[l]; t[LANES + l] += a1[l]; t[2 * LANES + l] += a2[l]; t[3 * LANES + l] += a3[l];
        }
      }
      for (; kx < k; ++kx) {
        float a0[LANES] = {0};
        for (int64_t ox = 0; ox < wo; ++ox) {
          const float* d = dyrow + ox * LANES;
          const float* xp = xrow + (ox * stride + kx) * LANES;
          for (int64_t l = 0; l < LANES; ++l) a0[l] += d[l] * xp[l];
        }
        float* t = acc + (ky * k + kx) * LANES;
        for (int64_t l = 0; l < LANES; ++l) t[l] += a0[l];
      }
    }
  }
}

// yb[oy][ox][LANES] += sum_{ky, kx} wb[ky][kx] * xb[oy*s + ky][ox*s + kx]
MMEMANET_CLONES
void accumulate_forward(const float* __restrict xb, const float* __restrict wb, float* __restrict yb,
                        int64_t ho, int64_t wo, int64_t wp, int64_t k, int64_t stride) {
  for (int64_t oy = 0; oy < ho; ++oy) {
    float* yrow = yb + oy * wo * LANES;
    int64_t ox = 0;
    for (; ox + 4 <= wo; ox += 4) {  // four outputs share each load of the taps
      float a0[LANES], a1[LANES], a2[LANES], a3[LANES];
      for (int64_t l = 0; l < LANES; ++l) {
        a0[l] = yrow[ox * LANES + l]; a1[l] = yrow[(ox + 1) * LANES + l];
        a2[l] = yrow[(ox + 2) * LANES + l]; a3[l] = yrow[(ox + 3) * LANES + l];
      }
      for (int64_t ky = 0; ky < k; ++ky) {
        const float* xrow = xb + (oy * stride + ky) * wp * LANES;
        for (int64_t kx = 0; kx < k; ++kx) {
          const float* t = wb + (ky * k + kx) * LANES;
          const float* xp = xrow + (ox * stride + kx) * LANES;
          const int64_t s = stride * LANES;
          for (int64_t l = 0; l < LANES; ++l) {
            a0[l] += t[l] * xp[l];
            a1[l] += t[l] * xp[s + l];
            a2[l] += t[l] * xp[2 * s + l];
            a3[l] += t[l] * xp[3 * s + l];
          }
        }
      }
      for (int64_t l = 0; l < LANES; ++l) {
        yrow[ox * LANES + l] = a0[l]; yrow[(ox + 1) * LANES + l] = a1[l];
        yrow[(ox + 2) * LANES + l] = a2[l]; yrow[(ox + 3) * LANES + l] = a3[l];
      }
    }
    for (; ox < wo; ++ox) {
      float a0[LANES];
      for (int64_t l = 0; l < LANES; ++l) a0[l] = yrow[ox * LANES + l];
      for (int64_t ky = 0; ky < k; ++ky) {
        const float* xrow = xb + (oy * stride + ky) * wp * LANES;
        for (int64_t kx = 0; kx < k; ++kx) {
          const float* t = wb + (ky * k + kx) * LANES;
          const float* xp = xrow + (ox * stride + kx) * LANES;
          for (int64_t l = 0; l < LANES; ++l) a0[l] += t[l] * xp[l];
        }
      }
      for (int64_t l = 0; l < LANES; ++l) yrow[ox * LANES + l] = a0[l];
    }
  }
}

void check_inputs(const at::Tensor& x, const at::Tensor& other, const char* name, int64_t k, int64_t stride,
                  int64_t pad, int64_t groups) {
  TORCH_CHECK(x.device().is_cpu() && other.device().is_cpu(), "mmemanet conv_cpu: CPU tensors only");
  TORCH_CHECK(x.scalar_type() == at::kFloat && other.scalar_type() == at::kFloat,
              "mmemanet conv_cpu: float32 tensors only");
  TORCH_CHECK(x.dim() == 4 && other.dim() == 4, "mmemanet conv_cpu: 4-d x and ", name);
  TORCH_CHECK(k >= 1 && stride >= 1 && pad >= 0 && groups >= 1, "mmemanet conv_cpu: bad k/stride/pad/groups");
  TORCH_CHECK(x.size(1) % groups == 0, "mmemanet conv_cpu: C_in not divisible by groups");
}

}  // namespace

// dW [C_out, C_in / groups, k, k] of conv2d(x, W, stride, pad, groups) given dy [N, C_out, Ho, Wo].
at::Tensor grouped_conv_weight_grad(const at::Tensor& x_in, const at::Tensor& dy_in, int64_t k, int64_t stride,
                                    int64_t pad, int64_t groups) {
  check_inputs(x_in, dy_in, "dy", k, stride, pad, groups);
  TORCH_CHECK(dy_in.size(1) % groups == 0, "mmemanet conv_cpu: C_out not divisible by groups");
  const at::Tensor x = x_in.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor dy = dy_in.contiguous(at::MemoryFormat::ChannelsLast);
  const Geometry g = geometry(x, dy.size(1), dy.size(2), dy.size(3), k, stride, pad, groups);
  const int64_t blocks = g.blocks(), taps = k * k;
  // enough work items for every thread; chunks of samples beyond the blocks
  const int64_t threads = at::get_num_threads();
  const int64_t chunks = std::min<int64_t>(g.n, std::max<int64_t>(1, (2 * threads + blocks - 1) / blocks));
  at::Tensor partial = at::zeros({chunks, blocks, taps, LANES}, x.options().memory_format(at::MemoryFormat::Contiguous));
  const float* xp = x.data_ptr<float>();
  const float* dyp = dy.data_ptr<float>();
  float* pp = partial.data_ptr<float>();
  at::parallel_for(0, chunks * blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> xb(g.hp * g.wp * LANES), dyb(g.ho * g.wo * LANES);
    int64_t channel[LANES], output[LANES];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t chunk = item / blocks, b = item % blocks;
      block_channels(g, b, channel, output);
      float* acc = pp + (chunk * blocks + b) * taps * LANES;
      for (int64_t n = chunk * g.n / chunks; n < (chunk + 1) * g.n / chunks; ++n) {
        gather_padded(g, xp + n * g.h * g.w * g.cin, channel, xb.data());
        gather_outputs(g, dyp + n * g.ho * g.wo * g.cout, output, dyb.data());
        accumulate_weight_grad(xb.data(), dyb.data(), acc, g.ho, g.wo, g.wp, k, stride);
      }
    }
  });
  // [blocks * LANES = virtual channels (ci, o), taps] -> [o, ci, ky, kx]
  const at::Tensor summed = partial.sum(0).permute({0, 2, 1}).reshape({blocks * LANES, taps});
  return summed.narrow(0, 0, g.virtual_channels()).view({g.cg, g.cout, k, k}).transpose(0, 1).contiguous();
}

// conv2d(x, W, None, stride, pad, 1, groups) for W [C_out, C_in / groups, k, k]; the result is channels_last.
at::Tensor grouped_conv_forward(const at::Tensor& x_in, const at::Tensor& weight, int64_t stride, int64_t pad,
                                int64_t groups) {
  const int64_t k = weight.size(2);
  check_inputs(x_in, weight, "weight", k, stride, pad, groups);
  TORCH_CHECK(weight.size(3) == k && weight.size(1) * groups == x_in.size(1) && weight.size(0) % groups == 0,
              "mmemanet conv_cpu: weight shape does not fit x and groups");
  TORCH_CHECK(weight.size(0) % LANES == 0, "mmemanet conv_cpu: forward needs C_out a multiple of 16");
  const at::Tensor x = x_in.contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t ho = (x.size(2) + 2 * pad - k) / stride + 1, wo = (x.size(3) + 2 * pad - k) / stride + 1;
  const Geometry g = geometry(x, weight.size(0), ho, wo, k, stride, pad, groups);
  const int64_t taps = k * k, out_blocks = g.cout / LANES;
  // weights as [ci][o][taps] -> per virtual block (ci, output block) [taps][LANES]
  const at::Tensor wt = weight.permute({1, 0, 2, 3}).reshape({g.cg, out_blocks, LANES, taps})
                            .permute({0, 1, 3, 2}).contiguous();
  at::Tensor y = at::empty({g.n, g.cout, ho, wo}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  const float* xp = x.data_ptr<float>();
  const float* wp = wt.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, g.n * out_blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> xb(g.hp * g.wp * LANES), yb(ho * wo * LANES);
    int64_t channel[LANES], output[LANES];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / out_blocks, ob = item % out_blocks;
      std::fill(yb.begin(), yb.end(), 0.f);
      for (int64_t ci = 0; ci < g.cg; ++ci) {
        const int64_t b = ci * out_blocks + ob;  // virtual block: input ci of outputs ob * LANES ...
        block_channels(g, b, channel, output);
        gather_padded(g, xp + n * g.h * g.w * g.cin, channel, xb.data());
        accumulate_forward(xb.data(), wp + b * taps * LANES, yb.data(), ho, wo, g.wp, k, stride);
      }
      float* dst = yp + n * ho * wo * g.cout + ob * LANES;
      for (int64_t p = 0; p < ho * wo; ++p) std::copy_n(yb.data() + p * LANES, LANES, dst + p * g.cout);
    }
  });
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("grouped_conv_weight_grad", &grouped_conv_weight_grad,
        "weight gradient of a grouped conv2d, float32, CPU (x, dy, k, stride, pad, groups)");
  m.def("grouped_conv_forward", &grouped_conv_forward,
        "grouped conv2d without bias, float32, CPU, channels_last result (x, weight, stride, pad, groups)");
}
