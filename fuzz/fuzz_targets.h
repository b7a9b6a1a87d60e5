// What each fuzz target feeds its reader: one function per reader, bytes in, the reader's result
// thrown away. A reader may refuse the bytes only with an attnd::Error (InputError for bad input);
// anything else — another exception, a crash, a sanitizer report, a hang — is a bug. The fuzz
// targets (fuzz/fuzz_<reader>.cpp, built by scripts/fuzz with clang's libFuzzer + ASan/UBSan) and
// the regression test (tests/test_fuzz_regressions.cpp, the normal build) share these functions,
// so a crasher saved under tests/data/fuzz-regressions/<reader>/ is replayed through the same code.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "attnd/core/config.h"
#include "attnd/data/idx.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/tokenizer_json.h"
#include "attnd/io/json_file.h"
#include "attnd/io/json_limits.h"
#include "attnd/io/safetensors.h"
#include "attnd/methods/recipe.h"
#include "attnd/models/registry.h"
#include "attnd/train/trainer_state.h"

namespace attnd::fuzz {

// The readers that take a path read the input from a file of this process's own directory (one
// file per name: a reader picks the format by extension).
inline std::string input_file(std::string_view bytes, const std::string& name) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("attnd-fuzz-" + std::to_string(static_cast<long>(::getpid())));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                      ("attnd-fuzz-" + std::to_string(static_cast<long>(::getpid()))),
                                  ec);
    });
    return d;
  }();
  const std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  return path;
}

// safetensors: the header-only reader of `attnd info` from a file, then the whole file from memory
// (the header's rules, then every tensor copied out) under the same name. What the first refuses,
// the second refuses too.
inline void feed_safetensors(std::string_view bytes) {
  const std::string path = input_file(bytes, "input.safetensors");
  try {
    read_safetensors_header(path);
  } catch (const Error&) {
  }
  parse_safetensors(bytes, path);
}

// config.json: read as load_model reads it, then checked as create_model checks it.
inline void feed_model_config(std::string_view bytes) {
  const std::string path = input_file(bytes, "config.json");
  const auto config = read_json_file(path);
  try {
    check_model_config(config);
  } catch (const InputError& e) {
    throw_input_error(path, ": ", e.what());  // as load_model names the file
  }
}

// trainer.json: as a resume reads it.
inline void feed_trainer_json(std::string_view bytes) {
  const std::string path = input_file(bytes, "trainer.json");
  trainer_state_from_json(read_json_file(path), path);
}

// tokenizer.json: loaded, then used once (an accepted tokenizer must tokenize).
inline void feed_tokenizer_json(std::string_view bytes) {
  // Any model type load_tokenizer reads (WordPiece, byte-level BPE), a pair truncated and padded.
  const auto tokenizer = attnd::load_tokenizer(input_file(bytes, "tokenizer.json"));
  const std::string pair = "a second text, \xE4\xB8\xAD\xE6\x96\x87 <|endoftext|>";
  attnd::EncodeOptions options;
  options.max_length = 16;
  options.pad_id = 0;
  options.pad_to = 20;
  const auto e =
      tokenizer->encode_text("Hello, w\xC3\xB6rld! unaffable 123 ##x [MASK]  's", &pair, options);
  tokenizer->decode(e.ids, true);
}

// A TOML recipe: parsed against `attnd distill`'s schema (train's plus distill.*), then the
// run.* and train.* values turned into trainer options (every one checked), as a run does first.
inline void feed_recipe_toml(std::string_view bytes) {
  static const ConfigSchema schema = recipe_schema(/*with_distill=*/true);
  trainer_options(Config::load(schema, input_file(bytes, "recipe.toml")));
}

// IDX, gzip-compressed or plain (gzopen reads both).
inline void feed_idx(std::string_view bytes) { read_idx(input_file(bytes, "input-idx.gz")); }

// JSONL / TSV / CSV examples: the first byte picks the format and whether label names are given.
inline void feed_text(std::string_view bytes) {
  if (bytes.empty()) return;
  const unsigned choice = static_cast<unsigned char>(bytes[0]);
  static const char* kNames[] = {"input.jsonl", "input.tsv", "input.csv"};
  const std::vector<std::string> labels =
      (choice / 3) % 2 ? std::vector<std::string>{"ham", "spam"} : std::vector<std::string>{};
  read_examples_file(input_file(bytes.substr(1), kNames[choice % 3]), labels);
}

// Every reader by the name its target, its seed directory and its regression directory carry.
inline const std::map<std::string, std::function<void(std::string_view)>>& readers() {
  static const std::map<std::string, std::function<void(std::string_view)>> table = {
      {"safetensors", feed_safetensors}, {"model_config", feed_model_config},
      {"trainer_json", feed_trainer_json}, {"tokenizer_json", feed_tokenizer_json},
      {"recipe_toml", feed_recipe_toml},  {"idx", feed_idx},
      {"text", feed_text},
  };
  return table;
}

// One input: an attnd::Error is the reader refusing it; anything else escapes and is reported.
inline int run_one(const std::string& reader, const uint8_t* data, size_t size) {
  try {
    readers().at(reader)(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace attnd::fuzz

// fuzz_<reader>.cpp is this one line.
#define ATTND_FUZZ_TARGET(reader)                                                    \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {         \
    return ::attnd::fuzz::run_one(reader, data, size);                               \
  }
