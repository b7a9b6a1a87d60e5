// metrics.jsonl: one JSON object per line ({"step":..,"split":"train"|"eval",...}), appended and
// flushed as training goes, so a crash loses at most the line being written.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <string>

namespace attnd {

class MetricsLog {
 public:
  // Opens `path` for appending. With resume_step >= 0, first drops lines of steps after it (they
  // belong to the interrupted run and will be recomputed).
  explicit MetricsLog(const std::string& path, int64_t resume_step = -1);
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace attnd
