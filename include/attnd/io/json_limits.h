// Checks on JSON text made before nlohmann parses it. nlohmann's parser and its values recurse once
// per nesting level, so a file nested ~70,000 deep overflows the stack (SIGSEGV) instead of
// failing, and a number beyond a double's range throws an exception that names no key.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace attnd {

// Nothing attnd or Hugging Face writes nests beyond ~10 levels.
inline constexpr size_t kMaxJsonDepth = 512;
// config.json / trainer.json / tokenizer.json of real models are kilobytes to tens of megabytes.
inline constexpr uint64_t kMaxJsonFileBytes = 256ull << 20;

// InputError "<what>: ..." when `text` nests deeper than `max_depth` or holds a number that
// overflows a double (1e400); both name the key path ("a.b[3]") and the byte offset. Other syntax
// errors are left to the parser.
void check_json_text(std::string_view text, const std::string& what,
                     size_t max_depth = kMaxJsonDepth);

// check_json_text, then parse; a syntax error becomes InputError "<what>:LINE:COL: invalid JSON:
// <nlohmann's explanation>".
nlohmann::json parse_json_text(std::string_view text, const std::string& what);

}  // namespace attnd
