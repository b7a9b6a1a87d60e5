// Whole-text number parsing for command-line arguments and recipe values. std::stoll / std::stod
// read the longest numeric prefix, so "12abc" was 12 and "0.5x" was 0.5; these accept a number only
// when it is the entire text. Callers word the InputError, naming their argument.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace attnd {

// A decimal integer ("-3", "42") that is all of `text`: no sign "+", no spaces, no trailing
// characters, within int64. nullopt otherwise.
std::optional<int64_t> to_int64(std::string_view text);

// A finite decimal or scientific number ("0.5", "-1e-3", "2") that is all of `text`; "inf", "nan",
// hex floats, spaces and trailing characters give nullopt, as does overflow.
std::optional<double> to_double(std::string_view text);

}  // namespace attnd
