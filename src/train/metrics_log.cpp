#include "attnd/train/metrics_log.h"

#include <filesystem>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/io/atomic_file.h"
#include "attnd/io/json_limits.h"

namespace attnd {

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) : path_(path) {
  namespace fs = std::filesystem;
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  if (resume_step >= 0 && fs::exists(path)) {
    std::ifstream in(path);
    std::ostringstream kept;
    std::string line;
    while (std::getline(in, line)) {
      try {
        check_json_text(line, path);  // nested too deep to parse safely: treat as damaged
      } catch (const InputError&) {
        continue;
      }
      auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_discarded()) continue;  // a line cut by a crash
      if (record.value("step", int64_t{0}) <= resume_step) kept << line << '\n';
    }
    write_file_atomic(path, kept.str());
  } else if (resume_step < 0) {
    write_file_atomic(path, "");  // a fresh run starts a fresh log
  }
  out_.open(path, std::ios::app);
  if (!out_) throw_error("cannot open metrics log '", path, "' for writing");
}

void MetricsLog::write(const nlohmann::json& record) {
  out_ << record.dump() << '\n';
  out_.flush();
}

}  // namespace attnd
