// Small string helpers shared by every layer (core/ depends on nothing above it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace attnd {

bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);

// Without leading and trailing whitespace (std::isspace in the C locale).
std::string_view trim(std::string_view s);

// ASCII lower case; other bytes (UTF-8 included) are kept.
std::string to_lower(std::string_view s);

// The pieces between `sep`s, exactly as a std::getline(stream, item, sep) loop yields them:
// "a,,b" → {"a", "", "b"}, but a trailing separator adds no empty piece ("a," → {"a"}) and
// "" → {}.
std::vector<std::string> split(std::string_view s, char sep);

// A share in [0, 1] as a percentage with two decimals: 0.9134 → "91.34%".
std::string percent(double share);

}  // namespace attnd
