// Enums named in recipes and files: one table of {value, "name"} gives both directions, so the
// parser, the printer and the list in the error message cannot drift apart.
//   constexpr EnumName<Mode> kModes[] = {{Mode::kA, "a"}, {Mode::kB, "b"}};
//   parse_enum(kModes, "c", "x.mode")  →  InputError "x.mode = 'c' (expected a or b)"
//   enum_name(kModes, Mode::kB)        →  "b"
#pragma once

#include <cstddef>
#include <string>

#include "attnd/core/error.h"

namespace attnd {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

// "a, b or c".
template <typename E, std::size_t N>
std::string enum_choices(const EnumName<E> (&table)[N]) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i)
    out += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(table[i].name);
  return out;
}

// key names where the text came from (a config key), for the message.
template <typename E, std::size_t N>
E parse_enum(const EnumName<E> (&table)[N], const std::string& name, const std::string& key) {
  for (const auto& entry : table)
    if (name == entry.name) return entry.value;
  throw_input_error(key, " = '", name, "' (expected ", enum_choices(table), ")");
}

// A value missing from its table is a programming error.
template <typename E, std::size_t N>
std::string enum_name(const EnumName<E> (&table)[N], E value) {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  throw_error("an enum value is missing from its name table (first entry: ", table[0].name, ")");
}

}  // namespace attnd
