// Progress of a long loop: a redrawn bar on a terminal (step, loss, it/s, ETA), plain periodic
// lines otherwise (logs, CI), nothing when quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace attnd {

class Progress {
 public:
  enum class Style { kAuto, kBar, kLines, kQuiet };
  // `label` prefixes every line; `every` is the plain-line period (a bar redraws at most ~10/s).
  Progress(std::string label, int64_t total, int64_t first = 0, Style style = Style::kAuto,
           int64_t every = 50);
  ~Progress();

  // Marks `step` (1-based count of finished steps) done; values are shown (e.g. loss, lr).
  void update(int64_t step, const std::map<std::string, double>& values = {});
  // Prints a line above the bar (evaluation results, saves) without breaking it.
  void message(const std::string& text);
  void finish();

  static std::string format_duration(double seconds);  // "1:02:03", "4:05"

 private:
  void draw(bool final_line);

  std::string label_;
  int64_t total_, first_, current_;
  Style style_;
  int64_t every_;
  std::map<std::string, double> values_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool bar_visible_ = false;
  bool finished_ = false;
};

}  // namespace attnd
