// What makes an attention picture readable: a colour bar with the range the colours stand for,
// and token ticks along a map's axes (query rows on the left, key columns below).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnd/viz/colormap.h"
#include "attnd/viz/image.h"

namespace attnd {

// A label per position of a map's axes ("" = no tick there).
using TokenTicks = std::vector<std::string>;

// Text: the tokens themselves (cut to 10 characters) when there are at most max_tokens,
// otherwise the position index at every 5th / 10th / ... position (about 16 ticks).
TokenTicks text_token_ticks(const std::vector<std::string>& tokens, size_t max_tokens = 48);
// A ViT's tokens: "CLS", then the first patch of each patch row as "r<i>" (patches are row-major,
// so r<i> starts row i of the grid_h × grid_w grid; the grid_w − 1 after it are its columns).
TokenTicks vit_token_ticks(int grid_h, int grid_w);
// Position indices "0", "1", ... at the same steps as text_token_ticks for n positions.
TokenTicks index_ticks(int64_t n);

// `map` (an attention map whose n positions are `px_per_position` pixels apart on both axes,
// e.g. after pooling a long sequence) with its query ticks to the left and its key ticks below
// (vertical text). Labels that would overlap the previous one drawn are skipped. left/bottom
// say which sides get labels.
Image with_token_ticks(const Image& map, const TokenTicks& ticks, double px_per_position,
                       bool left = true, bool bottom = true);

// A vertical bar of `height` px showing the colours of [0, 1] under `style` (top = vmax), with the
// values they stand for written at the top, middle and bottom (the scaling's inverse: linear
// v = t·vmax, sqrt v = t²·vmax, log v = vmax·10^{3(t−1)}) and a title line "linear|sqrt|log".
Image color_bar(int height, double vmax, const ColorStyle& style);
// `picture` with color_bar(…) at its right, vertically centred, at most 256 px tall.
Image with_color_bar(const Image& picture, double vmax, const ColorStyle& style);

// The value a colour position t ∈ [0, 1] stands for (the inverse of scale_for_display).
double color_bar_value(double t, double vmax, ColorScaling scaling);

}  // namespace attnd
