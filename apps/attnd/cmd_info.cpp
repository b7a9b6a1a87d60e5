// attnd info PATH [--json]: what a checkpoint directory or a .safetensors file holds. Reads only
// headers (no tensor data), so it is instant on large files and shows dtypes this LibTorch cannot
// load.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/core/strings.h"
#include "attnd/io/json_file.h"
#include "attnd/io/safetensors.h"
#include "attnd/models/hf_architecture.h"
#include "commands.h"

namespace attnd::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct InfoOptions {
  std::string path;
  bool json = false;
};

struct InfoResult {
  json config;  // null when there is none
  SafetensorsMetadata metadata;
  std::vector<SafetensorsTensorInfo> tensors;
  std::vector<std::pair<std::string, uintmax_t>> other_files;  // extras in a checkpoint dir
};

void add_header(const SafetensorsHeader& header, InfoResult* out) {
  out->tensors.insert(out->tensors.end(), header.tensors.begin(), header.tensors.end());
  for (const auto& kv : header.metadata) out->metadata.insert(kv);
}

void add_weights(const fs::path& weights, InfoResult* out) {
  if (ends_with(weights.filename().string(), ".index.json")) {
    for (const auto& shard : safetensors_index_shards(weights.string())) {
      ATTND_CHECK_INPUT(fs::exists(shard), weights.string(), ": shard '", shard, "' is missing");
      add_header(read_safetensors_header(shard), out);
    }
  } else {
    add_header(read_safetensors_header(weights.string()), out);
  }
  std::sort(out->tensors.begin(), out->tensors.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
}

InfoResult collect(const std::string& path) {
  const char* expected = "expected a checkpoint directory (config.json + model.safetensors), a "
                         ".safetensors file or a model.safetensors.index.json";
  fs::path p(path);
  std::error_code ec;
  ATTND_CHECK_INPUT(fs::exists(p, ec), "'", path, "' does not exist (", expected, ")");
  InfoResult result;
  if (!fs::is_directory(p, ec)) {
    const std::string name = p.filename().string();
    ATTND_CHECK_INPUT(ends_with(name, ".safetensors") || ends_with(name, ".index.json"), "'",
                      path, "' is not a .safetensors file (", expected, ")");
    add_weights(p, &result);
    return result;
  }
  const fs::path config = p / "config.json";
  fs::path weights = p / "model.safetensors";
  if (!fs::exists(weights, ec)) weights = p / "model.safetensors.index.json";
  ATTND_CHECK_INPUT(fs::exists(config, ec) || fs::exists(weights, ec), "'", path,
                    "' has neither config.json nor model.safetensors (", expected, ")");
  if (fs::exists(config, ec)) result.config = read_json_file(config.string());
  if (fs::exists(weights, ec)) add_weights(weights, &result);
  for (const auto& entry : fs::directory_iterator(p)) {
    const std::string name = entry.path().filename().string();
    if (name == "config.json" || name == "model.safetensors" ||
        name == "model.safetensors.index.json" || !entry.is_regular_file())
      continue;
    result.other_files.emplace_back(name, entry.file_size());
  }
  std::sort(result.other_files.begin(), result.other_files.end());
  return result;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

HfArchitecture architecture_of(const InfoResult& r) {
  std::vector<std::string> names;
  for (const auto& t : r.tensors) names.push_back(t.name);
  auto a = hf_architecture(r.config, names);
  for (const auto& file : r.other_files)
    if (r.tensors.empty() && starts_with(file.first, "pytorch_model.bin"))
      a.note += "; " + file.first + " is a PyTorch pickle, which attnd never reads (it can run "
                "code): convert it to model.safetensors (docs/hf-compat.md)";
  return a;
}

// "architecture: GPT2LMHeadModel (gpt2) — attnd loads it; <note>"
std::string architecture_line(const HfArchitecture& a) {
  std::string line = "architecture: " + (a.name.empty() ? std::string("unknown") : a.name);
  if (!a.model_type.empty()) line += " (model_type " + a.model_type + ")";
  line += a.loadable ? " — attnd loads it" : " — attnd does not load it as it is";
  if (!a.note.empty()) line += "; " + a.note;
  return line;
}

void print_json(const InfoOptions& opts, const InfoResult& r, std::ostream& out) {
  nlohmann::ordered_json j;  // keeps the summary ahead of the (long) tensor list
  j["path"] = opts.path;
  const auto a = architecture_of(r);
  j["architecture"] = {{"name", a.name},         {"model_type", a.model_type},
                       {"declared", a.declared}, {"loadable", a.loadable},
                       {"note", a.note}};
  if (!r.config.is_null()) j["config"] = r.config;
  j["metadata"] = r.metadata;
  int64_t params = 0;
  uint64_t bytes = 0;
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const auto& t : r.tensors) {
    tensors.push_back({{"name", t.name},
                       {"dtype", t.dtype},
                       {"shape", t.shape},
                       {"numel", t.numel()},
                       {"bytes", t.nbytes()}});
    params += t.numel();
    bytes += t.nbytes();
  }
  j["num_tensors"] = r.tensors.size();
  j["total_params"] = params;
  j["total_bytes"] = bytes;
  j["tensors"] = std::move(tensors);
  if (!r.other_files.empty()) {
    j["other_files"] = nlohmann::ordered_json::array();
    for (const auto& [name, size] : r.other_files)
      j["other_files"].push_back({{"name", name}, {"bytes", size}});
  }
  out << j.dump(2) << "\n";
}

void print_text(const InfoOptions& opts, const InfoResult& r, std::ostream& out) {
  out << opts.path << "\n" << architecture_line(architecture_of(r)) << "\n";
  if (!r.config.is_null()) out << "\nconfig.json:\n" << r.config.dump(2) << "\n";
  if (!r.metadata.empty()) {
    out << "\nmetadata:\n";
    for (const auto& [k, v] : r.metadata) out << "  " << k << ": " << v << "\n";
  }

  std::vector<std::vector<std::string>> rows = {{"name", "dtype", "shape", "numel"}};
  int64_t params = 0;
  uint64_t bytes = 0;
  for (const auto& t : r.tensors) {
    rows.push_back({t.name, t.dtype, shape_str(t.shape), std::to_string(t.numel())});
    params += t.numel();
    bytes += t.nbytes();
  }
  std::vector<size_t> width(4, 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  out << "\ntensors:\n";
  for (const auto& row : rows) {
    out << "  ";
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - row[c].size(), ' ');
      if (c > 0) out << "  ";
      out << (c == 3 ? pad + row[c] : row[c] + pad);  // numel right-aligned, last
    }
    out << "\n";
  }
  out << "\n" << r.tensors.size() << " tensors, " << params << " parameters, " << bytes
      << " bytes (" << human_bytes(bytes) << ")\n";
  if (!r.other_files.empty()) {
    out << "\nother files:\n";
    for (const auto& [name, size] : r.other_files)
      out << "  " << name << "  " << human_bytes(size) << "\n";
  }
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto opts = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "info", "Show a checkpoint's config and tensors, or a .safetensors file's tensors");
  cmd->add_option("path", opts->path,
                  "checkpoint directory, .safetensors file or model.safetensors.index.json")
      ->required();
  cmd->add_flag("--json", opts->json, "print machine-readable JSON instead of tables");
  cmd->callback([opts]() {
    InfoResult result = collect(opts->path);
    if (opts->json)
      print_json(*opts, result, std::cout);
    else
      print_text(*opts, result, std::cout);
  });
}

}  // namespace attnd::cli
