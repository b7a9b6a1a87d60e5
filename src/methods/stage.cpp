#include "attnd/methods/stage.h"

#include <filesystem>

#include "attnd/core/error.h"
#include "attnd/io/checkpoint.h"
#include "attnd/models/model_io.h"
#include "attnd/io/json_file.h"
#include "attnd/methods/recipe.h"
#include "attnd/train/distributed.h"

namespace attnd {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStageRecordFile = "stages.json";

bool has_checkpoint(const fs::path& stage) {
  return !Trainer::latest_checkpoint(stage.string()).empty();
}

// n when `name` is "stage<n>" with 1 <= n <= stages, else 0.
int64_t stage_number(const std::string& name, int64_t stages) {
  for (int64_t n = 1; n <= stages; ++n)
    if (name == "stage" + std::to_string(n)) return n;
  return 0;
}

}  // namespace

TrainerOptions stage_options(const Config& config, const RecipeData& data) {
  auto options = trainer_options(config);
  options.checkpoint_files = data.checkpoint_files();
  return options;
}

StageResult run_stage(const TrainerOptions& options, Task& task, const RecipeData& data,
                      const std::string& resume) {
  StageResult result;
  Trainer trainer(options, task, *data.train);
  result.train = trainer.fit(resume);
  if (result.train.steps_done == options.steps && !result.train.best_dir.empty())
    result.best = load_model(result.train.best_dir, options.device);
  return result;
}

std::string stage_dir(const std::string& run_dir, int64_t stage) {
  return (fs::path(run_dir) / ("stage" + std::to_string(stage))).string();
}

void write_stage_record(const std::string& run_dir, const StageRecord& record) {
  if (!is_writer_process()) return;  // data parallel: rank 0 keeps the record
  write_json_file((fs::path(run_dir) / kStageRecordFile).string(),
                  {{"stage", record.stage}, {"finished", record.finished}});
}

std::optional<StageRecord> read_stage_record(const std::string& run_dir) {
  const auto path = (fs::path(run_dir) / kStageRecordFile).string();
  if (!fs::is_regular_file(path)) return std::nullopt;
  const auto json = read_json_file(path);
  ATTND_CHECK_INPUT(json.is_object() && json.contains("stage") && json["stage"].is_number_integer() &&
                        json.contains("finished") && json["finished"].is_boolean(),
                    path, ": expected {\"stage\": <n>, \"finished\": true|false}");
  return StageRecord{json["stage"].get<int64_t>(), json.value("finished", false)};
}

StageResume resolve_stage_resume(const std::string& resume, int64_t stages) {
  if (resume.empty()) return {};
  auto path = fs::path(resume).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // "run/" → "run"

  // A run directory: its own record says which stage was running.
  const auto record = read_stage_record(path.string());
  int64_t newest = 0;
  for (int64_t n = 1; n <= stages; ++n)
    if (has_checkpoint(stage_dir(path.string(), n))) newest = n;
  if (record || newest > 0) {
    int64_t stage = record ? record->stage : newest;
    ATTND_CHECK_INPUT(stage >= 1 && stage <= stages, (path / kStageRecordFile).string(),
                      ": stage ", stage, " is not a stage of this run (1..", stages, ")");
    while (stage > 1 && !has_checkpoint(stage_dir(path.string(), stage))) --stage;
    return {stage, stage_dir(path.string(), stage)};
  }
  // A stage directory or a checkpoint below one: the nearest "stage<n>" on the way up.
  for (auto dir = fs::absolute(path); dir.has_filename(); dir = dir.parent_path())
    if (const auto n = stage_number(dir.filename().string(), stages)) return {n, resume};
  return {1, resume};
}

}  // namespace attnd
