// Recipe configuration: a declared schema of dotted keys ("train.lr") with types, defaults and
// help; a Config resolved from defaults < recipe TOML file < --set overrides.
//
// Every key a recipe may use is declared, so a misspelt key is an error with a suggestion rather
// than a silently ignored setting. Free-form sub-tables ("model") are declared as tables: their
// keys are validated later by the code that reads them (the model registry).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace attnd {

enum class ConfigType { Int, Float, Bool, String, IntList, FloatList, StringList, Table, TableList };

// "integer", "float", "boolean", "string", "list of integers", ... (for messages and help).
const char* config_type_name(ConfigType type);

struct ConfigEntry {
  std::string key;  // dotted: "train.lr"
  ConfigType type;
  nlohmann::json default_value;  // float entries hold a JSON float, tables an object, ...
  std::string help;
};

class ConfigSchema {
 public:
  // Declares a key with its default; the default's C++ type is the key's type. Declaring a key
  // twice, or a key inside a declared table, is a programming error (ATTND_CHECK).
  ConfigSchema& add(const std::string& key, int value, const std::string& help);
  ConfigSchema& add(const std::string& key, int64_t value, const std::string& help);
  ConfigSchema& add(const std::string& key, double value, const std::string& help);
  ConfigSchema& add(const std::string& key, bool value, const std::string& help);
  ConfigSchema& add(const std::string& key, const char* value, const std::string& help);
  ConfigSchema& add(const std::string& key, const std::string& value, const std::string& help);
  ConfigSchema& add(const std::string& key, const std::vector<int64_t>& value,
                    const std::string& help);
  ConfigSchema& add(const std::string& key, const std::vector<double>& value,
                    const std::string& help);
  ConfigSchema& add(const std::string& key, const std::vector<std::string>& value,
                    const std::string& help);
  // A free-form table ([model]); default {}. --set model.hidden_size=64 sets a key inside it.
  ConfigSchema& add_table(const std::string& key, const std::string& help);
  // A free-form list of tables ([[distill.loss]] ...); default []. Not settable by --set.
  ConfigSchema& add_table_list(const std::string& key, const std::string& help);

  std::vector<std::string> keys() const;  // in declaration order
  const std::vector<ConfigEntry>& entries() const { return entries_; }
  const ConfigEntry* find(const std::string& key) const;  // nullptr when undeclared
  // The declared table whose inside `key` names ("model.hidden_size" -> the "model" entry).
  const ConfigEntry* find_table_containing(const std::string& key) const;

  // Every key with its type, default and help, for --help / --print-config.
  std::string help_text() const;

 private:
  ConfigSchema& add_entry(ConfigEntry entry);
  std::vector<ConfigEntry> entries_;
};

class Config {
 public:
  // All defaults.
  explicit Config(ConfigSchema schema);

  // defaults < the TOML file at `toml_path` ("" = none) < `overrides` ("a.b=value", from --set).
  // InputError for a missing file, a TOML syntax error (file:line:col), an unknown key (with the
  // closest declared key as a suggestion) and a value of the wrong type (naming key, expected
  // type and the value). An integer is accepted where a float is declared.
  static Config load(const ConfigSchema& schema, const std::string& toml_path,
                     const std::vector<std::string>& overrides = {});
  // The same from TOML text; `source` names it in messages.
  static Config parse(const ConfigSchema& schema, const std::string& toml_text,
                      const std::string& source, const std::vector<std::string>& overrides = {});

  // Applies one "key=value". The value is read as a TOML value (3 -> integer, 3.0 / 1e-3 ->
  // float, true -> boolean, [1, 2] -> array, "x" -> string); text that is not a TOML value is
  // taken as a bare string, and so is any value given for a string key (--set run.name=007).
  void apply_override(const std::string& assignment);
  // The "key=value" that apply_override reads back as `value` (a string bare, others as JSON,
  // which is TOML for numbers, booleans and arrays): to carry resolved values into another config.
  static std::string assignment(const std::string& key, const nlohmann::json& value);

  // Getters; the key must be declared with that type (ATTND_CHECK: a programming error).
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<int64_t> get_int_list(const std::string& key) const;
  std::vector<double> get_double_list(const std::string& key) const;
  std::vector<std::string> get_string_list(const std::string& key) const;
  // A free-form table (object) or table list (array) as JSON.
  nlohmann::json table_json(const std::string& key) const;
  // True for a declared key, and for a dotted path that exists inside a free-form table
  // ("model.hidden_size" when the model table has hidden_size).
  bool has(const std::string& key) const;

  // Setters for resolved values (type checked like the getters; an int may set a float key).
  void set(const std::string& key, int value);
  void set(const std::string& key, int64_t value);
  void set(const std::string& key, double value);
  void set(const std::string& key, bool value);
  void set(const std::string& key, const char* value);
  void set(const std::string& key, const std::string& value);
  void set(const std::string& key, const std::vector<int64_t>& value);
  void set(const std::string& key, const std::vector<double>& value);
  void set(const std::string& key, const std::vector<std::string>& value);
  void set_table(const std::string& key, const nlohmann::json& value);

  const ConfigSchema& schema() const { return schema_; }
  // The resolved config as nested JSON ({"train": {"lr": 0.001}, "model": {...}}).
  nlohmann::json to_json() const;
  // The resolved config as TOML: every key (defaults included), grouped in sections, each with
  // its help as a comment. Loading it back with the same schema gives an equal Config.
  // (Written to a file with io/atomic_file.h's write_file_atomic: core does not write files.)
  std::string to_toml() const;

  bool operator==(const Config& other) const;
  bool operator!=(const Config& other) const { return !(*this == other); }

 private:
  const ConfigEntry& entry(const std::string& key, ConfigType type) const;
  void set_value(const std::string& key, ConfigType type, nlohmann::json value);

  ConfigSchema schema_;
  std::vector<nlohmann::json> values_;  // parallel to schema_.entries()
};

}  // namespace attnd
