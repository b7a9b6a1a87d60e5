#include "attnd/viz/image.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "attnd/core/error.h"
#include "attnd/io/atomic_file.h"

// The only translation unit that compiles stb_image_write's implementation.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO  // we write through write_file_atomic, never through FILE*
#include <stb_easy_font.h>
#include <stb_image_write.h>

namespace attnd {

namespace {

uint8_t to_byte(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

}  // namespace

Image::Image(int width_, int height_, Rgb background) : width(width_), height(height_) {
  ATTND_CHECK(width_ >= 0 && height_ >= 0, "image size ", width_, "x", height_);
  rgb.resize(static_cast<size_t>(width_) * height_ * 3);
  fill(background);
}

Rgb Image::pixel(int x, int y) const {
  ATTND_CHECK(contains(x, y), "pixel (", x, ", ", y, ") outside a ", width, "x", height, " image");
  const uint8_t* p = at(x, y);
  return {p[0], p[1], p[2]};
}

void Image::set(int x, int y, Rgb c) {
  ATTND_CHECK(contains(x, y), "pixel (", x, ", ", y, ") outside a ", width, "x", height, " image");
  uint8_t* p = at(x, y);
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

void Image::fill(Rgb c) { fill_rect(0, 0, width, height, c); }

void Image::outline_rect(int x0, int y0, int x1, int y1, Rgb c, int thickness) {
  fill_rect(x0, y0, x1 - x0, thickness, c);
  fill_rect(x0, y1 - thickness, x1 - x0, thickness, c);
  fill_rect(x0, y0, thickness, y1 - y0, c);
  fill_rect(x1 - thickness, y0, thickness, y1 - y0, c);
}

void Image::fill_rect(int x, int y, int w, int h, Rgb c) {
  const int x0 = std::max(x, 0), y0 = std::max(y, 0);
  const int x1 = std::min(x + w, width), y1 = std::min(y + h, height);
  for (int yy = y0; yy < y1; ++yy) {
    for (int xx = x0; xx < x1; ++xx) {
      uint8_t* p = at(xx, yy);
      p[0] = c.r;
      p[1] = c.g;
      p[2] = c.b;
    }
  }
}

void Image::blit(const Image& src, int x, int y) {
  const int x0 = std::max(x, 0), y0 = std::max(y, 0);
  const int x1 = std::min(x + src.width, width), y1 = std::min(y + src.height, height);
  if (x0 >= x1) return;
  for (int yy = y0; yy < y1; ++yy) {
    std::copy_n(src.at(x0 - x, yy - y), static_cast<size_t>(x1 - x0) * 3, at(x0, yy));
  }
}

Image resize_nearest(const Image& src, int width, int height) {
  ATTND_CHECK(!src.empty() && width > 0 && height > 0, "resize of a ", src.width, "x", src.height,
              " image to ", width, "x", height);
  Image out(width, height);
  for (int y = 0; y < height; ++y) {
    // Source pixel under the output pixel's centre; integer maths keeps exact repeats.
    const int sy =
        std::min(static_cast<int>((2LL * y + 1) * src.height / (2LL * height)), src.height - 1);
    for (int x = 0; x < width; ++x) {
      const int sx =
          std::min(static_cast<int>((2LL * x + 1) * src.width / (2LL * width)), src.width - 1);
      std::copy_n(src.at(sx, sy), 3, out.at(x, y));
    }
  }
  return out;
}

Image resize_bilinear(const Image& src, int width, int height) {
  ATTND_CHECK(!src.empty() && width > 0 && height > 0, "resize of a ", src.width, "x", src.height,
              " image to ", width, "x", height);
  Image out(width, height);
  // Half-pixel centres: output centre (x + 0.5) sits at source coordinate (x + 0.5)·s − 0.5.
  auto source_coord = [](int i, int out_size, int in_size, int& i0, int& i1, double& frac) {
    double c = (i + 0.5) * in_size / out_size - 0.5;
    c = std::clamp(c, 0.0, static_cast<double>(in_size - 1));
    i0 = static_cast<int>(std::floor(c));
    i1 = std::min(i0 + 1, in_size - 1);
    frac = c - i0;
  };
  for (int y = 0; y < height; ++y) {
    int y0, y1;
    double fy;
    source_coord(y, height, src.height, y0, y1, fy);
    for (int x = 0; x < width; ++x) {
      int x0, x1;
      double fx;
      source_coord(x, width, src.width, x0, x1, fx);
      for (int ch = 0; ch < 3; ++ch) {
        const double top = src.at(x0, y0)[ch] * (1 - fx) + src.at(x1, y0)[ch] * fx;
        const double bottom = src.at(x0, y1)[ch] * (1 - fx) + src.at(x1, y1)[ch] * fx;
        out.at(x, y)[ch] = to_byte(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return out;
}

Image blend(const Image& bottom, const Image& top, double alpha) {
  ATTND_CHECK(bottom.width == top.width && bottom.height == top.height, "blend of a ", bottom.width,
              "x", bottom.height, " and a ", top.width, "x", top.height, " image");
  Image out = bottom;
  for (size_t i = 0; i < out.rgb.size(); ++i) {
    out.rgb[i] = to_byte(alpha * top.rgb[i] + (1 - alpha) * bottom.rgb[i]);
  }
  return out;
}

namespace {

// stb_easy_font indexes a table by (char − 32) and wants a mutable char*.
std::vector<char> font_text(const std::string& text) {
  std::vector<char> out;
  out.reserve(text.size() + 1);
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(c == '\n' || (u >= 32 && u < 127) ? c : '?');
  }
  out.push_back('\0');
  return out;
}

}  // namespace

int text_width(const std::string& text, int scale) {
  auto buf = font_text(text);
  return stb_easy_font_width(buf.data()) * scale;
}

int text_height(const std::string& text, int scale) {
  auto buf = font_text(text);
  return stb_easy_font_height(buf.data()) * scale;
}

void draw_text(Image& image, int x, int y, const std::string& text, Rgb color, int scale) {
  ATTND_CHECK(scale >= 1, "text scale ", scale);
  auto buf = font_text(text);
  // Each quad is 4 vertices of {float x, y, z; uint8 rgba[4]} = 64 bytes; a glyph has < 20 quads.
  std::vector<char> vertices((text.size() + 1) * 20 * 64);
  const int quads = stb_easy_font_print(0.0f, 0.0f, buf.data(), nullptr, vertices.data(),
                                        static_cast<int>(vertices.size()));
  for (int q = 0; q < quads; ++q) {
    float vx[4], vy[4];
    for (int v = 0; v < 4; ++v) {
      const char* vertex = vertices.data() + (q * 4 + v) * 16;
      std::memcpy(&vx[v], vertex, sizeof(float));
      std::memcpy(&vy[v], vertex + 4, sizeof(float));
    }
    // Quads are axis-aligned rectangles in font pixels.
    const float x0 = *std::min_element(vx, vx + 4), x1 = *std::max_element(vx, vx + 4);
    const float y0 = *std::min_element(vy, vy + 4), y1 = *std::max_element(vy, vy + 4);
    const int px0 = static_cast<int>(std::lround(x0 * scale)) + x;
    const int py0 = static_cast<int>(std::lround(y0 * scale)) + y;
    const int px1 = static_cast<int>(std::lround(x1 * scale)) + x;
    const int py1 = static_cast<int>(std::lround(y1 * scale)) + y;
    image.fill_rect(px0, py0, px1 - px0, py1 - py0, color);
  }
}

std::string encode_png(const Image& image) {
  ATTND_CHECK(!image.empty(), "cannot encode an empty image as PNG");
  ATTND_CHECK(image.rgb.size() == static_cast<size_t>(image.width) * image.height * 3,
              "image buffer has ", image.rgb.size(), " bytes for ", image.width, "x", image.height);
  std::string out;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                               static_cast<size_t>(size));
  };
  const int ok = stbi_write_png_to_func(append, &out, image.width, image.height, 3,
                                        image.rgb.data(), image.width * 3);
  ATTND_CHECK(ok != 0, "PNG encoding of a ", image.width, "x", image.height, " image failed");
  return out;
}

void write_png(const std::string& path, const Image& image) {
  write_file_atomic(path, encode_png(image));
}

Image image_from_tensor(const torch::Tensor& image) {
  ATTND_CHECK_INPUT(image.defined(), "image_from_tensor: the image tensor is undefined");
  torch::Tensor t = image.detach().to(torch::kCPU);
  if (t.dim() == 2) t = t.unsqueeze(0);
  ATTND_CHECK_INPUT(t.dim() == 3 && (t.size(0) == 1 || t.size(0) == 3),
                    "image_from_tensor: expected an image of shape [H, W], [1, H, W] or [3, H, W], "
                    "got ",
                    image.sizes());
  ATTND_CHECK_INPUT(t.size(1) > 0 && t.size(2) > 0, "image_from_tensor: empty image ",
                    image.sizes());
  if (t.scalar_type() != torch::kByte) {
    ATTND_CHECK_INPUT(t.is_floating_point(),
                      "image_from_tensor: expected a uint8 or floating-point image, got ",
                      t.scalar_type());
    t = t.to(torch::kFloat);
    const float lo = t.min().item<float>(), hi = t.max().item<float>();
    if (lo < 0.0f || hi > 1.0f) t = hi > lo ? (t - lo) / (hi - lo) : torch::zeros_like(t);
    t = (t * 255.0f).round().clamp(0, 255).to(torch::kByte);
  }
  if (t.size(0) == 1) t = t.expand({3, t.size(1), t.size(2)});
  t = t.permute({1, 2, 0}).contiguous();  // HWC, the interleaved layout of Image
  Image out(static_cast<int>(t.size(1)), static_cast<int>(t.size(0)));
  std::memcpy(out.rgb.data(), t.data_ptr<uint8_t>(), out.rgb.size());
  return out;
}

}  // namespace attnd
