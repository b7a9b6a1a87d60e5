#include "attnd/io/json_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/io/atomic_file.h"
#include "attnd/io/json_limits.h"

namespace attnd {

nlohmann::json read_json_file(const std::string& path) {
  std::error_code ec;
  ATTND_CHECK_INPUT(!std::filesystem::is_directory(path, ec), "'", path,
                    "' is a directory, expected a JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input_error("cannot open '", path, "': ", std::strerror(errno));
  // The size is checked before reading: a huge file would be read whole into memory.
  const auto size = std::filesystem::file_size(path, ec);
  ATTND_CHECK_INPUT(ec || size <= kMaxJsonFileBytes, "'", path, "' is ", size,
                    " bytes, over the limit of ", kMaxJsonFileBytes, " bytes for a JSON file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return parse_json_text(buffer.str(), path);
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  std::string text;
  try {
    text = value.dump(2);
  } catch (const nlohmann::json::type_error& e) {
    throw_input_error("cannot write '", path, "': ", e.what());
  }
  text += '\n';
  write_file_atomic(path, text);
}

}  // namespace attnd
