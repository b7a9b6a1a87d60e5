// attnd purify: remove a backdoor from a text classifier with a small clean labelled set and no
// pre-trained weights — MBTSAD (Ding et al., ICTAI 2024) and the baselines it is compared with.
//
//   mbtsad    stage 1: teacher = the backdoored model fine-tuned on a token-split copy of the clean
//             set (data/backdoor.h split_tokens); stage 2: student = the backdoored model trained on
//             the clean set with CE + β_att · attention loss + β_hid · hidden-state MSE against the
//             frozen teacher (distill/distiller.h)
//   nad       the same distillation, the teacher fine-tuned on the clean set as it is (NAD)
//   finetune  stage 2 alone: the backdoored model fine-tuned on the clean set
//   retrain   stage 1 alone: the token-split teacher is the result
//   onion     a test-time baseline (methods/onion.h): stage 1 trains a GPT-2 LM on the clean set's
//             text for teacher_steps + steps steps; test inputs lose the words whose removal lowers
//             its perplexity by more than purify.onion_threshold; the classifier is not changed
// Every method starts from the backdoored weights; the step budget is purify.teacher_steps for
// stage 1 and train.steps for stage 2. No checkpoint is chosen by a metric: each stage evaluates
// once, at its end, on the clean set (the defender has no other data), and that is the result.
//
// Data: the clean set is purify.clean_file, or a stratified purify.clean_fraction of the clean
// training split of the run that wrote the backdoored model (its config.toml's data.*, attack
// removed). CACC is measured on that run's test split (or purify.test_file), ASR on its triggered
// test set (data.attack) or purify.triggered_file; without either, ASR is not reported.
#pragma once

#include <optional>
#include <string>

#include "attnd/core/config.h"
#include "attnd/data/batch.h"
#include "attnd/models/model.h"
#include "attnd/train/eval_sums.h"

namespace attnd {

// Clean accuracy and attack success rate of a classifier.
struct BackdoorMetrics {
  double cacc = 0;                 // accuracy on the clean test set
  std::optional<double> asr;       // accuracy on the triggered set (labels = the target)
  int64_t clean_examples = 0, triggered_examples = 0;
};
BackdoorMetrics backdoor_metrics(ModelImpl& model, const Dataset& test, const Dataset* triggered,
                                 int64_t batch_size, const torch::Device& device);
nlohmann::json to_json(const BackdoorMetrics& m);

// run.*, data.* (as in recipes; set ones override the backdoored model's run), train.* (stage 2)
// and purify.*.
ConfigSchema purify_schema();

struct PurifyResult {
  std::string run_dir;
  std::string method;
  BackdoorMetrics backdoored, purified;
  std::optional<BackdoorMetrics> teacher;  // methods with a stage 1
  int64_t clean_examples = 0;
  double seconds = 0;  // wall time of the defence (both stages, evaluation excluded)
};

// Writes <run>/config.toml, stage1/ and stage2/ (trainer runs), model/ (the purified classifier,
// with its tokenizer; onion: onion_test.jsonl and onion_triggered.jsonl instead), result.json and
// report.md. resume: "" or the run directory / a stage
// checkpoint (methods/stage.h).
PurifyResult run_purify_recipe(const Config& config, const std::string& resume = "");

}  // namespace attnd
