#include "attnd/io/json_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/io/atomic_file.h"

namespace attnd {

nlohmann::json read_json_file(const std::string& path) {
  std::error_code ec;
  ATTND_CHECK_INPUT(!std::filesystem::is_directory(path, ec), "'", path,
                    "' is a directory, expected a JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input_error("cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Line and column of the byte the parser stopped at (e.byte is 1-based).
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    // Keep nlohmann's explanation, drop its "[json.exception...] parse error at ...: " prefix.
    std::string detail = e.what();
    auto pos = detail.find(": ", detail.find(']'));
    if (pos != std::string::npos) detail = detail.substr(pos + 2);
    throw_input_error(path, ":", line, ":", column, ": invalid JSON: ", detail);
  }
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
