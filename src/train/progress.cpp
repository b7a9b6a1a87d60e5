#include "attnd/train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <sstream>

namespace attnd {

namespace {
std::string format_value(const std::string& key, double v) {
  char buf[64];
  if (key == "lr" || (std::fabs(v) > 0 && std::fabs(v) < 1e-3))
    std::snprintf(buf, sizeof buf, "%.2e", v);
  else
    std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}
}  // namespace

Progress::Progress(std::string label, int64_t total, int64_t first, Style style, int64_t every)
    : label_(std::move(label)), total_(total), first_(first), current_(first), style_(style),
      every_(every > 0 ? every : 1) {
  if (style_ == Style::kAuto) style_ = ::isatty(STDERR_FILENO) ? Style::kBar : Style::kLines;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

void Progress::update(int64_t step, const std::map<std::string, double>& values) {
  current_ = step;
  for (const auto& kv : values) values_[kv.first] = kv.second;
  if (style_ == Style::kQuiet) return;
  auto now = std::chrono::steady_clock::now();
  if (style_ == Style::kBar) {
    if (now - last_draw_ > std::chrono::milliseconds(100) || step == total_) {
      last_draw_ = now;
      draw(false);
    }
  } else if (step % every_ == 0 || step == total_) {
    draw(true);
  }
}

void Progress::draw(bool final_line) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t done = current_ - first_;
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - current_) / rate : NAN;
  std::ostringstream line;
  line << label_ << " " << current_ << "/" << total_;
  if (style_ == Style::kBar) {
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * current_ / total_) : 0;
    line << " [" << std::string(filled, '=') << (filled < width ? ">" : "")
         << std::string(width - filled > 0 ? width - filled - 1 : 0, ' ') << "]";
  }
  for (const auto& kv : values_) line << " " << kv.first << " " << format_value(kv.first, kv.second);
  char rate_buf[32];
  std::snprintf(rate_buf, sizeof rate_buf, "%.2f", rate);
  line << " | " << rate_buf << " it/s | ETA " << format_duration(eta);
  if (style_ == Style::kBar && !final_line) {
    std::fprintf(stderr, "\r\033[K%s", line.str().c_str());
    bar_visible_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line.str().c_str());
  }
  std::fflush(stderr);
}

void Progress::message(const std::string& text) {
  if (style_ == Style::kQuiet) return;
  if (bar_visible_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", text.c_str());
  bar_visible_ = false;
  if (style_ == Style::kBar) draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (style_ == Style::kBar && bar_visible_) {
    std::fprintf(stderr, "\r\033[K");
    draw(true);
  }
}

}  // namespace attnd
