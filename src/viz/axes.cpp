#include "attnd/viz/axes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "attnd/core/error.h"

namespace attnd {

namespace {

constexpr int kTick = 3;   // tick mark length, px
constexpr int kGap = 2;    // between a tick and its label
constexpr size_t kMaxLabel = 10;

// Every 1, 2, 5, 10, 20, 50, ... positions: about 16 ticks over n.
int64_t tick_step(int64_t n) {
  int64_t step = 1;
  for (int64_t base = 1;; base *= 10) {
    for (int64_t m : {1, 2, 5}) {
      step = m * base;
      if (n / step <= 16) return step;
    }
  }
}

std::string cut(const std::string& s) {
  return s.size() <= kMaxLabel ? s : s.substr(0, kMaxLabel - 1) + "~";
}

// The text on its own white image, turned 90° counter-clockwise (it reads bottom to top).
Image vertical_text(const std::string& text) {
  Image flat(std::max(1, text_width(text)), std::max(1, text_height(text)));
  draw_text(flat, 0, 0, text);
  Image out(flat.height, flat.width);
  for (int y = 0; y < flat.height; ++y)
    for (int x = 0; x < flat.width; ++x) out.set(y, flat.width - 1 - x, flat.pixel(x, y));
  return out;
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

TokenTicks index_ticks(int64_t n) {
  TokenTicks out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  const int64_t step = tick_step(n);
  for (int64_t i = 0; i < n; i += step) out[static_cast<size_t>(i)] = std::to_string(i);
  return out;
}

TokenTicks text_token_ticks(const std::vector<std::string>& tokens, size_t max_tokens) {
  if (tokens.size() > max_tokens) return index_ticks(static_cast<int64_t>(tokens.size()));
  TokenTicks out;
  for (const auto& t : tokens) out.push_back(cut(t.empty() ? "''" : t));
  return out;
}

TokenTicks vit_token_ticks(int grid_h, int grid_w) {
  ATTND_CHECK_INPUT(grid_h >= 1 && grid_w >= 1, "vit_token_ticks: bad patch grid ", grid_h, "x",
                    grid_w);
  TokenTicks out(1 + static_cast<size_t>(grid_h) * grid_w);
  out[0] = "CLS";
  for (int r = 0; r < grid_h; ++r) out[1 + static_cast<size_t>(r) * grid_w] = "r" + std::to_string(r);
  return out;
}

Image with_token_ticks(const Image& map, const TokenTicks& ticks, double px_per_position,
                       bool left, bool bottom) {
  ATTND_CHECK_INPUT(px_per_position > 0, "with_token_ticks: px_per_position must be > 0");
  const int line = text_height("0");
  int label_w = 0;
  for (const auto& t : ticks) label_w = std::max(label_w, text_width(t));
  const int margin = label_w > 0 ? label_w + kGap + kTick : 0;
  const int left_w = left ? margin : 0, bottom_h = bottom ? margin : 0;
  Image out(left_w + map.width, map.height + bottom_h);
  out.blit(map, left_w, 0);
  // Greedy: a label is drawn when it starts below/after the end of the previous one.
  double next_free = -1e9;
  for (size_t i = 0; i < ticks.size(); ++i) {
    if (ticks[i].empty()) continue;
    const double centre = (static_cast<double>(i) + 0.5) * px_per_position;
    if (centre - line / 2.0 < next_free) continue;
    next_free = centre + line / 2.0 + 1;
    const int c = static_cast<int>(std::lround(centre));
    if (left) {
      out.fill_rect(left_w - kTick, c, kTick, 1, kBlack);
      // Kept inside the picture: the first row's label would start above it.
      const int y = std::clamp(c - line / 2, 0, std::max(0, map.height - line));
      draw_text(out, left_w - kTick - kGap - text_width(ticks[i]), y, ticks[i]);
    }
    if (bottom) {
      out.fill_rect(left_w + c, map.height, 1, kTick, kBlack);
      const Image v = vertical_text(ticks[i]);
      const int x = std::clamp(c - v.width / 2, 0, std::max(0, map.width - v.width));
      out.blit(v, left_w + x, map.height + kTick + kGap);
    }
  }
  return out;
}

double color_bar_value(double t, double vmax, ColorScaling scaling) {
  t = std::clamp(t, 0.0, 1.0);
  switch (scaling) {
    case ColorScaling::kLinear: return t * vmax;
    case ColorScaling::kSqrt: return t * t * vmax;
    case ColorScaling::kLog: return vmax * std::pow(10.0, 3.0 * (t - 1.0));
  }
  return t * vmax;
}

Image color_bar(int height, double vmax, const ColorStyle& style) {
  ATTND_CHECK_INPUT(height >= 8, "color_bar: height must be >= 8, got ", height);
  constexpr int kBarW = 12;
  const char* title = style.scaling == ColorScaling::kLinear ? "linear"
                      : style.scaling == ColorScaling::kSqrt ? "sqrt"
                                                             : "log";
  const int line = text_height("0");
  const double ts[] = {1.0, 0.5, 0.0};
  int label_w = text_width(title);
  for (double t : ts)
    label_w = std::max(label_w, kBarW + kGap + text_width(format_value(color_bar_value(t, vmax, style.scaling))));
  const int top = line + kGap + line / 2;  // the title, then room for the top label's half line
  Image out(label_w + 2 * kGap + 2, top + height + line / 2 + 1);
  draw_text(out, 0, 0, title);
  for (int y = 0; y < height; ++y) {  // top row = t 1, bottom row = t 0
    const double t = height == 1 ? 1.0 : 1.0 - static_cast<double>(y) / (height - 1);
    out.fill_rect(0, top + y, kBarW, 1, colormap_color(t, style.colormap));
  }
  for (double t : ts) {
    const int y = top + static_cast<int>(std::lround((1.0 - t) * (height - 1)));
    out.fill_rect(kBarW, y, kGap, 1, kBlack);
    draw_text(out, kBarW + kGap + 1, y - line / 2, format_value(color_bar_value(t, vmax, style.scaling)));
  }
  return out;
}

Image with_color_bar(const Image& picture, double vmax, const ColorStyle& style) {
  const int height = std::clamp(picture.height - 40, 8, 256);
  const Image bar = color_bar(height, vmax, style);
  Image out(picture.width + 8 + bar.width, std::max(picture.height, bar.height + 8));
  out.blit(picture, 0, 0);
  out.blit(bar, picture.width + 8, (out.height - bar.height) / 2);
  return out;
}

}  // namespace attnd
