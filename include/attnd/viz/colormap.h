// Perceptual colormaps (matplotlib's viridis and magma) and the scaling that turns attention
// values into [0, 1] for display.
#pragma once

#include <torch/types.h>

#include <array>
#include <string>

#include "attnd/viz/image.h"

namespace attnd {

enum class Colormap { kViridis, kMagma };

// How values map to [0, 1] before the colormap. Attention probabilities are small and peaked, so
// the default divides each map by its own maximum; sqrt and log lift the small values.
enum class ColorScaling {
  kLinear,  // v / vmax
  kSqrt,    // sqrt(v / vmax)
  kLog,     // 1 + log10(max(v / vmax, 1e-3)) / 3: three decades below vmax map to [0, 1]
};

struct ColorStyle {
  Colormap colormap = Colormap::kViridis;
  ColorScaling scaling = ColorScaling::kLinear;
  double vmax = 0.0;  // > 0: a fixed maximum shared by all maps; <= 0: each map's own maximum
};

// The 256-entry table: matplotlib's published values at every 16th entry (and the last),
// linearly interpolated in between.
const std::array<Rgb, 256>& colormap_table(Colormap colormap);
// The colour of t ∈ [0, 1] (clamped; NaN shows as the colour of 0): entry round(t·255).
Rgb colormap_color(double t, Colormap colormap = Colormap::kViridis);

// Values (any shape, any device) → float CPU tensor in [0, 1] following `style`. A map whose
// maximum is <= 0 maps to all zeros.
torch::Tensor scale_for_display(const torch::Tensor& values, const ColorStyle& style);

// Parses "viridis"/"magma" and "linear"/"sqrt"/"log"; InputError naming the choices otherwise.
Colormap parse_colormap(const std::string& name);
ColorScaling parse_color_scaling(const std::string& name);

}  // namespace attnd
