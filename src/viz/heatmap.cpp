#include "attnd/viz/heatmap.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "attnd/core/error.h"
#include "attnd/viz/axes.h"

namespace attnd {

namespace {

namespace fs = std::filesystem;

// Larger pictures are almost certainly a mistake (and would need gigabytes).
constexpr int64_t kMaxSide = 32768;
constexpr int kPad = 4;

torch::Tensor cpu_float(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat);
}

std::string file_safe(const std::string& label) {
  std::string out;
  for (char c : label)
    out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_');
  return out.empty() ? "model" : out;
}

}  // namespace

Image attention_map(const torch::Tensor& probs, int cell_px, const ColorStyle& style) {
  ATTND_CHECK_INPUT(probs.defined() && probs.dim() == 2 && probs.numel() > 0,
                    "attention_map: expected a non-empty [Nq, Nk] tensor, got ",
                    probs.defined() ? probs.sizes() : torch::IntArrayRef{});
  ATTND_CHECK_INPUT(cell_px >= 1, "attention_map: cell_px must be >= 1, got ", cell_px);
  const int64_t nq = probs.size(0), nk = probs.size(1);
  ATTND_CHECK_INPUT(nq * cell_px <= kMaxSide && nk * cell_px <= kMaxSide, "attention_map: a ", nq,
                    "x", nk, " map at ", cell_px, " px per cell exceeds ", kMaxSide,
                    " px; pool it first (fit_attention_map)");
  auto v = scale_for_display(probs, style).contiguous();
  auto acc = v.accessor<float, 2>();
  Image out(static_cast<int>(nk * cell_px), static_cast<int>(nq * cell_px));
  for (int64_t i = 0; i < nq; ++i) {
    for (int64_t j = 0; j < nk; ++j) {
      out.fill_rect(static_cast<int>(j * cell_px), static_cast<int>(i * cell_px), cell_px, cell_px,
                    colormap_color(acc[i][j], style.colormap));
    }
  }
  return out;
}

Image attention_grid(const std::vector<torch::Tensor>& rows, int cell_px,
                     const std::vector<std::string>& row_labels,
                     const std::vector<std::string>& col_labels, const ColorStyle& style,
                     const GridTicks& ticks) {
  ATTND_CHECK_INPUT(!rows.empty(), "attention_grid: no maps given");
  int64_t num_cols = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    ATTND_CHECK_INPUT(rows[r].defined() && rows[r].dim() == 3 && rows[r].size(0) > 0,
                      "attention_grid: row ", r, " must be a [H, Nq, Nk] tensor, got ",
                      rows[r].defined() ? rows[r].sizes() : torch::IntArrayRef{});
    num_cols = std::max(num_cols, rows[r].size(0));
  }
  ATTND_CHECK_INPUT(row_labels.empty() || row_labels.size() == rows.size(),
                    "attention_grid: ", row_labels.size(), " row labels for ", rows.size(),
                    " rows");
  ATTND_CHECK_INPUT(col_labels.empty() || static_cast<int64_t>(col_labels.size()) == num_cols,
                    "attention_grid: ", col_labels.size(), " column labels for ", num_cols,
                    " heads");
  std::vector<std::string> rlabels = row_labels, clabels = col_labels;
  if (rlabels.empty()) {
    for (size_t r = 0; r < rows.size(); ++r) rlabels.push_back("L" + std::to_string(r));
  }
  if (clabels.empty()) {
    for (int64_t c = 0; c < num_cols; ++c) clabels.push_back("H" + std::to_string(c));
  }

  // Render every map first; rows and columns take the size of their largest map.
  // Tick margins (left of column 0, below the last row) are not part of the map: labels centre
  // on the map itself.
  std::vector<std::vector<Image>> maps(rows.size());
  std::vector<int> col_w(num_cols, 0), row_h(rows.size(), 0);
  std::vector<int> map_left(num_cols, 0), map_w(num_cols, 0), map_h(rows.size(), 0);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int64_t h = 0; h < rows[r].size(0); ++h) {
      Image map = attention_map(rows[r][h], cell_px, style);
      map_w[h] = std::max(map_w[h], map.width);
      map_h[r] = std::max(map_h[r], map.height);
      if (!ticks.labels.empty()) {
        const int w = map.width;
        map = with_token_ticks(map, ticks.labels, ticks.px_per_position, /*left=*/h == 0,
                               /*bottom=*/r + 1 == rows.size());
        map_left[h] = std::max(map_left[h], map.width - w);
      }
      maps[r].push_back(std::move(map));
      col_w[h] = std::max({col_w[h], maps[r][h].width, text_width(clabels[h])});
      row_h[r] = std::max(row_h[r], maps[r][h].height);
    }
  }
  int label_w = 0;
  for (const auto& l : rlabels) label_w = std::max(label_w, text_width(l));
  if (label_w > 0) label_w += kPad;
  const int label_h = text_height("H0") + 2;

  int width = kPad + label_w, height = kPad + label_h;
  for (int w : col_w) width += w + kPad;
  for (int h : row_h) height += h + kPad;
  Image out(width, height);

  int x = kPad + label_w;
  for (int64_t c = 0; c < num_cols; ++c) {
    draw_text(out, x + map_left[c] + (map_w[c] - text_width(clabels[c])) / 2, kPad, clabels[c]);
    x += col_w[c] + kPad;
  }
  int y = kPad + label_h;
  for (size_t r = 0; r < rows.size(); ++r) {
    draw_text(out, kPad, y + (map_h[r] - text_height(rlabels[r])) / 2, rlabels[r]);
    x = kPad + label_w;
    for (size_t c = 0; c < maps[r].size(); ++c) {
      out.blit(maps[r][c], x, y);
      x += col_w[c] + kPad;
    }
    y += row_h[r] + kPad;
  }
  return out;
}

Image attention_grid(const torch::Tensor& probs, int cell_px,
                     const std::vector<std::string>& row_labels,
                     const std::vector<std::string>& col_labels, const ColorStyle& style) {
  ATTND_CHECK_INPUT(probs.defined() && (probs.dim() == 3 || probs.dim() == 4),
                    "attention_grid: expected [H, Nq, Nk] or [L, H, Nq, Nk], got ",
                    probs.defined() ? probs.sizes() : torch::IntArrayRef{});
  auto t = probs.dim() == 3 ? probs.unsqueeze(0) : probs;
  std::vector<torch::Tensor> rows;
  for (int64_t l = 0; l < t.size(0); ++l) rows.push_back(t[l]);
  return attention_grid(rows, cell_px, row_labels, col_labels, style, GridTicks{});
}

Image side_by_side(const std::vector<std::pair<std::string, Image>>& panels, int gap_px,
                   int title_scale) {
  ATTND_CHECK_INPUT(!panels.empty(), "side_by_side: no panels given");
  ATTND_CHECK_INPUT(gap_px >= 0 && title_scale >= 1, "side_by_side: bad gap_px ", gap_px,
                    " or title_scale ", title_scale);
  int title_h = 0, width = kPad, height = 0;
  for (const auto& [title, image] : panels) {
    if (!title.empty()) title_h = std::max(title_h, text_height(title, title_scale) + kPad);
    width += std::max(image.width, text_width(title, title_scale)) + gap_px;
    height = std::max(height, image.height);
  }
  width += kPad - gap_px;
  Image out(width, kPad + title_h + height + kPad);
  int x = kPad;
  for (const auto& [title, image] : panels) {
    draw_text(out, x, kPad, title, kBlack, title_scale);
    out.blit(image, x, kPad + title_h);
    x += std::max(image.width, text_width(title, title_scale)) + gap_px;
  }
  return out;
}

Image cls_attention_overlay(const torch::Tensor& image_chw, const torch::Tensor& cls_probs,
                            int grid_h, int grid_w, int scale, double alpha,
                            const ColorStyle& style) {
  ATTND_CHECK_INPUT(grid_h >= 1 && grid_w >= 1, "cls_attention_overlay: bad patch grid ", grid_h,
                    "x", grid_w);
  ATTND_CHECK_INPUT(scale >= 1, "cls_attention_overlay: scale must be >= 1, got ", scale);
  ATTND_CHECK_INPUT(cls_probs.defined() && cls_probs.numel() == int64_t{grid_h} * grid_w,
                    "cls_attention_overlay: expected ", grid_h * grid_w, " patch attentions (grid ",
                    grid_h, "x", grid_w, "), got ",
                    cls_probs.defined() ? cls_probs.sizes() : torch::IntArrayRef{});
  ATTND_CHECK_INPUT(alpha >= 0.0 && alpha <= 1.0, "cls_attention_overlay: alpha must be in [0, 1]");
  Image base = upscale_nearest(image_from_tensor(image_chw), scale);

  // Interpolate the values, then colour them: every blended colour stays on the colormap.
  auto v = scale_for_display(cls_probs.reshape({1, 1, grid_h, grid_w}), style);
  v = torch::nn::functional::interpolate(v, torch::nn::functional::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{base.height, base.width})
                                                .mode(torch::kBilinear)
                                                .align_corners(false))
          .clamp(0.0, 1.0)
          .reshape({base.height, base.width})
          .contiguous();
  auto acc = v.accessor<float, 2>();
  Image heat(base.width, base.height);
  for (int y = 0; y < base.height; ++y) {
    for (int x = 0; x < base.width; ++x) heat.set(x, y, colormap_color(acc[y][x], style.colormap));
  }
  return blend(base, heat, alpha);
}

torch::Tensor fit_attention_map(const torch::Tensor& probs, int64_t max_side) {
  ATTND_CHECK_INPUT(probs.defined() && probs.dim() >= 2,
                    "fit_attention_map: expected [..., Nq, Nk]");
  ATTND_CHECK_INPUT(max_side >= 1, "fit_attention_map: max_side must be >= 1");
  const int64_t nq = probs.size(-2), nk = probs.size(-1);
  if (nq <= max_side && nk <= max_side) return probs;
  auto t = cpu_float(probs);
  auto sizes = t.sizes().vec();
  auto flat = t.reshape({-1, nq, nk});
  auto pooled = torch::adaptive_avg_pool2d(flat, {std::min(nq, max_side), std::min(nk, max_side)});
  sizes[sizes.size() - 2] = pooled.size(-2);
  sizes[sizes.size() - 1] = pooled.size(-1);
  return pooled.reshape(sizes);
}

std::vector<std::string> write_attention_report(
    const std::string& out_dir, const std::map<std::string, std::map<int64_t, torch::Tensor>>& maps,
    const torch::Tensor& image, int grid_h, int grid_w, const AttentionReportOptions& options) {
  ATTND_CHECK_INPUT(!maps.empty(), "write_attention_report: no attention maps given");
  ATTND_CHECK_INPUT(options.max_map_px >= 1 && options.overlay_px >= 1,
                    "write_attention_report: max_map_px and overlay_px must be >= 1");
  const bool with_image = image.defined();
  if (with_image) {
    ATTND_CHECK_INPUT(grid_h >= 1 && grid_w >= 1, "write_attention_report: an image needs the ",
                      "patch grid (grid_h, grid_w >= 1), got ", grid_h, "x", grid_w);
  }

  // Checked CPU copies: raw (for the CLS rows) and pooled to fit max_map_px (for the maps).
  struct Entry {
    torch::Tensor raw, shown;
    int cell_px;
  };
  std::map<std::string, std::map<int64_t, Entry>> entries;
  std::set<int64_t> layers;
  for (const auto& [label, per_layer] : maps) {
    ATTND_CHECK_INPUT(!per_layer.empty(), "write_attention_report: no layers for '", label, "'");
    for (const auto& [layer, probs] : per_layer) {
      ATTND_CHECK_INPUT(probs.defined(), "write_attention_report: ", label, " layer ", layer,
                        ": undefined tensor");
      auto t = cpu_float(probs);
      if (t.dim() == 4 && t.size(0) == 1) t = t.squeeze(0);
      ATTND_CHECK_INPUT(t.dim() == 3 && t.numel() > 0, "write_attention_report: ", label, " layer ",
                        layer, ": expected probabilities [H, N, N] for one input, got ",
                        probs.sizes());
      if (with_image) {
        ATTND_CHECK_INPUT(t.size(2) == 1 + int64_t{grid_h} * grid_w,
                          "write_attention_report: ", label, " layer ", layer, " has ", t.size(2),
                          " keys; an image with a ", grid_h, "x", grid_w,
                          " patch grid needs 1 (CLS) + ", grid_h * grid_w);
      }
      Entry e;
      e.raw = t;
      e.shown = fit_attention_map(t, options.max_map_px);
      const int64_t side = std::max(e.shown.size(1), e.shown.size(2));
      e.cell_px = static_cast<int>(std::max<int64_t>(1, options.max_map_px / side));
      entries[label][layer] = e;
      layers.insert(layer);
    }
  }

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw_input_error("cannot create output directory '", out_dir, "': ", ec.message());
  std::vector<std::string> written;
  auto save = [&](const std::string& name, const Image& picture) {
    const std::string path = (fs::path(out_dir) / name).string();
    write_png(path, picture);
    written.push_back(path);
  };

  // The positions' names, shared by every map of this one input (all have N keys).
  const int64_t n = entries.begin()->second.begin()->second.raw.size(2);
  TokenTicks labels = !options.tokens.empty() ? text_token_ticks(options.tokens)
                      : with_image            ? vit_token_ticks(grid_h, grid_w)
                                              : index_ticks(n);
  ATTND_CHECK_INPUT(static_cast<int64_t>(labels.size()) == n, "write_attention_report: ",
                    labels.size(), " token names for ", n, " positions");
  auto ticks_at = [&](const Entry& e, int cell_px) {
    return GridTicks{labels, cell_px * static_cast<double>(e.shown.size(2)) / e.raw.size(2)};
  };
  // One colour scale per picture: its largest value, unless the options fix one.
  auto picture_style = [&](double largest) {
    ColorStyle s = options.style;
    if (s.vmax <= 0) s.vmax = largest > 0 ? largest : 1.0;
    return s;
  };

  for (int64_t layer : layers) {
    double largest = 0;
    for (const auto& [label, per_layer] : entries) {
      auto it = per_layer.find(layer);
      if (it != per_layer.end()) largest = std::max(largest, it->second.shown.max().item<double>());
    }
    const ColorStyle style = picture_style(largest);
    std::vector<std::pair<std::string, Image>> panels;
    for (const auto& [label, per_layer] : entries) {
      auto it = per_layer.find(layer);
      if (it == per_layer.end()) continue;
      const auto& e = it->second;
      panels.emplace_back(label + " L" + std::to_string(layer),
                          attention_grid(std::vector<torch::Tensor>{e.shown}, e.cell_px, {""}, {}, style, ticks_at(e, e.cell_px)));
    }
    save("layer" + std::to_string(layer) + ".png", with_color_bar(side_by_side(panels), style.vmax, style));
  }

  double largest = 0;
  for (const auto& [label, per_layer] : entries)
    for (const auto& [layer, e] : per_layer) largest = std::max(largest, e.shown.max().item<double>());
  const ColorStyle grid_style = picture_style(largest);
  std::vector<std::pair<std::string, Image>> grids;
  for (const auto& [label, per_layer] : entries) {
    std::vector<torch::Tensor> rows;
    std::vector<std::string> row_labels;
    int cell_px = options.max_map_px;
    for (const auto& [layer, e] : per_layer) {
      rows.push_back(e.shown);
      row_labels.push_back("L" + std::to_string(layer));
      cell_px = std::min(cell_px, e.cell_px);
    }
    grids.emplace_back(label, attention_grid(rows, cell_px, row_labels, {}, grid_style,
                                             ticks_at(per_layer.begin()->second, cell_px)));
  }
  save("grid.png", with_color_bar(side_by_side(grids), grid_style.vmax, grid_style));

  if (with_image) {
    const int scale = std::max(1, options.overlay_px / std::max(static_cast<int>(image.size(-1)),
                                                                static_cast<int>(image.size(-2))));
    for (const auto& [label, per_layer] : entries) {
      // Query 0 is CLS; its keys 1..N-1 are the patches. Averaged over heads.
      std::map<int64_t, torch::Tensor> cls;
      double cls_largest = 0;
      for (const auto& [layer, e] : per_layer) {
        cls[layer] = e.raw.select(1, 0).slice(1, 1).mean(0);
        cls_largest = std::max(cls_largest, cls[layer].max().item<double>());
      }
      const ColorStyle style = picture_style(cls_largest);
      std::vector<std::pair<std::string, Image>> panels;
      panels.emplace_back("input", upscale_nearest(image_from_tensor(image), scale));
      for (const auto& [layer, c] : cls) {
        panels.emplace_back(label + " L" + std::to_string(layer),
                            cls_attention_overlay(image, c, grid_h, grid_w, scale,
                                                  options.overlay_alpha, style));
      }
      save("cls_" + file_safe(label) + ".png", with_color_bar(side_by_side(panels), style.vmax, style));
    }
  }
  return written;
}

}  // namespace attnd
