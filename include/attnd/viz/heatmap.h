// Attention pictures: one map, a layers × heads grid, titled panels side by side, CLS attention
// over the input image, and a report that writes all of them for a teacher and a student.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "attnd/viz/axes.h"
#include "attnd/viz/colormap.h"
#include "attnd/viz/image.h"

namespace attnd {

// probs [Nq, Nk] (any device/dtype) → an (Nk·cell_px) × (Nq·cell_px) picture: query i is row i,
// key j is column j, each entry a cell_px square coloured by style (default: viridis, scaled to
// this map's own maximum).
Image attention_map(const torch::Tensor& probs, int cell_px, const ColorStyle& style = {});

// Layers as rows, heads as columns, with a row label at the left of each row and a column label
// above each column. probs: [H, Nq, Nk] (one row) or [L, H, Nq, Nk]. Labels default to "L<i>"
// and "H<j>"; given labels must match the row/column counts. Every map is scaled on its own
// unless style.vmax is set.
Image attention_grid(const torch::Tensor& probs, int cell_px,
                     const std::vector<std::string>& row_labels = {},
                     const std::vector<std::string>& col_labels = {}, const ColorStyle& style = {});
// Token ticks for a grid (axes.h): labels of the N positions of the maps, px_per_position apart
// in the pictures (cell_px, times shown/raw size when fit_attention_map pooled them). Query ticks
// go left of the first column, key ticks below the last row. No labels: no ticks.
struct GridTicks {
  TokenTicks labels;
  double px_per_position = 0;
};
// The same with one [H, Nq, Nk] tensor per row (rows may differ in H and N).
Image attention_grid(const std::vector<torch::Tensor>& rows, int cell_px,
                     const std::vector<std::string>& row_labels = {},
                     const std::vector<std::string>& col_labels = {}, const ColorStyle& style = {},
                     const GridTicks& ticks = {});

// Panels left to right, top-aligned, each with its title (text at title_scale) above it, on a
// white background.
Image side_by_side(const std::vector<std::pair<std::string, Image>>& panels, int gap_px = 12,
                   int title_scale = 2);

// The CLS row of attention over the image: image [C, H, W] (C = 1 or 3; uint8 or float, see
// image_from_tensor) is upscaled by `scale` (nearest); cls_probs [grid_h·grid_w] (patch order
// row-major, CLS excluded) is scaled by style, coloured, upscaled bilinearly to the same size and
// blended over the image with weight alpha. Output: (W·scale) × (H·scale).
Image cls_attention_overlay(const torch::Tensor& image_chw, const torch::Tensor& cls_probs,
                            int grid_h, int grid_w, int scale, double alpha = 0.6,
                            const ColorStyle& style = {});

// Area-averages a [Nq, Nk] map down so that neither side exceeds max_side (unchanged if it
// already fits): long sequences stay readable at one pixel per cell.
torch::Tensor fit_attention_map(const torch::Tensor& probs, int64_t max_side);

struct AttentionReportOptions {
  ColorStyle style;  // style.vmax <= 0: each picture's own maximum (one scale per picture)
  // Names of the input's N positions for the axis ticks (text: its tokens). Empty: with an image,
  // CLS and the patch rows (vit_token_ticks); otherwise position indices.
  std::vector<std::string> tokens;
  int max_map_px = 256;  // target size of one head's map: sets cell_px, pools longer sequences
  double overlay_alpha = 0.6;
  int overlay_px = 160;  // target size of the image in cls_*.png (integer upscale, >= 1)
};

// For ONE input: maps[model label][layer] = probabilities [H, N, N] (or [1, H, N, N]). Writes into
// out_dir (created if missing):
//   layer<L>.png     every head of layer L, one titled panel per model, side by side
//   grid.png         every layer (rows) × head (columns), one panel per model
//   cls_<label>.png  if image is defined: the image, then per layer the CLS attention (query 0,
//                    keys 1..N−1 = the grid_h × grid_w patches, averaged over heads) over it
// Each picture has one colour scale for all its maps (the largest value shown, unless
// options.style.vmax), drawn as a colour bar with its range at the right; maps carry token
// ticks (options.tokens), heads and layers their labels (H<j>, L<i>).
// and returns the paths written, in that order. InputError for empty maps, wrong shapes, or an N
// that does not equal 1 + grid_h·grid_w when an image is given.
std::vector<std::string> write_attention_report(
    const std::string& out_dir, const std::map<std::string, std::map<int64_t, torch::Tensor>>& maps,
    const torch::Tensor& image, int grid_h, int grid_w, const AttentionReportOptions& options = {});

}  // namespace attnd
