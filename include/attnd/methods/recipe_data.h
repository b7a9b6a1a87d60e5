// The data of a recipe, whatever the modality: data.dataset picks one of
//   fashion-mnist       images → image classification (vit, vit_mae)
//   spam-assassin       e-mails, ham vs spam → text classification (bert)
//   sotu-party          State of the Union passages, Democratic vs Republican speaker → text
//                       classification (bert; data/sotu_party.h)
//   text-file           the user's .jsonl/.tsv/.csv files (data.train_file, data.val_file,
//                       data.test_file, data.label_names) → text classification (bert)
//   sotu                State of the Union addresses → language modelling (gpt2)
//   associative-recall  generated multi-query associative recall → language modelling (gpt2)
// Text classification data can carry a backdoor attack (data.attack = badnets | addsent): the
// training split is poisoned (data/backdoor.h), and a triggered copy of the test split measures the
// attack success rate.
// Text datasets come with a WordPiece tokenizer: data.vocab, else the one in run.init's
// checkpoint, else one trained on the training split (data.vocab_size). It travels with every
// checkpoint of the run as tokenizer.json.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attnd/core/config.h"
#include "attnd/data/backdoor.h"
#include "attnd/data/batch.h"
#include "attnd/data/image_dataset.h"
#include "attnd/data/wordpiece.h"
#include "attnd/models/model.h"

namespace attnd {

enum class DataTask { kImageClassification, kTextClassification, kLanguageModelling, kDetection };

struct RecipeData {
  DataTask task = DataTask::kImageClassification;
  std::string name;                                 // data.dataset
  std::shared_ptr<const Dataset> train;             // what the trainer samples (augmented images)
  std::shared_ptr<const Dataset> val;               // picks the best checkpoint
  std::shared_ptr<const Dataset> test;              // reported
  std::shared_ptr<const ImageDataset> test_images;  // image datasets: test with class names
  std::shared_ptr<const WordPieceTokenizer> tokenizer;  // text datasets
  int64_t vocab_size = 0;                           // token ids are below this (text, recall)
  // Text classification only:
  std::vector<std::string> label_names;
  std::vector<TextExample> clean_train_examples;    // the training split before any poisoning
  std::vector<TextExample> test_examples;
  std::optional<PoisonSpec> attack;                 // data.attack, when not none
  std::vector<int64_t> poisoned;                    // training examples the attack replaced
  std::shared_ptr<const Dataset> triggered;         // non-target test examples with the trigger,
                                                    // labelled with the target: ASR = accuracy
  // Other JSON files every checkpoint of the run carries (a detector's categories.json).
  std::map<std::string, nlohmann::json> extra_checkpoint_files;

  // Files every checkpoint of the run carries: tokenizer.json for text datasets.
  std::map<std::string, nlohmann::json> checkpoint_files() const;
};

// Reads data.* (and run.init for a tokenizer). InputError for an unknown dataset, a missing
// folder (naming scripts/fetch-data for the packaged corpora) or impossible sizes.
RecipeData load_recipe_data(const Config& config);

// The attack of data.attack* (nullopt for none). InputError for a bad value, naming its key.
std::optional<PoisonSpec> attack_spec(const Config& config);
// The spec that makes the triggered test set: the attack with its own draws.
PoisonSpec triggered_spec(const PoisonSpec& attack);

// The model types that fit a data task, for messages ("vit or vit_mae", "bert", "gpt2").
std::string model_types_for(DataTask task);
// InputError when `model` cannot learn `data` (wrong model type, vocab smaller than the data's).
void check_model_fits_data(ModelImpl& model, const RecipeData& data);

}  // namespace attnd

namespace attnd {

// The recipe a checkpoint was trained with: config.toml in the checkpoint directory or up to
// three levels above it (<run>/best, <run>/checkpoints/step-N, <run>/stage2/best), or "" if none.
std::string find_run_config(const std::string& checkpoint_dir);
// "data.key=value" assignments for every data.* key of that config.toml (other tables are
// ignored: they belong to the verb that wrote it), ready for Config::apply_override.
std::vector<std::string> data_overrides_from_run_config(const std::string& toml_path);
// The data settings of the run that wrote `checkpoint` — so that its test split is the one it
// never trained on — as a recipe Config: the recipe defaults, then that run's config.toml data.*
// (when one is found), then `overrides` ("data.key=value" only; InputError for other keys).
// data.vocab defaults to the checkpoint itself (its tokenizer.json). `source` receives the
// config.toml used, or "".
Config checkpoint_data_config(const std::string& checkpoint,
                              const std::vector<std::string>& overrides,
                              std::string* source = nullptr);

}  // namespace attnd
