// Recipes: the TOML schema shared by `attnd train`, `attnd distill` and the demo, and the code that
// turns a resolved Config into data, models, a task and a trainer run.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attnd/core/config.h"
#include "attnd/methods/recipe_data.h"
#include "attnd/train/trainer.h"

namespace attnd {

// run.*, data.*, train.* and the free-form [model] table; with_distill adds distill.*.
ConfigSchema recipe_schema(bool with_distill);

// The model of a recipe: from run.init (a checkpoint) or built from [model] (HF config keys,
// checked against the model type's known keys with a suggestion for typos). Seeded by run.seed.
// With data: a text model without model.vocab_size takes the data's, and the model must fit the
// data (check_model_fits_data).
Model build_model(const Config& config, const RecipeData* data = nullptr);
Model build_model(const Config& config, const RecipeData& data);

// run.out, or runs/<run.name> when empty.
std::string run_directory(const Config& config);
TrainerOptions trainer_options(const Config& config);
// Applies run.threads (0: all cores) to LibTorch and OpenBLAS; returns the thread count used.
int configure_threads(int64_t threads);
torch::Device parse_device(const std::string& name);

struct RecipeResult {
  TrainResult train;
  Metrics test;         // the best checkpoint's metrics on the test split
  std::string run_dir;
  int64_t train_examples = 0;  // what the trainer sampled from (after data.train_examples)
  int64_t test_examples = 0;   // what `test` was measured on
};

// A fresh run needs a run directory that does not exist, is empty, or (overwrite: run.overwrite /
// --overwrite) holds a run whose `run_files` (names in the directory) are removed first; anything
// else is an InputError naming the directory and the way out (--resume, --overwrite, another
// --out). Training over another run would keep its checkpoints, so a later --resume would
// continue the wrong run.
void prepare_fresh_run_directory(const std::string& run_dir, bool overwrite,
                                 const std::vector<std::string>& run_files);

// `attnd train`: supervised training. `attnd distill`: the same student trained with the distill.*
// terms from a frozen teacher. Both write config.toml, metrics.jsonl, checkpoints/, best/ and
// result.json in the run directory. resume: "" or a checkpoint/run directory.
RecipeResult run_train_recipe(const Config& config, const std::string& resume = "");
// The shared tail of the recipes: writes config.toml, trains `task` on data.train (checkpoints
// carry data.checkpoint_files()), then evaluates the best checkpoint (reloaded from disk) on
// data.test — with `test` if given, else with evaluate_model — and writes result.json.
using TestFn = std::function<Metrics(const Model& best, const RecipeResult& result)>;
RecipeResult train_and_test(const Config& config, Task& task, const RecipeData& data,
                            const std::string& resume, const TestFn& test = {});
RecipeResult run_distill_recipe(const Config& config, const std::string& resume = "");

}  // namespace attnd
