// A minimal 8-bit RGB raster for attention pictures: pixels, rectangles, blits, resizing, small
// text labels (stb_easy_font) and PNG output (stb_image_write, written atomically).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace attnd {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Rgb& o) const { return !(*this == o); }
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes per pixel, no padding

  Image() = default;
  Image(int width, int height, Rgb background = kWhite);

  bool empty() const { return width == 0 || height == 0; }
  bool contains(int x, int y) const { return x >= 0 && y >= 0 && x < width && y < height; }
  // Unchecked access (x, y inside the image).
  uint8_t* at(int x, int y) { return rgb.data() + (static_cast<size_t>(y) * width + x) * 3; }
  const uint8_t* at(int x, int y) const {
    return rgb.data() + (static_cast<size_t>(y) * width + x) * 3;
  }
  // Checked access: throws attnd::Error outside the image.
  Rgb pixel(int x, int y) const;
  void set(int x, int y, Rgb c);

  void fill(Rgb c);
  // Clipped to the image; rectangles partly or wholly outside are fine.
  void fill_rect(int x, int y, int w, int h, Rgb c);
  // The outline of the box [x0, x1) × [y0, y1), `thickness` pixels wide inside it, clipped.
  void outline_rect(int x0, int y0, int x1, int y1, Rgb c, int thickness);
  // Copies `src` with its top-left corner at (x, y), clipped.
  void blit(const Image& src, int x, int y);
};

// Resizes to width × height. Nearest: each output pixel takes the source pixel under its centre
// (an integer factor repeats pixels exactly). Bilinear: half-pixel centres, edges clamped, like
// torch's interpolate(mode="bilinear", align_corners=false).
Image resize_nearest(const Image& src, int width, int height);
Image resize_bilinear(const Image& src, int width, int height);
inline Image upscale_nearest(const Image& src, int factor) {
  return resize_nearest(src, src.width * factor, src.height * factor);
}
inline Image upscale_bilinear(const Image& src, int factor) {
  return resize_bilinear(src, src.width * factor, src.height * factor);
}

// alpha·top + (1−alpha)·bottom per channel; both images must have the same size.
Image blend(const Image& bottom, const Image& top, double alpha);

// Text with stb_easy_font (printable ASCII; other bytes show as '?'), `scale` pixels per font
// pixel. Glyphs are about 5×7 font pixels; one line is text_height() tall.
int text_width(const std::string& text, int scale = 1);
int text_height(const std::string& text, int scale = 1);
void draw_text(Image& image, int x, int y, const std::string& text, Rgb color = kBlack,
               int scale = 1);

// PNG bytes of `image` (RGB, 8 bit).
std::string encode_png(const Image& image);
// Writes a PNG through a temporary file and rename (never a truncated file at `path`); creates
// missing parent directories.
void write_png(const std::string& path, const Image& image);

// A picture from a tensor: [H, W] (grey) or [1|3, H, W] (grey/RGB), uint8 or floating point, on
// any device. Floating values inside [0, 1] map to 0..255; a float tensor with values outside
// [0, 1] (e.g. normalised pixels) is min-max rescaled first. InputError for other shapes/dtypes.
Image image_from_tensor(const torch::Tensor& image);

}  // namespace attnd
