// Checkpoints. A checkpoint is a directory:
//   model.safetensors   the model's tensors under HF names (a file HF can read)
//   config.json         the model's HF config (+ attnd's keys)
//   <name>.safetensors  optional extra tensor files (optimizer state...)
//   <name>.json         optional extra JSON files (trainer state...)
// save_checkpoint never leaves a half-written checkpoint where a good one was: it writes a
// sibling "<dir>.tmp-XXXXXX", fsyncs it and swaps it in with one atomic rename exchange (or, where
// the filesystem lacks that, two renames with the old one restored on failure).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

#include <map>
#include <string>

#include "attnd/core/tensor_map.h"

namespace attnd {

inline constexpr const char* kModelWeightsFile = "model.safetensors";
inline constexpr const char* kModelIndexFile = "model.safetensors.index.json";
inline constexpr const char* kModelConfigFile = "config.json";

// Extra files are named without extension ("optimizer" → optimizer.safetensors, "trainer" →
// trainer.json); a name already ending in the extension is taken as is. Names must be plain file
// names and may not collide with model/config. An existing `dir` is replaced completely; a
// non-empty existing directory that is not a checkpoint is refused (InputError), so a mistyped
// path cannot wipe unrelated files.
void save_checkpoint(const std::string& dir, const nlohmann::json& config,
                     const TensorMap& model_tensors,
                     const std::map<std::string, TensorMap>& extra_tensor_files = {},
                     const std::map<std::string, nlohmann::json>& extra_json_files = {});

// Where a model's files are: `dir_or_file` is a checkpoint directory (config.json +
// model.safetensors or a sharded index), a .safetensors file or a model.safetensors.index.json with
// config.json next to it. InputError naming what is missing otherwise. (Loading the model itself
// is models/model_io.h's load_model.)
struct CheckpointFiles {
  std::string config;   // config.json
  std::string weights;  // model.safetensors, another .safetensors file, or a sharded index
  bool sharded = false;
};
CheckpointFiles find_checkpoint_files(const std::string& dir_or_file);
// The tensors of `files.weights` as stored (HF names), single file or sharded.
TensorMap read_checkpoint_weights(const CheckpointFiles& files);

// True if `dir` holds config.json and model weights.
bool is_checkpoint_dir(const std::string& dir);

// The model's tensors as stored (HF names, before import_hf), single file or sharded.
TensorMap load_checkpoint_model_tensors(const std::string& dir);
// Extra files, by the names given to save_checkpoint; InputError naming the path if missing.
TensorMap load_checkpoint_tensors(const std::string& dir, const std::string& name);
nlohmann::json load_checkpoint_json(const std::string& dir, const std::string& name);
bool checkpoint_has_file(const std::string& dir, const std::string& file_name);

namespace detail {
// Puts the directory `staged` at `target`, replacing what is there. With use_exchange, one
// renameat2(RENAME_EXCHANGE) (falls back where unsupported); otherwise target → "<target>.old-*",
// staged → target, with the old one renamed back if the second rename fails. Exposed for tests.
void replace_directory(const std::string& staged, const std::string& target, bool use_exchange);
}  // namespace detail

}  // namespace attnd
