// Checks of a run before the trainer writes anything: every option in its allowed range (named by
// its recipe key), and a resume source that can be continued into this run directory.
#pragma once

#include <string>

#include "attnd/train/trainer.h"
#include "attnd/train/trainer_state.h"

namespace attnd {

// InputError naming the train.* key and its allowed range for the first option out of range.
// The Trainer calls it; recipe code calls it too, before writing the run's config.toml.
void check_trainer_options(const TrainerOptions& options);

// The checkpoint `resume_from` names ("" → ""): a checkpoint directory, or a run directory's
// newest checkpoints/step-N. InputError when there is none, when its trainer.json lacks a valid
// step, or when it belongs to another run directory than `run_dir` (its best/ and metrics.jsonl
// are there, so a resumed run elsewhere would lose them).
std::string resolve_resume_checkpoint(const std::string& resume_from, const std::string& run_dir);

// The checkpoint of a resume checked against this run, before anything is written (the trainer's
// restore runs it too): trainer.json (its step <= train.steps), config.json (this run's
// model_type), the extra JSON files such as tokenizer.json (equal to this run's), and the header
// of optimizer.safetensors (every entry the state of a trainable parameter, as many as trainer.json
// records). Returns trainer.json.
TrainerState check_resume_checkpoint(const std::string& checkpoint_dir, Task& task,
                                     const TrainerOptions& options);

// Removes step-N.tmp-* directories left by a save that was killed (never a finished checkpoint).
void remove_unfinished_checkpoints(const std::string& run_dir);

}  // namespace attnd
