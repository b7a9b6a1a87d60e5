// One trainer run of a recipe — a "stage". attnd train, distill and transfer run one; attnd
// linearize runs two (<run>/stage1: attention mimicry, <run>/stage2: finetuning) and records in
// <run>/stages.json which one is in progress, so that a resume continues the right stage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "attnd/core/config.h"
#include "attnd/methods/recipe_data.h"
#include "attnd/train/trainer.h"

namespace attnd {

// The recipe's trainer options (train.*, run.*) with the data's checkpoint files; a stage then
// changes what it needs (steps, learning rate, run directory, label) before run_stage.
TrainerOptions stage_options(const Config& config, const RecipeData& data);

struct StageResult {
  TrainResult train;
  Model best;  // the best checkpoint reloaded from disk; null when the run stopped before the end
};
// Trains `task` on data.train (resume: "" or whatever Trainer::fit takes), then reloads the best
// checkpoint onto options.device.
StageResult run_stage(const TrainerOptions& options, Task& task, const RecipeData& data,
                      const std::string& resume);

// <run>/stages.json: the stage in progress (finished = false) or the last one done.
struct StageRecord {
  int64_t stage = 1;
  bool finished = false;
};
void write_stage_record(const std::string& run_dir, const StageRecord& record);
// nullopt when the directory has no record; InputError when the record is malformed.
std::optional<StageRecord> read_stage_record(const std::string& run_dir);
// <run>/stage<n>.
std::string stage_dir(const std::string& run_dir, int64_t stage);

struct StageResume {
  int64_t stage = 0;  // 0: a fresh run
  std::string from;   // what that stage's Trainer::fit resumes from
};
// Where `resume` continues a run of `stages` stages:
//   ""                                  a fresh run
//   a run directory                     the stage of its record (else its newest stage with a
//                                       checkpoint), from that stage's latest checkpoint; a stage
//                                       that saved nothing yet falls back to the one before (a
//                                       finished trainer run only reloads its end)
//   <run>/stage<n>, or a checkpoint     stage n, from that path (the layout decides, not the
//   below it                            spelling of the path above it)
//   anything else                       stage 1, from that path
StageResume resolve_stage_resume(const std::string& resume, int64_t stages);

}  // namespace attnd
