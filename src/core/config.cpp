#include "attnd/core/config.h"

#include <toml++/toml.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/core/strings.h"
#include "attnd/core/suggest.h"

namespace attnd {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

const char* config_type_name(ConfigType type) {
  switch (type) {
    case ConfigType::Int: return "integer";
    case ConfigType::Float: return "float";
    case ConfigType::Bool: return "boolean";
    case ConfigType::String: return "string";
    case ConfigType::IntList: return "list of integers";
    case ConfigType::FloatList: return "list of floats";
    case ConfigType::StringList: return "list of strings";
    case ConfigType::Table: return "table";
    case ConfigType::TableList: return "list of tables";
  }
  return "?";
}

namespace {

bool is_table_type(ConfigType type) {
  return type == ConfigType::Table || type == ConfigType::TableList;
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

// Only these four blanks, unlike core's trim (std::isspace): what --set has always accepted.
std::string trim_blanks(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// ---- TOML text output -----------------------------------------------------------------------

// Shortest decimal text that reads back as exactly `v`, always with a '.' or exponent so that
// TOML reads it as a float again.
std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  // TOML needs a digit before an exponent's fraction, which %g always gives; nothing else to fix.
  return s;
}

std::string quote_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string format_key(const std::string& key) {
  bool bare = !key.empty();
  for (char c : key)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) bare = false;
  return bare ? key : quote_string(key);
}

bool is_table_array(const ordered_json& v) {
  if (!v.is_array() || v.empty()) return false;
  for (const auto& e : v)
    if (!e.is_object()) return false;
  return true;
}

std::string format_value(const ordered_json& v) {
  switch (v.type()) {
    case ordered_json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case ordered_json::value_t::number_integer: return std::to_string(v.get<int64_t>());
    case ordered_json::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
    case ordered_json::value_t::number_float: return format_double(v.get<double>());
    case ordered_json::value_t::string: return quote_string(v.get<std::string>());
    case ordered_json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + format_value(v[i]);
      return out + "]";
    }
    case ordered_json::value_t::object: {
      if (v.empty()) return "{}";
      std::string out = "{ ";
      bool first = true;
      for (const auto& [k, e] : v.items()) {
        out += (first ? "" : ", ") + format_key(k) + " = " + format_value(e);
        first = false;
      }
      return out + " }";
    }
    default: ATTND_CHECK(false, "config value of JSON type ", v.type_name(), " has no TOML form");
  }
}

void emit_comment(const std::map<std::string, std::string>& help, const std::string& path,
                  std::string& out) {
  auto it = help.find(path);
  if (it == help.end() || it->second.empty()) return;
  std::istringstream lines(it->second);
  for (std::string line; std::getline(lines, line);) out += "# " + line + "\n";
}

// Plain keys of a table first, then its sub-tables and table lists, as TOML requires.
void emit_table(const ordered_json& table, const std::string& path, const std::string& header,
                const std::map<std::string, std::string>& help, std::string& out) {
  auto join = [](const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; };
  for (const auto& [k, v] : table.items()) {
    if (v.is_object() || is_table_array(v)) continue;
    emit_comment(help, join(path, k), out);
    out += format_key(k) + " = " + format_value(v) + "\n";
  }
  for (const auto& [k, v] : table.items()) {
    const std::string sub = join(path, k);
    const std::string sub_header = join(header, format_key(k));
    if (v.is_object()) {
      out += "\n";
      emit_comment(help, sub, out);
      out += "[" + sub_header + "]\n";
      emit_table(v, sub, sub_header, help, out);
    } else if (is_table_array(v)) {
      out += "\n";
      emit_comment(help, sub, out);
      for (size_t i = 0; i < v.size(); ++i) {
        const auto& element = v[i];
        out += (i ? "\n[[" : "[[") + sub_header + "]]\n";
        emit_table(element, sub, sub_header, help, out);
      }
    }
  }
}

ordered_json to_ordered(const json& j) {
  if (j.is_object()) {
    ordered_json out = ordered_json::object();
    for (const auto& [k, v] : j.items()) out[k] = to_ordered(v);
    return out;
  }
  if (j.is_array()) {
    ordered_json out = ordered_json::array();
    for (const auto& v : j) out.push_back(to_ordered(v));
    return out;
  }
  switch (j.type()) {
    case json::value_t::boolean: return j.get<bool>();
    case json::value_t::number_integer: return j.get<int64_t>();
    case json::value_t::number_unsigned: return j.get<uint64_t>();
    case json::value_t::number_float: return j.get<double>();
    case json::value_t::string: return j.get<std::string>();
    default: return nullptr;
  }
}

// ---- TOML input -----------------------------------------------------------------------------

json toml_to_json(const toml::node& node) {
  if (auto t = node.as_table()) {
    json out = json::object();
    for (auto&& [k, v] : *t) out[std::string(k.str())] = toml_to_json(v);
    return out;
  }
  if (auto a = node.as_array()) {
    json out = json::array();
    for (auto&& v : *a) out.push_back(toml_to_json(v));
    return out;
  }
  if (auto v = node.as_integer()) return v->get();
  if (auto v = node.as_floating_point()) return v->get();
  if (auto v = node.as_boolean()) return v->get();
  if (auto v = node.as_string()) return v->get();
  // Dates and times have no JSON form: keep their TOML text.
  std::ostringstream text;
  node.visit([&](auto&& n) { text << n; });
  return text.str();
}

const char* toml_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    default: return "date/time";
  }
}

std::string location(const std::string& where, const toml::node& node) {
  const auto& begin = node.source().begin;
  if (begin.line == 0) return where;
  return where + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column);
}

// Checks `node` against the declared type and converts it.
json convert(const ConfigEntry& entry, const toml::node& node, const std::string& where) {
  auto mismatch = [&]() -> json {
    std::string shown = toml_to_json(node).dump();
    if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
    const char* article = entry.type == ConfigType::Int ? "an " : "a ";
    throw_input_error(where, ": key '", entry.key, "' expects ", article, config_type_name(entry.type),
                      ", got ", shown, " (", toml_type_name(node), ")");
  };
  auto all_of = [&](auto pred) {
    const auto* a = node.as_array();
    if (!a) return false;
    for (auto&& e : *a)
      if (!pred(e)) return false;
    return true;
  };
  switch (entry.type) {
    case ConfigType::Int:
      if (auto v = node.as_integer()) return v->get();
      return mismatch();
    case ConfigType::Float:
      if (auto v = node.as_floating_point()) return v->get();
      if (auto v = node.as_integer()) return static_cast<double>(v->get());
      return mismatch();
    case ConfigType::Bool:
      if (auto v = node.as_boolean()) return v->get();
      return mismatch();
    case ConfigType::String:
      if (auto v = node.as_string()) return v->get();
      return mismatch();
    case ConfigType::IntList: {
      if (!all_of([](const toml::node& e) { return e.is_integer(); })) return mismatch();
      json out = json::array();
      for (auto&& e : *node.as_array()) out.push_back(e.as_integer()->get());
      return out;
    }
    case ConfigType::FloatList: {
      if (!all_of([](const toml::node& e) { return e.is_number(); })) return mismatch();
      json out = json::array();
      for (auto&& e : *node.as_array())
        out.push_back(e.is_integer() ? static_cast<double>(e.as_integer()->get())
                                     : e.as_floating_point()->get());
      return out;
    }
    case ConfigType::StringList: {
      if (!all_of([](const toml::node& e) { return e.is_string(); })) return mismatch();
      return toml_to_json(node);
    }
    case ConfigType::Table:
      if (node.is_table()) return toml_to_json(node);
      return mismatch();
    case ConfigType::TableList:
      if (all_of([](const toml::node& e) { return e.is_table(); })) return toml_to_json(node);
      return mismatch();
  }
  return mismatch();
}

bool json_matches(ConfigType type, const json& v) {
  auto all_of = [&](auto pred) {
    if (!v.is_array()) return false;
    for (const auto& e : v)
      if (!pred(e)) return false;
    return true;
  };
  switch (type) {
    case ConfigType::Int: return v.is_number_integer();
    case ConfigType::Float: return v.is_number_float();
    case ConfigType::Bool: return v.is_boolean();
    case ConfigType::String: return v.is_string();
    case ConfigType::IntList: return all_of([](const json& e) { return e.is_number_integer(); });
    case ConfigType::FloatList: return all_of([](const json& e) { return e.is_number_float(); });
    case ConfigType::StringList: return all_of([](const json& e) { return e.is_string(); });
    case ConfigType::Table: return v.is_object();
    case ConfigType::TableList: return all_of([](const json& e) { return e.is_object(); });
  }
  return false;
}

std::string format_json_value(const json& v) { return format_value(to_ordered(v)); }

}  // namespace

// ---- ConfigSchema ---------------------------------------------------------------------------

ConfigSchema& ConfigSchema::add_entry(ConfigEntry entry) {
  ATTND_CHECK(!entry.key.empty(), "empty config key");
  for (const auto& part : split_key(entry.key))
    ATTND_CHECK(!part.empty(), "config key '", entry.key, "' has an empty segment");
  for (const auto& e : entries_) {
    ATTND_CHECK(e.key != entry.key, "config key '", entry.key, "' declared twice");
    // A key may not live inside another key (a table or a scalar): TOML could not hold both.
    ATTND_CHECK(!starts_with(entry.key, e.key + ".") && !starts_with(e.key, entry.key + "."),
                "config keys '", e.key, "' and '", entry.key, "' overlap");
  }
  entries_.push_back(std::move(entry));
  return *this;
}

ConfigSchema& ConfigSchema::add(const std::string& key, int value, const std::string& help) {
  return add(key, static_cast<int64_t>(value), help);
}
ConfigSchema& ConfigSchema::add(const std::string& key, int64_t value, const std::string& help) {
  return add_entry({key, ConfigType::Int, json(value), help});
}
ConfigSchema& ConfigSchema::add(const std::string& key, double value, const std::string& help) {
  return add_entry({key, ConfigType::Float, json(value), help});
}
ConfigSchema& ConfigSchema::add(const std::string& key, bool value, const std::string& help) {
  return add_entry({key, ConfigType::Bool, json(value), help});
}
ConfigSchema& ConfigSchema::add(const std::string& key, const char* value,
                                const std::string& help) {
  return add(key, std::string(value), help);
}
ConfigSchema& ConfigSchema::add(const std::string& key, const std::string& value,
                                const std::string& help) {
  return add_entry({key, ConfigType::String, json(value), help});
}
ConfigSchema& ConfigSchema::add(const std::string& key, const std::vector<int64_t>& value,
                                const std::string& help) {
  return add_entry({key, ConfigType::IntList, json(value), help});
}
ConfigSchema& ConfigSchema::add(const std::string& key, const std::vector<double>& value,
                                const std::string& help) {
  return add_entry({key, ConfigType::FloatList, json(value), help});
}
ConfigSchema& ConfigSchema::add(const std::string& key, const std::vector<std::string>& value,
                                const std::string& help) {
  return add_entry({key, ConfigType::StringList, json(value), help});
}
ConfigSchema& ConfigSchema::add_table(const std::string& key, const std::string& help) {
  return add_entry({key, ConfigType::Table, json::object(), help});
}
ConfigSchema& ConfigSchema::add_table_list(const std::string& key, const std::string& help) {
  return add_entry({key, ConfigType::TableList, json::array(), help});
}

std::vector<std::string> ConfigSchema::keys() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.key);
  return out;
}

const ConfigEntry* ConfigSchema::find(const std::string& key) const {
  for (const auto& e : entries_)
    if (e.key == key) return &e;
  return nullptr;
}

const ConfigEntry* ConfigSchema::find_table_containing(const std::string& key) const {
  for (const auto& e : entries_)
    if (is_table_type(e.type) && starts_with(key, e.key + ".")) return &e;
  return nullptr;
}

std::string ConfigSchema::help_text() const {
  size_t width = 0;
  for (const auto& e : entries_) width = std::max(width, e.key.size());
  std::string out;
  for (const auto& e : entries_) {
    std::string line = "  " + e.key + std::string(width - e.key.size(), ' ') + "  ";
    if (!is_table_type(e.type)) line += "= " + format_json_value(e.default_value) + "  ";
    line += "(" + std::string(config_type_name(e.type)) + ")";
    out += line + "\n";
    std::istringstream help(e.help);
    for (std::string help_line; std::getline(help, help_line);) out += "      " + help_line + "\n";
  }
  return out;
}

// ---- Config ---------------------------------------------------------------------------------

Config::Config(ConfigSchema schema) : schema_(std::move(schema)) {
  for (const auto& e : schema_.entries()) values_.push_back(e.default_value);
}

namespace {

struct TomlWalk {
  const ConfigSchema& schema;
  const std::string& where;
  std::vector<std::pair<std::string, json>> assignments;
  std::vector<std::string> unknown;

  bool is_prefix_of_declared(const std::string& path) const {
    for (const auto& e : schema.entries())
      if (starts_with(e.key, path + ".")) return true;
    return false;
  }

  void walk(const toml::table& table, const std::string& prefix) {
    for (auto&& [k, node] : table) {
      const std::string path = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      if (const ConfigEntry* e = schema.find(path)) {
        assignments.emplace_back(path, convert(*e, node, location(where, node)));
      } else if (const auto* sub = node.as_table(); sub && (is_prefix_of_declared(path) || !sub->empty())) {
        // Recurse into unknown tables too, so a misspelt section reports its keys ("trian.lr").
        walk(*sub, path);
      } else {
        unknown.push_back(path);
      }
    }
  }
};

}  // namespace

Config Config::parse(const ConfigSchema& schema, const std::string& toml_text,
                     const std::string& source, const std::vector<std::string>& overrides) {
  Config config(schema);
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    throw_input_error(source, ":", begin.line, ":", begin.column, ": TOML syntax error: ",
                      e.description());
  }
  TomlWalk walk{config.schema_, source, {}, {}};
  walk.walk(root, "");
  check_known_keys(walk.unknown, config.schema_.keys(), source);
  for (auto& [key, value] : walk.assignments)
    config.set_value(key, config.schema_.find(key)->type, std::move(value));
  for (const auto& assignment : overrides) config.apply_override(assignment);
  return config;
}

Config Config::load(const ConfigSchema& schema, const std::string& toml_path,
                    const std::vector<std::string>& overrides) {
  if (toml_path.empty()) {
    Config config(schema);
    for (const auto& assignment : overrides) config.apply_override(assignment);
    return config;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  ATTND_CHECK_INPUT(fs::exists(toml_path, ec), "recipe file not found: ", toml_path);
  ATTND_CHECK_INPUT(!fs::is_directory(toml_path, ec), "recipe path is a directory, not a file: ",
                    toml_path);
  std::ifstream in(toml_path, std::ios::binary);
  ATTND_CHECK_INPUT(in.good(), "cannot read recipe file: ", toml_path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse(schema, text.str(), toml_path, overrides);
}

std::string Config::assignment(const std::string& key, const nlohmann::json& value) {
  return key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
}

void Config::apply_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  ATTND_CHECK_INPUT(eq != std::string::npos && !trim_blanks(assignment.substr(0, eq)).empty(),
                    "--set expects key=value, got '", assignment, "'");
  const std::string key = trim_blanks(assignment.substr(0, eq));
  const std::string text = trim_blanks(assignment.substr(eq + 1));
  const std::string where = "--set " + assignment;

  // Read the value as TOML; text that is not exactly one TOML value is a bare string.
  toml::table parsed;
  const toml::node* node = nullptr;
  try {
    parsed = toml::parse("v = " + text);
    if (parsed.size() == 1) node = parsed.get("v");
  } catch (const toml::parse_error&) {
  }
  toml::value<std::string> bare(text);

  if (const ConfigEntry* e = schema_.find(key)) {
    if (e->type == ConfigType::String && (!node || !node->is_string())) node = &bare;
    if (!node) node = &bare;
    set_value(key, e->type, convert(*e, *node, where));
    return;
  }
  if (const ConfigEntry* e = schema_.find_table_containing(key)) {
    ATTND_CHECK_INPUT(e->type == ConfigType::Table, where, ": '", e->key,
                      "' is a list of tables; set it in the recipe file");
    json& table = values_[static_cast<size_t>(e - schema_.entries().data())];
    json* target = &table;
    const auto parts = split_key(key.substr(e->key.size() + 1));
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      json& next = (*target)[parts[i]];
      if (next.is_null()) next = json::object();
      ATTND_CHECK_INPUT(next.is_object(), where, ": '", parts[i], "' inside '", e->key,
                        "' is not a table");
      target = &next;
    }
    (*target)[parts.back()] = toml_to_json(node ? *node : static_cast<const toml::node&>(bare));
    return;
  }
  check_known_keys({key}, schema_.keys(), "--set");
}

const ConfigEntry& Config::entry(const std::string& key, ConfigType type) const {
  const ConfigEntry* e = schema_.find(key);
  ATTND_CHECK(e != nullptr, "config key '", key, "' is not declared");
  ATTND_CHECK(e->type == type, "config key '", key, "' is a ", config_type_name(e->type),
              ", not a ", config_type_name(type));
  return *e;
}

namespace {
size_t index_of(const ConfigSchema& schema, const ConfigEntry& e) {
  return static_cast<size_t>(&e - schema.entries().data());
}
}  // namespace

int64_t Config::get_int(const std::string& key) const {
  return values_[index_of(schema_, entry(key, ConfigType::Int))].get<int64_t>();
}
double Config::get_double(const std::string& key) const {
  return values_[index_of(schema_, entry(key, ConfigType::Float))].get<double>();
}
bool Config::get_bool(const std::string& key) const {
  return values_[index_of(schema_, entry(key, ConfigType::Bool))].get<bool>();
}
std::string Config::get_string(const std::string& key) const {
  return values_[index_of(schema_, entry(key, ConfigType::String))].get<std::string>();
}
std::vector<int64_t> Config::get_int_list(const std::string& key) const {
  return values_[index_of(schema_, entry(key, ConfigType::IntList))].get<std::vector<int64_t>>();
}
std::vector<double> Config::get_double_list(const std::string& key) const {
  return values_[index_of(schema_, entry(key, ConfigType::FloatList))].get<std::vector<double>>();
}
std::vector<std::string> Config::get_string_list(const std::string& key) const {
  return values_[index_of(schema_, entry(key, ConfigType::StringList))]
      .get<std::vector<std::string>>();
}
json Config::table_json(const std::string& key) const {
  const ConfigEntry* e = schema_.find(key);
  ATTND_CHECK(e != nullptr, "config key '", key, "' is not declared");
  ATTND_CHECK(is_table_type(e->type), "config key '", key, "' is a ", config_type_name(e->type),
              ", not a table");
  return values_[index_of(schema_, *e)];
}

bool Config::has(const std::string& key) const {
  if (schema_.find(key)) return true;
  const ConfigEntry* e = schema_.find_table_containing(key);
  if (!e || e->type != ConfigType::Table) return false;
  const json* node = &values_[index_of(schema_, *e)];
  for (const auto& part : split_key(key.substr(e->key.size() + 1))) {
    if (!node->is_object() || !node->contains(part)) return false;
    node = &(*node)[part];
  }
  return true;
}

void Config::set_value(const std::string& key, ConfigType type, json value) {
  const ConfigEntry* e = schema_.find(key);
  ATTND_CHECK(e != nullptr, "config key '", key, "' is not declared");
  ATTND_CHECK(e->type == type && json_matches(type, value), "config key '", key, "' is a ",
              config_type_name(e->type), "; cannot set ", value.dump());
  values_[index_of(schema_, *e)] = std::move(value);
}

void Config::set(const std::string& key, int value) { set(key, static_cast<int64_t>(value)); }
void Config::set(const std::string& key, int64_t value) {
  const ConfigEntry* e = schema_.find(key);
  // An integer may set a float key, as in a recipe file.
  if (e && e->type == ConfigType::Float)
    set_value(key, ConfigType::Float, json(static_cast<double>(value)));
  else
    set_value(key, ConfigType::Int, json(value));
}
void Config::set(const std::string& key, double value) {
  set_value(key, ConfigType::Float, json(value));
}
void Config::set(const std::string& key, bool value) { set_value(key, ConfigType::Bool, json(value)); }
void Config::set(const std::string& key, const char* value) { set(key, std::string(value)); }
void Config::set(const std::string& key, const std::string& value) {
  set_value(key, ConfigType::String, json(value));
}
void Config::set(const std::string& key, const std::vector<int64_t>& value) {
  set_value(key, ConfigType::IntList, json(value));
}
void Config::set(const std::string& key, const std::vector<double>& value) {
  set_value(key, ConfigType::FloatList, json(value));
}
void Config::set(const std::string& key, const std::vector<std::string>& value) {
  set_value(key, ConfigType::StringList, json(value));
}
void Config::set_table(const std::string& key, const json& value) {
  const ConfigEntry* e = schema_.find(key);
  ATTND_CHECK(e != nullptr, "config key '", key, "' is not declared");
  set_value(key, e->type == ConfigType::TableList ? ConfigType::TableList : ConfigType::Table,
            value);
}

json Config::to_json() const {
  json root = json::object();
  const auto& entries = schema_.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto parts = split_key(entries[i].key);
    json* node = &root;
    for (size_t p = 0; p + 1 < parts.size(); ++p) node = &(*node)[parts[p]];
    (*node)[parts.back()] = values_[i];
  }
  return root;
}

std::string Config::to_toml() const {
  // Nested in declaration order, so the file reads like the schema.
  ordered_json root = ordered_json::object();
  std::map<std::string, std::string> help;
  const auto& entries = schema_.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto parts = split_key(entries[i].key);
    ordered_json* node = &root;
    for (size_t p = 0; p + 1 < parts.size(); ++p) {
      ordered_json& next = (*node)[parts[p]];
      if (next.is_null()) next = ordered_json::object();
      node = &next;
    }
    (*node)[parts.back()] = to_ordered(values_[i]);
    help[entries[i].key] = entries[i].help;
  }
  std::string out = "# attnd resolved configuration\n";
  emit_table(root, "", "", help, out);
  return out;
}


bool Config::operator==(const Config& other) const {
  return schema_.keys() == other.schema_.keys() && values_ == other.values_;
}

}  // namespace attnd
