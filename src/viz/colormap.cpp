#include "attnd/viz/colormap.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "attnd/core/error.h"

namespace attnd {

namespace {

// Entries 0, 16, 32, ..., 240 and 255 of matplotlib's _viridis_data / _magma_data
// (lib/matplotlib/_cm_listed.py, van der Walt & Smith, CC0).
constexpr int kControlPoints = 17;
constexpr double kViridis[kControlPoints][3] = {
    {0.267004, 0.004874, 0.329415}, {0.282327, 0.094955, 0.417331}, {0.278826, 0.175490, 0.483397},
    {0.258965, 0.251537, 0.524736}, {0.229739, 0.322361, 0.545706}, {0.199430, 0.387607, 0.554642},
    {0.172719, 0.448791, 0.557885}, {0.149039, 0.508051, 0.557250}, {0.127568, 0.566949, 0.550556},
    {0.120638, 0.625828, 0.533488}, {0.157851, 0.683765, 0.501686}, {0.246070, 0.738910, 0.452024},
    {0.369214, 0.788888, 0.382914}, {0.515992, 0.831158, 0.294279}, {0.678489, 0.863742, 0.189503},
    {0.845561, 0.887322, 0.099702}, {0.993248, 0.906157, 0.143936}};
constexpr double kMagma[kControlPoints][3] = {
    {0.001462, 0.000466, 0.013866}, {0.039608, 0.031090, 0.133515}, {0.113094, 0.065492, 0.276784},
    {0.211718, 0.061992, 0.418647}, {0.316654, 0.071690, 0.485380}, {0.414709, 0.110431, 0.504662},
    {0.512831, 0.148179, 0.507648}, {0.613617, 0.181811, 0.498536}, {0.716387, 0.214982, 0.475290},
    {0.816914, 0.255895, 0.436461}, {0.904281, 0.319610, 0.388137}, {0.960949, 0.418323, 0.359630},
    {0.986700, 0.535582, 0.382210}, {0.996096, 0.653659, 0.446213}, {0.996898, 0.769591, 0.534892},
    {0.992440, 0.884330, 0.640099}, {0.987053, 0.991438, 0.749504}};

std::array<Rgb, 256> build_table(const double (&points)[kControlPoints][3]) {
  // Table index of each control point.
  int index[kControlPoints];
  for (int i = 0; i < kControlPoints; ++i) index[i] = std::min(i * 16, 255);
  std::array<Rgb, 256> table{};
  int seg = 0;
  for (int e = 0; e < 256; ++e) {
    while (seg + 1 < kControlPoints - 1 && e > index[seg + 1]) ++seg;
    const double f = static_cast<double>(e - index[seg]) / (index[seg + 1] - index[seg]);
    uint8_t c[3];
    for (int ch = 0; ch < 3; ++ch) {
      const double v = points[seg][ch] * (1 - f) + points[seg + 1][ch] * f;
      c[ch] = static_cast<uint8_t>(std::clamp(std::lround(v * 255.0), 0L, 255L));
    }
    table[e] = {c[0], c[1], c[2]};
  }
  return table;
}

}  // namespace

const std::array<Rgb, 256>& colormap_table(Colormap colormap) {
  static const std::array<Rgb, 256> viridis = build_table(kViridis);
  static const std::array<Rgb, 256> magma = build_table(kMagma);
  return colormap == Colormap::kMagma ? magma : viridis;
}

Rgb colormap_color(double t, Colormap colormap) {
  if (!(t > 0.0)) t = 0.0;  // also NaN
  if (t > 1.0) t = 1.0;
  return colormap_table(colormap)[static_cast<size_t>(std::lround(t * 255.0))];
}

torch::Tensor scale_for_display(const torch::Tensor& values, const ColorStyle& style) {
  ATTND_CHECK_INPUT(values.defined(), "scale_for_display: the tensor is undefined");
  auto v = values.detach().to(torch::kCPU, torch::kFloat);
  if (v.numel() == 0) return v;
  const double vmax = style.vmax > 0 ? style.vmax : v.max().item<double>();
  if (!(vmax > 0)) return torch::zeros_like(v);
  v = (v / vmax).clamp(0.0, 1.0);
  switch (style.scaling) {
    case ColorScaling::kLinear:
      break;
    case ColorScaling::kSqrt:
      v = v.sqrt();
      break;
    case ColorScaling::kLog:
      v = (1.0 + v.clamp_min(1e-3).log10() / 3.0).clamp(0.0, 1.0);
      break;
  }
  return v;
}

Colormap parse_colormap(const std::string& name) {
  if (name == "viridis") return Colormap::kViridis;
  if (name == "magma") return Colormap::kMagma;
  throw_input_error("unknown colormap '", name, "' (expected viridis or magma)");
}

ColorScaling parse_color_scaling(const std::string& name) {
  if (name == "linear") return ColorScaling::kLinear;
  if (name == "sqrt") return ColorScaling::kSqrt;
  if (name == "log") return ColorScaling::kLog;
  throw_input_error("unknown color scaling '", name, "' (expected linear, sqrt or log)");
}

}  // namespace attnd
