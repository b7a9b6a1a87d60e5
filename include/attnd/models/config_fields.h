// A model config's plain fields, declared once: each row names the config.json key, the member
// it fills and how the value is checked. from_json, to_json and keys() are derived from the table,
// so a field cannot be read but not written (or written but not listed as a known key).
//
// Only plain one-key fields belong here. Labels, the "attnd" object, fixed values (keys attnd
// accepts with one value only), aliases and checks across fields stay explicit in each model's
// config code.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/core/torch_compat.h"
#include "attnd/models/blocks.h"

namespace attnd {

// How a field's value is read and checked (every kind also checks the JSON type; a missing or
// null key keeps the member's default).
enum class FieldKind {
  kInt,                  // any integer
  kPositiveInt,          // an integer >= 1
  kDouble,               // any number
  kPositiveDouble,       // a finite number > 0 (an epsilon)
  kDropout,              // a probability in [0, 1)
  kBool,
  kString,
  kActivation,           // a string naming an activation (parse_activation)
  kOptionalPositiveInt,  // null → unset, else an integer >= 1 (written back as null when unset)
  kOptionalDropout,      // null → unset, else a probability in [0, 1)
};

template <class C>
struct ConfigField {
  using Member = std::variant<int64_t C::*, double C::*, bool C::*, std::string C::*,
                              compat::optional<int64_t> C::*, compat::optional<double> C::*>;
  const char* key;
  FieldKind kind;
  Member member;  // its type always matches `kind` (the makers below pair them)
};

// ---- makers: one per kind, so that a row's member type and kind cannot disagree ----------------

template <class C>
ConfigField<C> int_field(const char* key, int64_t C::*m) { return {key, FieldKind::kInt, m}; }
template <class C>
ConfigField<C> positive_int_field(const char* key, int64_t C::*m) {
  return {key, FieldKind::kPositiveInt, m};
}
template <class C>
ConfigField<C> double_field(const char* key, double C::*m) { return {key, FieldKind::kDouble, m}; }
template <class C>
ConfigField<C> positive_double_field(const char* key, double C::*m) {
  return {key, FieldKind::kPositiveDouble, m};
}
template <class C>
ConfigField<C> dropout_field(const char* key, double C::*m) {
  return {key, FieldKind::kDropout, m};
}
template <class C>
ConfigField<C> bool_field(const char* key, bool C::*m) { return {key, FieldKind::kBool, m}; }
template <class C>
ConfigField<C> string_field(const char* key, std::string C::*m) {
  return {key, FieldKind::kString, m};
}
template <class C>
ConfigField<C> activation_field(const char* key, std::string C::*m) {
  return {key, FieldKind::kActivation, m};
}
template <class C>
ConfigField<C> optional_positive_int_field(const char* key, compat::optional<int64_t> C::*m) {
  return {key, FieldKind::kOptionalPositiveInt, m};
}
template <class C>
ConfigField<C> optional_dropout_field(const char* key, compat::optional<double> C::*m) {
  return {key, FieldKind::kOptionalDropout, m};
}

// A config whose weights alone would need more than this many parameters (16 GiB of float32) is
// refused before anything is allocated: a mistyped size would otherwise exhaust the memory.
inline constexpr double kMaxModelParameters = 4.0e9;

// `estimate`: the parameter count the config implies (its large matrices), computed in double so
// that it cannot overflow.
inline void check_parameter_budget(const std::string& where, double estimate) {
  ATTND_CHECK_INPUT(estimate <= kMaxModelParameters, where, ": its sizes need about ", estimate,
                    " parameters, over the limit of ", kMaxModelParameters,
                    " (16 GiB of float32); check hidden sizes, layers and vocab_size");
}

// ---- derived operations ------------------------------------------------------------------------

// Reads every field in table order (so the first bad key in the table is the one reported); a
// missing key keeps the value `c` already has (the struct's default).
template <class C>
void read_config_fields(const ConfigReader& r, const std::vector<ConfigField<C>>& fields, C& c) {
  for (const auto& f : fields) {
    const std::string key = f.key;
    switch (f.kind) {
      case FieldKind::kInt: {
        auto& v = c.*std::get<int64_t C::*>(f.member);
        v = r.get_int(key, v);
        break;
      }
      case FieldKind::kPositiveInt: {
        auto& v = c.*std::get<int64_t C::*>(f.member);
        v = r.get_int_at_least(key, v, 1);
        break;
      }
      case FieldKind::kDouble: {
        auto& v = c.*std::get<double C::*>(f.member);
        v = r.get_double(key, v);
        break;
      }
      case FieldKind::kPositiveDouble: {
        auto& v = c.*std::get<double C::*>(f.member);
        v = r.get_double(key, v);
        ATTND_CHECK_INPUT(std::isfinite(v) && v > 0, r.where(), ": config key '", key,
                          "' must be a finite number > 0, got ", v);
        break;
      }
      case FieldKind::kDropout: {
        auto& v = c.*std::get<double C::*>(f.member);
        v = r.get_dropout(key, v);
        break;
      }
      case FieldKind::kBool: {
        auto& v = c.*std::get<bool C::*>(f.member);
        v = r.get_bool(key, v);
        break;
      }
      case FieldKind::kString:
      case FieldKind::kActivation: {
        auto& v = c.*std::get<std::string C::*>(f.member);
        v = r.get_string(key, v);
        if (f.kind == FieldKind::kActivation) parse_activation(v, key);
        break;
      }
      case FieldKind::kOptionalPositiveInt: {
        auto& v = c.*std::get<compat::optional<int64_t> C::*>(f.member);
        v = r.get_optional_int(key);
        if (v) v = r.get_int_at_least(key, 0, 1);
        break;
      }
      case FieldKind::kOptionalDropout: {
        auto& v = c.*std::get<compat::optional<double> C::*>(f.member);
        v = r.get_optional_double(key);
        if (v) v = r.get_dropout(key, 0.0);
        break;
      }
    }
  }
}

// Writes every field under its key (an unset optional as null, as HF does).
template <class C>
void write_config_fields(const std::vector<ConfigField<C>>& fields, const C& c,
                         nlohmann::json& out) {
  for (const auto& f : fields) {
    std::visit(
        [&](auto member) {
          const auto& v = c.*member;
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, compat::optional<int64_t>> ||
                        std::is_same_v<T, compat::optional<double>>) {
            out[f.key] = v ? nlohmann::json(*v) : nlohmann::json();
          } else {
            out[f.key] = v;
          }
        },
        f.member);
  }
}

// `keys` followed by the table's keys that it does not have yet, in table order.
template <class C>
std::vector<std::string> with_config_field_keys(std::vector<std::string> keys,
                                                const std::vector<ConfigField<C>>& fields) {
  for (const auto& f : fields)
    if (std::find(keys.begin(), keys.end(), f.key) == keys.end()) keys.emplace_back(f.key);
  return keys;
}

}  // namespace attnd
