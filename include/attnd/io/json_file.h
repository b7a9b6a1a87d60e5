// JSON files: reading with errors a user can act on, writing atomically.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace attnd {

// InputError for a missing/unreadable file ("cannot open ...") or invalid JSON ("path:LINE:COL:
// invalid JSON: ...").
nlohmann::json read_json_file(const std::string& path);

// Pretty-printed (indent 2) with a trailing newline, through write_file_atomic.
void write_json_file(const std::string& path, const nlohmann::json& value);

}  // namespace attnd
