// Attention pictures: colormap, maps, grids, overlays, PNG output and the report.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#include "attnd/core/error.h"
#include "attnd/viz/axes.h"
#include "attnd/viz/colormap.h"
#include "attnd/viz/heatmap.h"
#include "attnd/viz/image.h"
#include "attnd/viz/scatter.h"
#include "test_utils.h"

namespace attnd {

// gtest prints Rgb through ADL, so this lives in attnd itself.
inline std::ostream& operator<<(std::ostream& out, const Rgb& c) {
  return out << "(" << int{c.r} << ", " << int{c.g} << ", " << int{c.b} << ")";
}

namespace {

namespace fs = std::filesystem;

// Published matplotlib values (lib/matplotlib/_cm_listed.py), converted to bytes by hand:
// round(v * 255). viridis entry 0 = #440154, 64 = #3B528B, 128 = #21918C, 192 = #5EC962,
// 255 = #FDE725; magma entry 0 = #000004, 255 = #FCFDBF.
constexpr Rgb kViridis0{68, 1, 84};
constexpr Rgb kViridis64{59, 82, 139};
constexpr Rgb kViridis128{33, 145, 140};
constexpr Rgb kViridis192{94, 201, 98};
constexpr Rgb kViridis255{253, 231, 37};

// Relative luminance (sRGB → linear, Rec. 709 weights).
double luminance(Rgb c) {
  auto lin = [](uint8_t v) {
    const double s = v / 255.0;
    return s <= 0.04045 ? s / 12.92 : std::pow((s + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
}

struct Loaded {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// The independent reader: stb_image decodes what stb_image_write + our atomic write produced.
Loaded load_png(const std::string& path) {
  Loaded out;
  int channels = 0;
  unsigned char* data = stbi_load(path.c_str(), &out.width, &out.height, &channels, 3);
  if (!data) return out;
  out.rgb.assign(data, data + static_cast<size_t>(out.width) * out.height * 3);
  stbi_image_free(data);
  return out;
}

// Bounding box of the pixels of colour c: {x0, y0, x1, y1} (exclusive), or all -1 if none.
std::array<int, 4> bbox_of(const Image& img, Rgb c) {
  std::array<int, 4> box{-1, -1, -1, -1};
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      if (img.pixel(x, y) != c) continue;
      if (box[0] < 0) box = {x, y, x + 1, y + 1};
      box = {std::min(box[0], x), std::min(box[1], y), std::max(box[2], x + 1),
             std::max(box[3], y + 1)};
    }
  }
  return box;
}

TEST(Colormap, EndpointsAndControlPointsMatchMatplotlib) {
  EXPECT_EQ(colormap_color(0.0), kViridis0);
  EXPECT_EQ(colormap_color(1.0), kViridis255);
  EXPECT_EQ(colormap_table(Colormap::kViridis)[64], kViridis64);
  EXPECT_EQ(colormap_table(Colormap::kViridis)[128], kViridis128);
  EXPECT_EQ(colormap_table(Colormap::kViridis)[192], kViridis192);
  EXPECT_EQ(colormap_color(0.0, Colormap::kMagma), (Rgb{0, 0, 4}));
  EXPECT_EQ(colormap_color(1.0, Colormap::kMagma), (Rgb{252, 253, 191}));
  // Out of range and NaN clamp.
  EXPECT_EQ(colormap_color(-3.0), kViridis0);
  EXPECT_EQ(colormap_color(7.0), kViridis255);
  EXPECT_EQ(colormap_color(std::nan("")), kViridis0);
}

TEST(Colormap, LuminanceIncreasesMonotonically) {
  for (auto cmap : {Colormap::kViridis, Colormap::kMagma}) {
    const auto& table = colormap_table(cmap);
    // 8-bit rounding may trade one step of red for one of green: allow dips far below the
    // ~0.003 rise per entry, but no real reversal.
    for (int i = 1; i < 256; ++i) {
      EXPECT_GE(luminance(table[i]), luminance(table[i - 1]) - 5e-4) << "entry " << i;
    }
    for (int i = 16; i < 256; i += 16) {
      EXPECT_GT(luminance(table[i]), luminance(table[i - 16])) << "entry " << i;
    }
  }
}

TEST(Colormap, ScalingModes) {
  auto v = torch::tensor({0.0f, 0.01f, 0.04f, 0.16f});
  auto lin = scale_for_display(v, {});
  EXPECT_TRUE(torch::allclose(lin, torch::tensor({0.0f, 0.0625f, 0.25f, 1.0f})));
  ColorStyle sqrt_style;
  sqrt_style.scaling = ColorScaling::kSqrt;
  EXPECT_TRUE(
      torch::allclose(scale_for_display(v, sqrt_style), torch::tensor({0.0f, 0.25f, 0.5f, 1.0f})));
  ColorStyle log_style;
  log_style.scaling = ColorScaling::kLog;
  log_style.vmax = 1.0;  // 0.01 = two decades down → 1/3, 0.001 or less → 0
  EXPECT_TRUE(torch::allclose(scale_for_display(torch::tensor({1e-5f, 0.01f, 1.0f}), log_style),
                              torch::tensor({0.0f, 1.0f / 3.0f, 1.0f})));
  ColorStyle fixed;
  fixed.vmax = 0.32;
  EXPECT_TRUE(
      torch::allclose(scale_for_display(v, fixed), torch::tensor({0.0f, 0.03125f, 0.125f, 0.5f})));
  EXPECT_TRUE(torch::equal(scale_for_display(torch::zeros({3}), {}), torch::zeros({3})));
  EXPECT_THROW(parse_colormap("jet"), InputError);
  EXPECT_EQ(parse_color_scaling("sqrt"), ColorScaling::kSqrt);
}

TEST(Heatmap, KnownTwoByTwoMap) {
  // Rows are queries, columns keys; scaled by the map's own maximum (1.0).
  auto probs = torch::tensor({{1.0f, 0.0f}, {0.25f, 0.753f}});
  Image img = attention_map(probs, 3);
  ASSERT_EQ(img.width, 6);
  ASSERT_EQ(img.height, 6);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 3; ++x) {
      EXPECT_EQ(img.pixel(x, y), kViridis255);          // q0 k0 = 1
      EXPECT_EQ(img.pixel(x + 3, y), kViridis0);        // q0 k1 = 0
      EXPECT_EQ(img.pixel(x, y + 3), kViridis64);       // q1 k0 = 0.25 → entry 64
      EXPECT_EQ(img.pixel(x + 3, y + 3), kViridis192);  // q1 k1 = 0.753 → entry 192
    }
  }
  // Own-max scaling: half the values give the same picture; sqrt lifts 0.25 to 0.5.
  EXPECT_EQ(attention_map(probs * 0.5, 3).rgb, img.rgb);
  ColorStyle sqrt_style;
  sqrt_style.scaling = ColorScaling::kSqrt;
  EXPECT_EQ(attention_map(probs, 1, sqrt_style).pixel(0, 1), kViridis128);
  EXPECT_THROW(attention_map(torch::ones({2, 2, 2}), 3), InputError);
  EXPECT_THROW(attention_map(probs, 0), InputError);
}

TEST(Heatmap, GridPlacesEveryHeadOnce) {
  // 2 layers × 3 heads of 2×2 maps: head h of layer l is one-hot at (l, h % 2) → the brightest
  // colour appears once per map, so 6 bright 4×4 squares in total, in a 2×3 arrangement.
  auto probs = torch::zeros({2, 3, 2, 2});
  for (int l = 0; l < 2; ++l)
    for (int h = 0; h < 3; ++h) probs[l][h][l][h % 2] = 1.0f;
  Image grid = attention_grid(probs, 4, {"teacher L0", "teacher L1"});
  int bright = 0;
  for (int y = 0; y < grid.height; ++y)
    for (int x = 0; x < grid.width; ++x) bright += grid.pixel(x, y) == kViridis255;
  EXPECT_EQ(bright, 6 * 16);
  EXPECT_GT(grid.width, 3 * 8);
  EXPECT_GT(grid.height, 2 * 8);
  EXPECT_THROW(attention_grid(probs, 4, {"only one"}), InputError);
}

TEST(Image, NearestUpscaleRepeatsPixels) {
  Image src(2, 2);
  src.set(0, 0, {10, 20, 30});
  src.set(1, 0, {40, 50, 60});
  src.set(0, 1, {70, 80, 90});
  src.set(1, 1, {100, 110, 120});
  Image big = upscale_nearest(src, 3);
  ASSERT_EQ(big.width, 6);
  ASSERT_EQ(big.height, 6);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x) EXPECT_EQ(big.pixel(x, y), src.pixel(x / 3, y / 3));
}

TEST(Image, BilinearMatchesHandValuesAndTorch) {
  // 2×1 → 4×1: centres at source x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
  Image ramp(2, 1);
  ramp.set(0, 0, {0, 0, 0});
  ramp.set(1, 0, {255, 255, 255});
  Image up = resize_bilinear(ramp, 4, 1);
  EXPECT_EQ(up.pixel(0, 0).r, 0);
  EXPECT_EQ(up.pixel(1, 0).r, 64);   // 63.75
  EXPECT_EQ(up.pixel(2, 0).r, 191);  // 191.25
  EXPECT_EQ(up.pixel(3, 0).r, 255);

  // Random 3×2 → 7×5 against torch's bilinear interpolation (align_corners=false).
  torch::manual_seed(3);
  auto chw = torch::randint(0, 256, {3, 2, 3}, torch::kByte);
  Image src = image_from_tensor(chw);
  Image out = resize_bilinear(src, 7, 5);
  auto ref = torch::nn::functional::interpolate(chw.to(torch::kFloat).unsqueeze(0),
                                                torch::nn::functional::InterpolateFuncOptions()
                                                    .size(std::vector<int64_t>{5, 7})
                                                    .mode(torch::kBilinear)
                                                    .align_corners(false))
                 .squeeze(0);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x)
      for (int c = 0; c < 3; ++c)
        EXPECT_NEAR(out.at(x, y)[c], ref[c][y][x].item<float>(), 0.5f + 1e-3f);
}

TEST(Image, FromTensor) {
  auto chw =
      torch::tensor({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, torch::kByte).reshape({3, 2, 2});
  Image img = image_from_tensor(chw);
  ASSERT_EQ(img.width, 2);
  ASSERT_EQ(img.height, 2);
  EXPECT_EQ(img.pixel(1, 0), (Rgb{2, 6, 10}));  // channel planes interleaved
  EXPECT_EQ(img.pixel(0, 1), (Rgb{3, 7, 11}));
  Image grey = image_from_tensor(torch::tensor({{0.0f, 1.0f}, {0.5f, 0.2f}}));
  EXPECT_EQ(grey.pixel(1, 0), (Rgb{255, 255, 255}));
  EXPECT_EQ(grey.pixel(1, 1), (Rgb{51, 51, 51}));
  // Normalised pixels (outside [0, 1]) are min-max rescaled.
  Image norm = image_from_tensor(torch::tensor({{{-1.0f, 1.0f}}}));
  EXPECT_EQ(norm.pixel(0, 0), kBlack);
  EXPECT_EQ(norm.pixel(1, 0), kWhite);
  EXPECT_THROW(image_from_tensor(torch::zeros({2, 4, 4})), InputError);
  EXPECT_THROW(image_from_tensor(torch::zeros({3, 4, 4}, torch::kLong)), InputError);
}

TEST(Image, TextStaysInsideItsBox) {
  Image img(120, 30);
  const std::string label = "teacher L2 H1";
  draw_text(img, 5, 6, label, {255, 0, 0});
  auto box = bbox_of(img, {255, 0, 0});
  ASSERT_GE(box[0], 0) << "no text pixels drawn";
  EXPECT_GE(box[0], 5);
  EXPECT_GE(box[1], 6);
  EXPECT_LE(box[2], 5 + text_width(label));
  EXPECT_LE(box[3], 6 + text_height(label));
  EXPECT_GT(box[2] - box[0], text_width(label) / 2);
  // Scale 2 doubles the extent; text past the edge is clipped, not a crash.
  Image img2(240, 60);
  draw_text(img2, 10, 12, label, {255, 0, 0}, 2);
  auto box2 = bbox_of(img2, {255, 0, 0});
  EXPECT_EQ(box2[2] - box2[0], 2 * (box[2] - box[0]));
  draw_text(img, 110, 25, label, {0, 0, 255});
}

TEST(Image, PngRoundTripThroughStbImage) {
  test::TempDir dir;
  Image img(7, 5);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x)
      img.set(x, y,
              {static_cast<uint8_t>(x * 36), static_cast<uint8_t>(y * 60),
               static_cast<uint8_t>((x * 7 + y * 13) % 256)});
  const std::string path = dir / "sub/pic.png";
  write_png(path, img);
  Loaded back = load_png(path);
  ASSERT_EQ(back.width, 7);
  ASSERT_EQ(back.height, 5);
  EXPECT_EQ(back.rgb, img.rgb);
  // Overwrite in place: the new picture replaces the old, no temporary file is left behind.
  img.fill({1, 2, 3});
  write_png(path, img);
  EXPECT_EQ(load_png(path).rgb, img.rgb);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir / "sub")) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(Heatmap, SideBySideCopiesPanels) {
  Image red(10, 8, {255, 0, 0}), blue(6, 12, {0, 0, 255});
  Image both = side_by_side({{"", red}, {"student L0", blue}});
  auto r = bbox_of(both, {255, 0, 0});
  auto b = bbox_of(both, {0, 0, 255});
  EXPECT_EQ(r[2] - r[0], 10);
  EXPECT_EQ(r[3] - r[1], 8);
  EXPECT_EQ(b[2] - b[0], 6);
  EXPECT_EQ(b[3] - b[1], 12);
  EXPECT_LT(r[2], b[0]);  // left to right
  EXPECT_EQ(r[1], b[1]);  // top-aligned
  EXPECT_GT(b[1], 0);     // title room above
}

TEST(Heatmap, ClsOverlay) {
  auto image = torch::zeros({1, 28, 28});  // black
  // Uniform attention: every pixel is the top colour at alpha 1, a quarter of it at alpha 0.25.
  auto uniform = torch::full({49}, 1.0f / 49);
  Image full = cls_attention_overlay(image, uniform, 7, 7, 3, 1.0);
  ASSERT_EQ(full.width, 84);
  ASSERT_EQ(full.height, 84);
  EXPECT_EQ(bbox_of(full, kViridis255), (std::array<int, 4>{0, 0, 84, 84}));
  Image quarter = cls_attention_overlay(image, uniform, 7, 7, 3, 0.25);
  EXPECT_EQ(quarter.pixel(40, 17), (Rgb{63, 58, 9}));  // 0.25·(253, 231, 37)
  // alpha 0 leaves the (upscaled) image.
  auto grey = torch::rand({1, 28, 28});
  EXPECT_EQ(cls_attention_overlay(grey, uniform, 7, 7, 2, 0.0).rgb,
            upscale_nearest(image_from_tensor(grey), 2).rgb);
  // A single attended patch (row 2, column 5; row-major) is brightest inside its 12×12 block.
  auto one_hot = torch::zeros({49});
  one_hot[2 * 7 + 5] = 1.0f;
  Image hot = cls_attention_overlay(image, one_hot, 7, 7, 3, 1.0);
  double best = -1;
  int bx = -1, by = -1;
  for (int y = 0; y < 84; ++y)
    for (int x = 0; x < 84; ++x)
      if (luminance(hot.pixel(x, y)) > best) best = luminance(hot.pixel(x, y)), bx = x, by = y;
  EXPECT_EQ(bx / 12, 5);
  EXPECT_EQ(by / 12, 2);
  EXPECT_THROW(cls_attention_overlay(image, torch::zeros({48}), 7, 7, 3), InputError);
}

TEST(Heatmap, FitAttentionMapAveragesBlocks) {
  auto probs = torch::arange(16, torch::kFloat).reshape({1, 4, 4});
  EXPECT_TRUE(torch::equal(fit_attention_map(probs, 4), probs));
  auto pooled = fit_attention_map(probs, 2);
  // Means of the 2×2 blocks, by hand.
  EXPECT_TRUE(torch::allclose(pooled, torch::tensor({{{2.5f, 4.5f}, {10.5f, 12.5f}}})));
}

std::map<int64_t, torch::Tensor> random_layers(std::vector<int64_t> layers, int64_t heads,
                                               int64_t n) {
  std::map<int64_t, torch::Tensor> out;
  for (auto l : layers) out[l] = torch::softmax(torch::randn({heads, n, n}), -1);
  return out;
}

TEST(Report, WritesExpectedFilesForAnImage) {
  test::TempDir dir;
  torch::manual_seed(0);
  std::map<std::string, std::map<int64_t, torch::Tensor>> maps;
  maps["teacher"] = random_layers({0, 1}, 2, 5);  // CLS + 2×2 patches
  maps["student"] = random_layers({1}, 2, 5);
  auto image = torch::rand({1, 8, 8});
  auto files = write_attention_report(dir.path(), maps, image, 2, 2);
  const std::vector<std::string> expected = {dir / "layer0.png", dir / "layer1.png",
                                             dir / "grid.png", dir / "cls_student.png",
                                             dir / "cls_teacher.png"};
  EXPECT_EQ(files, expected);
  for (const auto& f : expected) {
    Loaded png = load_png(f);
    EXPECT_GT(png.width, 0) << f;
  }
  // layer1 holds two panels (teacher and student), layer0 only the teacher's.
  EXPECT_GT(load_png(dir / "layer1.png").width, load_png(dir / "layer0.png").width);
  int count = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) count += entry.is_regular_file();
  EXPECT_EQ(count, 5);
}

TEST(Report, TextHasNoOverlayAndChecksShapes) {
  test::TempDir dir;
  torch::manual_seed(1);
  std::map<std::string, std::map<int64_t, torch::Tensor>> maps;
  maps["teacher"] = random_layers({3}, 2, 600);  // long: pooled down to 256 per side
  auto files = write_attention_report(dir.path(), maps, torch::Tensor(), 0, 0);
  ASSERT_EQ(files.size(), 2u);
  Loaded layer = load_png(dir / "layer3.png");
  EXPECT_GT(layer.width, 2 * 256);
  EXPECT_LT(layer.width, 2 * 256 + 200);  // + index ticks and the colour bar
  // A 5-token map cannot belong to a 3×3 patch grid.
  std::map<std::string, std::map<int64_t, torch::Tensor>> small;
  small["teacher"] = random_layers({0}, 2, 5);
  EXPECT_THROW(write_attention_report(dir.path(), small, torch::rand({1, 9, 9}), 3, 3), InputError);
  EXPECT_THROW(write_attention_report(dir.path(), {}, torch::Tensor(), 0, 0), InputError);
  small["teacher"][0] = torch::rand({5, 5});
  EXPECT_THROW(write_attention_report(dir.path(), small, torch::Tensor(), 0, 0), InputError);
}

// ---- colour bar and token ticks (issue 17) ---------------------------------------------------------

// The values written on the bar invert scale_for_display; by hand for vmax 0.8.
TEST(Axes, ColorBarValuesInvertTheScaling) {
  EXPECT_DOUBLE_EQ(color_bar_value(0.5, 0.8, ColorScaling::kLinear), 0.4);
  EXPECT_DOUBLE_EQ(color_bar_value(0.5, 0.8, ColorScaling::kSqrt), 0.2);
  EXPECT_NEAR(color_bar_value(0.0, 0.8, ColorScaling::kLog), 0.8e-3, 1e-15);
  EXPECT_NEAR(color_bar_value(0.5, 0.8, ColorScaling::kLog), 0.8 * std::pow(10.0, -1.5), 1e-15);
  for (auto scaling : {ColorScaling::kLinear, ColorScaling::kSqrt, ColorScaling::kLog}) {
    ColorStyle style;
    style.scaling = scaling;
    style.vmax = 0.8;
    for (double t : {0.25, 0.5, 0.75, 1.0}) {
      auto v = torch::tensor({color_bar_value(t, 0.8, scaling)}, torch::kDouble);
      EXPECT_NEAR(scale_for_display(v, style).item<double>(), t, 1e-6) << t;
    }
  }
}

// The bar runs from viridis' last colour at the top to its first at the bottom (matplotlib's
// values, as in Colormap.EndpointsAndControlPointsMatchMatplotlib), with its range written beside.
TEST(Axes, ColorBarShowsTheColormapTopToBottom) {
  const Image bar = color_bar(100, 0.8, ColorStyle{});
  std::vector<int> rows;  // rows of column 5 in bar colours, top to bottom
  for (int y = 0; y < bar.height; ++y)
    if (bar.pixel(5, y) != kWhite && bar.pixel(5, y) != kBlack) rows.push_back(y);
  ASSERT_EQ(rows.size(), 100u);
  EXPECT_EQ(bar.pixel(5, rows.front()), kViridis255);
  EXPECT_EQ(bar.pixel(5, rows.back()), kViridis0);
  EXPECT_EQ(bar.pixel(5, rows[50]), colormap_color(1.0 - 50.0 / 99.0));
  // Text beside the bar: "0.8", "0.4" and "0" are wider than nothing.
  EXPECT_GT(bar.width, 12 + text_width("0.8"));
}

TEST(Axes, TokenTicksNameTokensPatchRowsOrIndices) {
  EXPECT_EQ(text_token_ticks({"[CLS]", "hello", "##ing", "extraordinarily"}),
            (TokenTicks{"[CLS]", "hello", "##ing", "extraordi~"}));
  // 60 tokens > 48: every 5th index (60 / 5 = 12 ticks <= 16).
  auto many = text_token_ticks(std::vector<std::string>(60, "w"));
  ASSERT_EQ(many.size(), 60u);
  EXPECT_EQ(many[0], "0");
  EXPECT_EQ(many[5], "5");
  EXPECT_EQ(many[55], "55");
  EXPECT_EQ(many[3], "");
  // CLS, then patch rows of a 2×3 grid at tokens 1 and 4.
  EXPECT_EQ(vit_token_ticks(2, 3), (TokenTicks{"CLS", "r0", "", "", "r1", "", ""}));
}

// Tick marks sit at the centre of each position's cells: 4 positions of 20 px at 10, 30, 50, 70.
// Labels closer than a text line are thinned: at 10 px (less than a line), every other one.
TEST(Axes, TicksSitAtCellCentres) {
  ASSERT_LT(text_height("0"), 20);
  Image map(80, 80, kViridis0);
  const Image out = with_token_ticks(map, {"a", "b", "c", "d"}, 20.0);
  const int left = out.width - 80;
  ASSERT_GT(left, 3);
  EXPECT_EQ(out.pixel(left, 0), kViridis0);  // the map, shifted right by the margin
  for (int c : {10, 30, 50, 70}) {
    EXPECT_EQ(out.pixel(left - 1, c), kBlack) << c;   // query tick, left
    EXPECT_EQ(out.pixel(left + c, 80), kBlack) << c;  // key tick, below
  }
  EXPECT_EQ(out.pixel(left - 1, 20), kWhite);
  EXPECT_EQ(out.pixel(left + 20, 80), kWhite);
  ASSERT_GT(text_height("0"), 10);
  const Image dense = with_token_ticks(Image(40, 40, kViridis0), {"a", "b", "c", "d"}, 10.0);
  const int dl = dense.width - 40;
  EXPECT_EQ(dense.pixel(dl - 1, 5), kBlack);
  EXPECT_EQ(dense.pixel(dl - 1, 15), kWhite);  // would overlap "a"
  EXPECT_EQ(dense.pixel(dl - 1, 25), kBlack);
}

// A report picture uses one colour scale for all its maps: a head whose largest weight is half
// the picture's largest shows it as the colour of 0.5, not of 1 (each map on its own scale did).
TEST(Report, OnePictureOneScaleWithAColorBar) {
  test::TempDir dir;
  auto probs = torch::zeros({2, 2, 2});
  probs[0][0][0] = 0.8;  // head 0: max 0.8
  probs[1][0][0] = 0.4;  // head 1: max 0.4
  std::map<std::string, std::map<int64_t, torch::Tensor>> maps;
  maps["model"][0] = probs;
  AttentionReportOptions options;
  options.tokens = {"x", "y"};
  write_attention_report(dir.path(), maps, torch::Tensor(), 0, 0, options);
  Loaded png = load_png(dir / "layer0.png");
  int full = 0, half = 0;
  for (int y = 0; y < png.height; ++y)
    for (int x = 0; x < png.width; ++x) {
      const uint8_t* p = png.rgb.data() + (static_cast<size_t>(y) * png.width + x) * 3;
      const Rgb c{p[0], p[1], p[2]};
      full += c == colormap_color(1.0);
      half += c == colormap_color(0.5);
    }
  // 128-px cells: one full-scale cell (head 0) and one half-scale cell (head 1), plus a row of
  // each colour in the bar.
  EXPECT_GE(full, 128 * 128);
  EXPECT_LT(full, 2 * 128 * 128);
  EXPECT_GE(half, 128 * 128);
  EXPECT_LT(half, 2 * 128 * 128);
}

TEST(Scatter, PcaOfTwoDimensionsMatchesTheHandEigenvectors) {
  // Points in 2-D: the principal axes are the eigenvectors of the 2x2 covariance, computed here
  // by loops and the closed form, then signed so the largest loading is positive.
  const std::vector<std::pair<double, double>> pts = {{0, 0.1}, {1, 2.2}, {2, 3.9}, {3, 6.3}, {4, 7.8}, {-1, -2.1}};
  const double n = static_cast<double>(pts.size());
  double mx = 0, my = 0;
  for (auto [x, y] : pts) mx += x / n, my += y / n;
  double sxx = 0, sxy = 0, syy = 0;
  for (auto [x, y] : pts) sxx += (x - mx) * (x - mx), sxy += (x - mx) * (y - my), syy += (y - my) * (y - my);
  const double tr = sxx + syy, det = sxx * syy - sxy * sxy;
  const double l1 = tr / 2 + std::sqrt(tr * tr / 4 - det);
  double v1x = sxy, v1y = l1 - sxx;  // (S - l1 I) v = 0
  const double norm = std::hypot(v1x, v1y);
  v1x /= norm, v1y /= norm;
  if (std::abs(v1x) > std::abs(v1y) ? v1x < 0 : v1y < 0) v1x = -v1x, v1y = -v1y;
  double v2x = -v1y, v2y = v1x;
  if (std::abs(v2x) > std::abs(v2y) ? v2x < 0 : v2y < 0) v2x = -v2x, v2y = -v2y;
  auto features = torch::zeros({static_cast<int64_t>(pts.size()), 2});
  for (size_t i = 0; i < pts.size(); ++i) features[i][0] = pts[i].first, features[i][1] = pts[i].second;
  auto projected = pca_2d(features);
  ASSERT_EQ(projected.sizes(), (std::vector<int64_t>{6, 2}));
  for (size_t i = 0; i < pts.size(); ++i) {
    const double dx = pts[i].first - mx, dy = pts[i].second - my;
    EXPECT_NEAR(projected[i][0].item<double>(), dx * v1x + dy * v1y, 1e-4) << i;
    EXPECT_NEAR(projected[i][1].item<double>(), dx * v2x + dy * v2y, 1e-4) << i;
  }
  EXPECT_THROW(pca_2d(torch::zeros({1, 3})), InputError);
  EXPECT_THROW(pca_2d(torch::zeros({4, 1})), InputError);
}

TEST(Scatter, EveryGroupStaysVisibleWhereGroupsOverlap) {
  // Two groups at exactly the same positions: drawn group by group, the second would cover
  // every point of the first. Both colours must show, in about equal numbers.
  const int64_t per_group = 40;
  auto points = torch::zeros({2 * per_group, 2});
  std::vector<int64_t> groups;
  for (int64_t g = 0; g < 2; ++g)
    for (int64_t i = 0; i < per_group; ++i) {
      points[g * per_group + i][0] = static_cast<float>(i % 8);
      points[g * per_group + i][1] = static_cast<float>(i / 8);
      groups.push_back(g);
    }
  const auto& colors = group_colors();
  auto image = scatter_plot(points, groups, {"first", "second"}, colors);
  std::map<int, int> pixels;  // group → pixels of its colour in the plot area (legend excluded)
  for (int y = 60; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      for (int g = 0; g < 2; ++g)
        if (image.pixel(x, y) == colors[g]) ++pixels[g];
  EXPECT_GT(pixels[0], 9 * per_group / 4) << "the first group is hidden";
  EXPECT_GT(pixels[1], 9 * per_group / 4) << "the second group is hidden";
  EXPECT_THROW(scatter_plot(points, {0, 1}, {"a", "b"}, colors), InputError);
  EXPECT_THROW(scatter_plot(points, std::vector<int64_t>(2 * per_group, 7), {"a", "b"}, colors), InputError);
}

}  // namespace
}  // namespace attnd
