#include "attnd/train/trainer_checks.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/io/checkpoint.h"
#include "attnd/io/safetensors.h"
#include "attnd/train/trainer_state.h"

namespace attnd {

namespace fs = std::filesystem;

namespace {

void check_int(const char* key, int64_t value, int64_t min, const char* meaning) {
  ATTND_CHECK_INPUT(value >= min, key, " = ", value, " is out of range: expected an integer >= ",
                    min, meaning);
}

// lo <= value (< or <=) hi, finite.
void check_real(const char* key, double value, double lo, double hi, bool hi_open) {
  const bool ok = std::isfinite(value) && value >= lo && (hi_open ? value < hi : value <= hi);
  ATTND_CHECK_INPUT(ok, key, " = ", value, " is out of range: expected a number in [", lo, ", ",
                    hi, hi_open ? ")" : "]");
}

fs::path canonical_or_absolute(const fs::path& p) {
  std::error_code ec;
  auto c = fs::weakly_canonical(p, ec);
  return ec ? fs::absolute(p).lexically_normal() : c;
}

// The config.json and the extra JSON files (tokenizer.json) of the checkpoint a run resumes from
// must be this run's: a different tokenizer would give the resumed steps other token ids.
void check_checkpoint_files(const std::string& checkpoint_dir, Task& task,
                            const TrainerOptions& options) {
  const auto config = load_checkpoint_json(checkpoint_dir, kModelConfigFile);
  const auto expected = task.checkpoint_config();
  const std::string config_file = checkpoint_dir + "/" + kModelConfigFile;
  ATTND_CHECK_INPUT(config.is_object() && config.contains("model_type"), config_file,
                    ": expected a model config (a JSON object with model_type), got ",
                    config.is_object() ? std::string("no model_type") : config.type_name());
  ATTND_CHECK_INPUT(config["model_type"] == expected.value("model_type", nlohmann::json()),
                    config_file, ": key model_type: ", config["model_type"].dump(),
                    " differs from this run's model ",
                    expected.value("model_type", nlohmann::json()).dump());
  for (const auto& [name, value] : options.checkpoint_files) {
    const auto stored = load_checkpoint_json(checkpoint_dir, name);
    ATTND_CHECK_INPUT(stored == value, checkpoint_dir, "/", name,
                      " differs from this run's (", stored.is_object() && !stored.empty()
                          ? "another content"
                          : "empty or not an object",
                      "); resume with the data and vocabulary the checkpoint was trained with");
  }
}

// Every entry of optimizer.safetensors (from its header: no tensor is read) is the state of a
// trainable parameter, and there are as many .exp_avg entries as trainer.json recorded.
void check_optimizer_keys(const std::string& checkpoint_dir, Task& task,
                          const TrainerState& state) {
  const std::string file = checkpoint_dir + "/optimizer.safetensors";
  ATTND_CHECK_INPUT(fs::exists(file), file, " does not exist (expected the optimizer state of "
                    "the checkpoint)");
  std::set<std::string> expected;
  for (const auto& [name, p] : task.model()->state())
    if (p.requires_grad())
      for (const char* field : {".exp_avg", ".exp_avg_sq", ".step"}) expected.insert(name + field);
  int64_t stored_params = 0;
  for (const auto& t : read_safetensors_header(file).tensors) {
    ATTND_CHECK_INPUT(expected.count(t.name), file, ": optimizer state '", t.name,
                      "' belongs to no trainable parameter of this model (expected "
                      "'<parameter>.exp_avg', '.exp_avg_sq' or '.step')");
    if (t.name.size() > 8 && t.name.compare(t.name.size() - 8, 8, ".exp_avg") == 0)
      ++stored_params;
  }
  ATTND_CHECK_INPUT(state.optimizer_params < 0 || state.optimizer_params == stored_params, file,
                    " holds the state of ", stored_params,
                    " parameters, but trainer.json (key optimizer_params) says ",
                    state.optimizer_params, "; the file is incomplete or from another run");
}

}  // namespace

void check_trainer_options(const TrainerOptions& o) {
  check_int("train.steps", o.steps, 1, "");
  check_int("train.batch_size", o.batch_size, 1, "");
  check_int("train.grad_accum", o.grad_accum, 1, "");
  check_int("train.warmup_steps", o.warmup_steps, 0, " (0: no warmup)");
  check_int("train.eval_every", o.eval_every, 0, " (0: evaluate at the end only)");
  check_int("train.save_every", o.save_every, 0, " (0: save at each evaluation)");
  check_int("train.log_every", o.log_every, 1, "");
  check_int("train.keep_checkpoints", o.keep_checkpoints, 1, "");
  // The update runs in float32: 1e39 is a finite double but an infinite float.
  ATTND_CHECK_INPUT(o.adamw.lr > 0 && o.adamw.lr <= std::numeric_limits<float>::max(),
                    "train.lr = ", o.adamw.lr, " is out of range: expected a finite number > 0 "
                    "(at most ", std::numeric_limits<float>::max(), ", float32's largest)");
  ATTND_CHECK_INPUT(std::isfinite(o.adamw.weight_decay) && o.adamw.weight_decay >= 0,
                    "train.weight_decay = ", o.adamw.weight_decay,
                    " is out of range: expected a finite number >= 0");
  check_real("train.beta1", o.adamw.beta1, 0.0, 1.0, /*hi_open=*/true);
  check_real("train.beta2", o.adamw.beta2, 0.0, 1.0, /*hi_open=*/true);
  check_real("train.min_lr_ratio", o.min_lr_ratio, 0.0, 1.0, /*hi_open=*/false);
  ATTND_CHECK_INPUT(std::isfinite(o.clip_grad_norm) && o.clip_grad_norm >= 0,
                    "train.clip_grad_norm = ", o.clip_grad_norm,
                    " is out of range: expected a finite number >= 0 (0: no clipping)");
}

std::string resolve_resume_checkpoint(const std::string& resume_from, const std::string& run_dir) {
  if (resume_from.empty()) return "";
  std::string ckpt = resume_from;
  if (!fs::exists(fs::path(ckpt) / "trainer.json")) ckpt = Trainer::latest_checkpoint(resume_from);
  ATTND_CHECK_INPUT(!ckpt.empty(), "cannot resume from '", resume_from,
                    "': expected a checkpoint directory (with trainer.json) or a run directory "
                    "with checkpoints/step-N");
  trainer_state_from_json(load_checkpoint_json(ckpt, "trainer.json"),
                          (fs::path(ckpt) / "trainer.json").string());
  // A step checkpoint lives in <run>/checkpoints/; resuming it into another run directory would
  // continue without the run's best/ and metrics.jsonl.
  const fs::path parent = canonical_or_absolute(ckpt).parent_path();
  if (parent.filename() == "checkpoints") {
    const fs::path owner = parent.parent_path();
    ATTND_CHECK_INPUT(owner == canonical_or_absolute(run_dir), "cannot resume '", ckpt,
                      "' into '", run_dir, "': the checkpoint belongs to the run in '",
                      owner.string(), "' (its best/ and metrics.jsonl are there); resume with "
                      "--out ", owner.string(), ", or start a new run from its weights with "
                      "--set run.init=", ckpt);
  }
  return ckpt;
}

TrainerState check_resume_checkpoint(const std::string& checkpoint_dir, Task& task,
                                     const TrainerOptions& options) {
  const TrainerState state = trainer_state_from_json(
      load_checkpoint_json(checkpoint_dir, "trainer.json"), checkpoint_dir + "/trainer.json");
  ATTND_CHECK_INPUT(state.step <= options.steps, checkpoint_dir, " is at step ", state.step,
                    ", beyond train.steps = ", options.steps);
  check_checkpoint_files(checkpoint_dir, task, options);
  check_optimizer_keys(checkpoint_dir, task, state);
  return state;
}

void remove_unfinished_checkpoints(const std::string& run_dir) {
  for (const fs::path& dir : {fs::path(run_dir) / "checkpoints", fs::path(run_dir)}) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const auto name = entry.path().filename().string();
      const bool staged = (name.rfind("step-", 0) == 0 || name.rfind("best", 0) == 0) &&
                          name.find(".tmp-") != std::string::npos;
      if (staged && entry.is_directory(ec)) fs::remove_all(entry.path(), ec);
    }
  }
}

}  // namespace attnd
