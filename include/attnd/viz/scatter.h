// Scatter plots of 2-D points by group (e.g. a PCA of a model's representations), and the PCA.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "attnd/viz/image.h"

namespace attnd {

// The first two principal components of the rows of `features` [N, D] (centred; from an SVD in
// double precision): [N, 2]. The sign of each component is fixed so that its largest-magnitude
// loading is positive, so equal inputs give equal pictures. InputError for N < 2 or D < 2.
torch::Tensor pca_2d(const torch::Tensor& features);

// A size × size plot of points [N, 2], point i coloured by groups[i] (an index into `colors`),
// scaled to fit with a margin, a frame, and a legend of group names at the top left.
// InputError for mismatched sizes or a group outside the colours.
Image scatter_plot(const torch::Tensor& points, const std::vector<int64_t>& groups,
                   const std::vector<std::string>& names, const std::vector<Rgb>& colors,
                   int size = 360);

// Distinct colours for a few groups (blue, orange, green, red, purple, ...).
const std::vector<Rgb>& group_colors();

}  // namespace attnd
