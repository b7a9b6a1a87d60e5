#include "attnd/io/checkpoint.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc >= 2.28, _GNU_SOURCE)
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <torch/torch.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "attnd/core/error.h"
#include "attnd/core/strings.h"
#include "attnd/io/atomic_file.h"
#include "attnd/io/json_file.h"
#include "attnd/io/safetensors.h"

namespace attnd {

namespace fs = std::filesystem;

namespace {

const char* const kExpected =
    "expected a checkpoint directory with config.json and model.safetensors";

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// "optimizer" → "optimizer.safetensors"; rejects paths and, when saving, the reserved names.
std::string extra_file_name(const std::string& name, const std::string& ext, bool saving) {
  ATTND_CHECK_INPUT(!name.empty() && name.find('/') == std::string::npos && name[0] != '.',
                    "checkpoint file name '", name, "' must be a plain file name (no '/', not "
                    "starting with '.')");
  std::string file = ends_with(name, ext) ? name : name + ext;
  if (saving) {
    ATTND_CHECK_INPUT(file != kModelWeightsFile && file != kModelConfigFile &&
                          file != kModelIndexFile,
                      "checkpoint extra file '", file, "' collides with the model's own files");
  }
  return file;
}

// A staging directory removed (with its contents) unless released.
class TempDir {
 public:
  explicit TempDir(const std::string& templ) : path_(templ) {
    if (::mkdtemp(path_.data()) == nullptr)
      throw_error("cannot create a temporary directory '", templ, "': ", std::strerror(errno));
  }
  ~TempDir() {
    if (!released_) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  void release() { released_ = true; }

 private:
  std::string path_;
  bool released_ = false;
};

bool looks_like_checkpoint(const fs::path& dir) {
  return path_exists(dir / kModelConfigFile) || path_exists(dir / kModelWeightsFile) ||
         path_exists(dir / kModelIndexFile);
}

void rename_or_throw(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    throw_error("cannot rename '", from, "' to '", to, "': ", std::strerror(errno));
}

}  // namespace

namespace detail {

void replace_directory(const std::string& staged, const std::string& target, bool use_exchange) {
  if (!path_exists(target)) {
    rename_or_throw(staged, target);
    return;
  }
#ifdef RENAME_EXCHANGE
  if (use_exchange) {
    // One atomic step: a crash leaves either the old or the new checkpoint at `target`.
    if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
      std::error_code ec;
      fs::remove_all(staged, ec);  // now holds the old checkpoint
      return;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
      throw_error("cannot swap '", staged, "' into '", target, "': ", std::strerror(errno));
  }
#endif
  // Two renames; the window between them leaves "<target>.old-*" and no `target` after a crash.
  std::string old = target + ".old-XXXXXX";
  if (::mkdtemp(old.data()) == nullptr)
    throw_error("cannot create '", old, "': ", std::strerror(errno));
  // rename() onto the empty directory just made replaces it.
  if (std::rename(target.c_str(), old.c_str()) != 0) {
    int err = errno;
    ::rmdir(old.c_str());
    throw_error("cannot move '", target, "' aside to '", old, "': ", std::strerror(err));
  }
  if (std::rename(staged.c_str(), target.c_str()) != 0) {
    int err = errno;
    std::rename(old.c_str(), target.c_str());  // put the previous checkpoint back
    throw_error("cannot rename '", staged, "' to '", target, "': ", std::strerror(err));
  }
  std::error_code ec;
  fs::remove_all(old, ec);
}

}  // namespace detail

void save_checkpoint(const std::string& dir, const nlohmann::json& config,
                     const TensorMap& model_tensors,
                     const std::map<std::string, TensorMap>& extra_tensor_files,
                     const std::map<std::string, nlohmann::json>& extra_json_files) {
  fs::path target = fs::path(dir).lexically_normal();
  if (!target.empty() && target.filename().empty()) target = target.parent_path();  // "a/b/"
  ATTND_CHECK_INPUT(!target.empty() && target.filename() != "." && target.filename() != "..",
                    "checkpoint path '", dir, "' must name a directory to create or replace");
  // Validate everything cheap before touching the disk.
  ATTND_CHECK_INPUT(config.is_object(), "checkpoint config for '", dir,
                    "' must be a JSON object, got ", config.type_name());
  for (const auto& kv : extra_tensor_files) extra_file_name(kv.first, ".safetensors", true);
  for (const auto& kv : extra_json_files) extra_file_name(kv.first, ".json", true);
  if (path_exists(target)) {
    std::error_code ec;
    ATTND_CHECK_INPUT(fs::is_directory(target, ec), "cannot save a checkpoint to '",
                      target.string(), "': it exists and is not a directory");
    ATTND_CHECK_INPUT(fs::is_empty(target, ec) || looks_like_checkpoint(target),
                      "refusing to replace '", target.string(),
                      "': it is a non-empty directory without config.json or model.safetensors "
                      "(not a checkpoint)");
  }

  fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw_error("cannot create directory '", parent.string(), "': ", ec.message());

  TempDir staged(target.string() + ".tmp-XXXXXX");
  const fs::path s(staged.path());
  write_safetensors((s / kModelWeightsFile).string(), model_tensors);
  write_json_file((s / kModelConfigFile).string(), config);
  for (const auto& [name, tensors] : extra_tensor_files)
    write_safetensors((s / extra_file_name(name, ".safetensors", true)).string(), tensors);
  for (const auto& [name, value] : extra_json_files)
    write_json_file((s / extra_file_name(name, ".json", true)).string(), value);
  ::chmod(staged.path().c_str(), 0755);  // mkdtemp makes 0700 directories
  fsync_directory(staged.path());
  // Test hook: a pause between staging and the swap, so a test can kill a save in progress.
  if (const char* ms = std::getenv("ATTND_TEST_SAVE_DELAY_MS")) ::usleep(1000 * std::atoi(ms));

  detail::replace_directory(staged.path(), target.string(), /*use_exchange=*/true);
  staged.release();
  fsync_directory(parent.string());
}

bool is_checkpoint_dir(const std::string& dir) {
  fs::path p(dir);
  return path_exists(p / kModelConfigFile) &&
         (path_exists(p / kModelWeightsFile) || path_exists(p / kModelIndexFile));
}

TensorMap load_checkpoint_model_tensors(const std::string& dir) {
  fs::path p(dir);
  ATTND_CHECK_INPUT(path_exists(p), "'", dir, "' does not exist (", kExpected, ")");
  if (path_exists(p / kModelWeightsFile)) return read_safetensors((p / kModelWeightsFile).string()).tensors;
  if (path_exists(p / kModelIndexFile)) return read_safetensors_sharded((p / kModelIndexFile).string());
  throw_input_error("'", dir, "' has no ", kModelWeightsFile, " (nor ", kModelIndexFile, "); ",
                    kExpected);
}

namespace {
// PyTorch's pickle files (HF's older layout) are never read: unpickling can run arbitrary code.
void refuse_pickle_weights(const fs::path& dir) {
  for (const char* name : {"pytorch_model.bin", "pytorch_model.bin.index.json"}) {
    if (!path_exists(dir / name)) continue;
    throw_input_error(
        "'", dir.string(), "' holds ", name, " but no ", kModelWeightsFile,
        ": attnd does not read PyTorch pickle files (loading a pickle can run arbitrary code). "
        "Convert it to safetensors first, e.g. in Python with transformers: "
        "AutoModel.from_pretrained(\"", dir.string(), "\").save_pretrained(\"<out dir>\", "
        "safe_serialization=True) (use the model's task class, e.g. "
        "AutoModelForSequenceClassification, to keep its head), then copy config.json and the "
        "new model.safetensors here");
  }
}
}  // namespace

CheckpointFiles find_checkpoint_files(const std::string& dir_or_file) {
  fs::path p(dir_or_file);
  ATTND_CHECK_INPUT(path_exists(p), "'", dir_or_file, "' does not exist (", kExpected, ")");
  std::error_code ec;
  const bool is_dir = fs::is_directory(p, ec);
  fs::path dir = is_dir ? p : p.parent_path();
  if (dir.empty()) dir = ".";

  CheckpointFiles files;
  fs::path weights;
  if (is_dir) {
    if (path_exists(dir / kModelWeightsFile)) {
      weights = dir / kModelWeightsFile;
    } else if (path_exists(dir / kModelIndexFile)) {
      weights = dir / kModelIndexFile;
      files.sharded = true;
    }
  } else {
    weights = p;
    files.sharded = ends_with(p.filename().string(), ".index.json");
    if (starts_with(p.filename().string(), "pytorch_model.bin")) refuse_pickle_weights(dir);
    ATTND_CHECK_INPUT(files.sharded || ends_with(p.filename().string(), ".safetensors"), "'",
                      dir_or_file, "' is neither a .safetensors file nor a directory (", kExpected,
                      ")");
  }
  const fs::path config_path = dir / kModelConfigFile;
  ATTND_CHECK_INPUT(path_exists(config_path), "'", dir.string(), "' has no ", kModelConfigFile, " (",
                    kExpected, ")");
  if (weights.empty()) refuse_pickle_weights(dir);
  ATTND_CHECK_INPUT(!weights.empty(), "'", dir.string(), "' has no ", kModelWeightsFile, " (nor ",
                    kModelIndexFile, "); ", kExpected);
  files.config = config_path.string();
  files.weights = weights.string();
  return files;
}

TensorMap read_checkpoint_weights(const CheckpointFiles& files) {
  return files.sharded ? read_safetensors_sharded(files.weights)
                       : read_safetensors(files.weights).tensors;
}

TensorMap load_checkpoint_tensors(const std::string& dir, const std::string& name) {
  fs::path path = fs::path(dir) / extra_file_name(name, ".safetensors", false);
  ATTND_CHECK_INPUT(path_exists(path), "checkpoint '", dir, "' has no ", path.filename().string(),
                    " (expected at '", path.string(), "')");
  return read_safetensors(path.string()).tensors;
}

nlohmann::json load_checkpoint_json(const std::string& dir, const std::string& name) {
  fs::path path = fs::path(dir) / extra_file_name(name, ".json", false);
  ATTND_CHECK_INPUT(path_exists(path), "checkpoint '", dir, "' has no ", path.filename().string(),
                    " (expected at '", path.string(), "')");
  return read_json_file(path.string());
}

bool checkpoint_has_file(const std::string& dir, const std::string& file_name) {
  return path_exists(fs::path(dir) / file_name);
}

}  // namespace attnd
