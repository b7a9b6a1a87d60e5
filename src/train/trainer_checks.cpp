#include "attnd/train/trainer_checks.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "attnd/core/error.h"
#include "attnd/io/checkpoint.h"

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
  ATTND_CHECK_INPUT(std::isfinite(o.adamw.lr) && o.adamw.lr > 0, "train.lr = ", o.adamw.lr,
                    " is out of range: expected a finite number > 0");
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
  const auto state = load_checkpoint_json(ckpt, "trainer.json");
  const std::string file = (fs::path(ckpt) / "trainer.json").string();
  ATTND_CHECK_INPUT(state.is_object(), file, ": expected a JSON object, got ", state.type_name());
  ATTND_CHECK_INPUT(state.contains("step") && state["step"].is_number_integer() &&
                        state["step"].get<int64_t>() >= 0,
                    file, ": key step: expected a non-negative integer, got ",
                    state.contains("step") ? state["step"].dump() : std::string("nothing"));
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

void remove_unfinished_checkpoints(const std::string& run_dir) {
  for (const fs::path dir : {fs::path(run_dir) / "checkpoints", fs::path(run_dir)}) {
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
