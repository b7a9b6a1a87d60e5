#include "attnd/viz/scatter.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>

#include "attnd/core/error.h"

namespace attnd {

torch::Tensor pca_2d(const torch::Tensor& features) {
  ATTND_CHECK_INPUT(features.dim() == 2 && features.size(0) >= 2 && features.size(1) >= 2,
                    "a 2-D PCA needs at least 2 points of at least 2 dimensions, got ",
                    features.sizes());
  auto x = features.detach().to(torch::kCPU, torch::kDouble);
  x = x - x.mean(0, true);
  auto svd = torch::linalg_svd(x, false);
  auto components = std::get<2>(svd).slice(0, 0, 2);  // [2, D]
  for (int64_t k = 0; k < components.size(0); ++k) {
    auto row = components[k];
    if (row[row.abs().argmax()].item<double>() < 0) components[k] = -row;
  }
  return x.matmul(components.t()).to(torch::kFloat);
}

const std::vector<Rgb>& group_colors() {
  static const std::vector<Rgb> colors = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                          {214, 39, 40},  {148, 103, 189}, {140, 86, 75}};
  return colors;
}

Image scatter_plot(const torch::Tensor& points, const std::vector<int64_t>& groups,
                   const std::vector<std::string>& names, const std::vector<Rgb>& colors,
                   int size) {
  ATTND_CHECK_INPUT(points.dim() == 2 && points.size(1) == 2, "scatter_plot takes [N, 2] points, got ",
                    points.sizes());
  ATTND_CHECK_INPUT(static_cast<int64_t>(groups.size()) == points.size(0), "scatter_plot: ",
                    groups.size(), " groups for ", points.size(0), " points");
  for (auto g : groups)
    ATTND_CHECK_INPUT(g >= 0 && g < static_cast<int64_t>(colors.size()) &&
                          g < static_cast<int64_t>(names.size()),
                      "scatter_plot: group ", g, " has no colour or name");
  Image image(size, size);
  const int margin = 12, legend = 14 * static_cast<int>(names.size()) + 8;
  const int plot_top = margin + legend, plot = size - margin - plot_top;
  auto p = points.detach().to(torch::kCPU, torch::kDouble);
  const auto lo = std::get<0>(p.min(0)), hi = std::get<0>(p.max(0));
  auto coord = [&](double v, int64_t axis) {
    const double a = lo[axis].item<double>(), b = hi[axis].item<double>();
    return b > a ? (v - a) / (b - a) : 0.5;
  };
  // Frame.
  image.fill_rect(margin, plot_top, plot, 1, kBlack);
  image.fill_rect(margin, plot_top + plot - 1, plot, 1, kBlack);
  image.fill_rect(margin, plot_top, 1, plot, kBlack);
  image.fill_rect(margin + plot - 1, plot_top, 1, plot, kBlack);
  auto acc = p.accessor<double, 2>();
  // Points are drawn in an interleaved order (a stride near 0.618·N that is coprime with N), not
  // group by group: otherwise the last group hides every earlier one where they overlap.
  const int64_t n = p.size(0);
  int64_t stride = std::max<int64_t>(1, static_cast<int64_t>(0.618 * static_cast<double>(n)));
  while (std::gcd(stride, n) != 1) --stride;
  for (int64_t k = 0, i = 0; k < n; ++k, i = (i + stride) % n) {
    const int x = margin + 3 + static_cast<int>(coord(acc[i][0], 0) * (plot - 9));
    const int y = plot_top + 3 + static_cast<int>((1.0 - coord(acc[i][1], 1)) * (plot - 9));
    image.fill_rect(x, y, 3, 3, colors[groups[i]]);
  }
  for (size_t g = 0; g < names.size(); ++g) {
    const int y = margin + static_cast<int>(g) * 14;
    image.fill_rect(margin, y + 2, 8, 8, colors[g]);
    draw_text(image, margin + 14, y, names[g], kBlack, 2);
  }
  return image;
}

}  // namespace attnd
