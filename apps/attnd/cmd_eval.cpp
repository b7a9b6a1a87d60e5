// attnd eval: a checkpoint's task metric on a dataset split (accuracy and loss for classifiers,
// perplexity for language models), an ensemble's, and — for a linearized model — the attention
// fidelity of every converted layer against softmax attention.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>

#include "attnd/core/error.h"
#include "attnd/data/image_dataset.h"
#include "attnd/data/text_batches.h"
#include "attnd/data/text_dataset.h"
#include "attnd/models/model_io.h"
#include "attnd/methods/detect.h"
#include "attnd/methods/linearize.h"
#include "attnd/methods/recipe.h"
#include "attnd/methods/recipe_data.h"
#include "attnd/train/objectives.h"
#include "commands.h"

namespace attnd::cli {

namespace fs = std::filesystem;

namespace {
struct EvalOptions {
  std::string checkpoint;
  std::string data;      // data.dataset; "" = the run's, else fashion-mnist
  std::string data_dir;  // data.dir
  std::vector<std::string> overrides;
  std::string split = "test";
  int64_t batch_size = 500;
  std::string device = "cpu";
  int64_t threads = 0;
  bool json = false;
  std::vector<std::string> ensemble;  // more checkpoints: report the mean of probabilities
  std::string shift = "none";         // distribution shift of the images
  bool fidelity = false;
  std::string teacher;                // fidelity reference; "" = the checkpoint's own softmax
  int64_t fidelity_examples = 1000;
  std::string triggered;              // a triggered set: its accuracy is the attack success rate
};

// The data settings: the run's config.toml (so that the split is the one trained on), then
// --data / --data-dir / --set; the tokenizer is the checkpoint's.
Config data_config(const EvalOptions& o, std::string& source) {
  std::vector<std::string> overrides;
  if (!o.data.empty()) overrides.push_back("data.dataset=" + o.data);
  if (!o.data_dir.empty()) overrides.push_back("data.dir=" + o.data_dir);
  for (const auto& a : o.overrides) {
    ATTND_CHECK_INPUT(a.rfind("data.", 0) == 0, "attnd eval --set takes data.* keys only, got '",
                      a, "'");
    overrides.push_back(a);
  }
  return checkpoint_data_config(o.checkpoint, overrides, &source);
}

// The reference for fidelity: --teacher, else the checkpoint itself with softmax in every layer
// (how well the feature maps mimic softmax over the model's own queries and keys).
Model fidelity_reference(const EvalOptions& o, const torch::Device& device) {
  if (!o.teacher.empty()) return load_model(o.teacher, device);
  auto reference = load_model(o.checkpoint, device);
  for (auto l : linearized_layers(*reference)) reference->attention(l)->set_mixer(make_mixer("softmax"));
  reference->to(device);
  return reference;
}

void print_metrics(const EvalOptions& o, const std::string& what, const Metrics& m, int64_t n) {
  std::cout << o.checkpoint << (o.ensemble.empty() ? "" : " (ensemble)") << " on " << what << " ("
            << n << " examples): " << std::fixed;
  if (m.count("perplexity"))
    std::cout << "perplexity " << std::setprecision(2) << m.at("perplexity") << ", loss "
              << std::setprecision(4) << m.at("loss") << ", next-token accuracy "
              << std::setprecision(2) << 100.0 * m.at("accuracy") << "%\n";
  else if (m.count("accuracy"))
    std::cout << "accuracy " << std::setprecision(2) << 100.0 * m.at("accuracy") << "%, loss "
              << std::setprecision(4) << m.at("loss") << "\n";
  else  // e.g. a masked autoencoder's reconstruction loss
    std::cout << "loss " << std::setprecision(4) << m.at("loss") << "\n";
}

// A detector: COCO box AP/AR on a split of its run's detection data set (data.dir of the run's
// config.toml, or --data-dir), as `attnd detect eval` computes it. The classifier-only options
// are refused by name rather than read as data keys the detection recipe does not have.
void evaluate_detector_checkpoint(const EvalOptions& o, ModelImpl& model, const torch::Device& device) {
  auto refuse = [](bool given, const char* option) {
    ATTND_CHECK_INPUT(!given, "this checkpoint is a detector: ", option, " does not apply to it "
                      "(attnd eval scores it by COCO box AP; attnd detect eval takes --images/"
                      "--annotations for other data)");
  };
  refuse(!o.data.empty(), "--data");
  refuse(!o.overrides.empty(), "--set");
  refuse(!o.ensemble.empty(), "--with");
  refuse(o.shift != "none", "--shift");
  refuse(o.fidelity, "--fidelity");
  refuse(!o.triggered.empty(), "--triggered");
  const auto config = checkpoint_detect_config(o.checkpoint);
  auto dir = o.data_dir.empty() ? config.get_string("data.dir") : o.data_dir;
  if (dir.empty()) dir = kDefaultDetectionData;
  auto data = load_detection_split(dir, o.split, detection_data_options(config, false));
  const auto predicted = checkpoint_categories(o.checkpoint, model);
  ATTND_CHECK_INPUT(static_cast<int64_t>(predicted.size()) == data->num_classes(), dir, "/", o.split,
                    " has ", data->num_classes(), " categories, the model predicts ", predicted.size());
  for (size_t i = 0; i < predicted.size(); ++i)
    ATTND_CHECK_INPUT(predicted[i].id == data->category_ids()[i], "category ", i, " of the model has id ",
                      predicted[i].id, " but ", dir, "/", o.split, "'s has id ", data->category_ids()[i]);
  const auto result = evaluate_detector(model, *data, o.batch_size, device,
                                        detection_output_options(config, model));
  if (o.json) {
    nlohmann::json out = coco_metrics(result);
    out["checkpoint"] = o.checkpoint;
    out["data_dir"] = dir;
    out["split"] = o.split;
    out["examples"] = data->size();
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << o.checkpoint << " on " << dir << "/" << o.split << " (" << data->size()
            << " images):\n" << format_coco_summary(result);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand(
      "eval", "evaluate a checkpoint or an ensemble on a dataset split; --fidelity for the "
              "attention fidelity of a linearized model");
  cmd->add_option("checkpoint", o->checkpoint, "checkpoint directory")->required();
  cmd->add_option("--data", o->data,
                  "fashion-mnist | spam-assassin | sotu-party | text-file | sotu | "
                  "associative-recall (default: the "
                  "dataset of the run that wrote the checkpoint, else fashion-mnist)");
  cmd->add_option("--data-dir", o->data_dir, "the dataset's directory (sets data.dir)");
  cmd->add_option("--set", o->overrides, "override a data.* key, e.g. --set data.max_length=128")
      ->take_all();
  cmd->add_option("--split", o->split, "test | val | train")
      ->check(CLI::IsMember({"test", "val", "train"}))
      ->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "evaluation batch size (>= 1)")
      ->check(CLI::Range(int64_t{1}, std::numeric_limits<int64_t>::max()))
      ->capture_default_str();
  cmd->add_option("--device", o->device, "cpu | cuda | cuda:N")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--json", o->json, "print the metrics as JSON");
  cmd->add_option("--with", o->ensemble,
                  "another classifier to ensemble with (mean of class probabilities; repeatable)");
  cmd->add_option("--shift", o->shift,
                  "images: none | invert | rotate90 | rotate180 | rotate270 | noise:<std>, "
                  "joined by + (e.g. invert+noise:0.1)")
      ->capture_default_str();
  cmd->add_flag("--fidelity", o->fidelity,
                "also report per converted layer the attention CE, KL, entropies and Spearman ρ "
                "of the linear weights against softmax");
  cmd->add_option("--teacher", o->teacher,
                  "fidelity reference: the softmax original (default: this checkpoint with "
                  "softmax attention in every layer)");
  cmd->add_option("--fidelity-examples", o->fidelity_examples,
                  "examples used for the fidelity")->capture_default_str();
  cmd->add_option("--triggered", o->triggered,
                  "text classifiers: a triggered set (.jsonl/.tsv/.csv, labelled with the attack's "
                  "target) whose accuracy is reported as ASR (default: the run's data.attack, if any)");
  cmd->footer(
      "The data split is the one the checkpoint's run trained with (its config.toml's data.*),\n"
      "so that test examples stay unseen; --data/--set change it.\n"
      "Example: attnd eval runs/hedgehog/bert/model --fidelity --teacher runs/spam-bert/best");
  cmd->callback([o]() {
    configure_threads(o->threads);
    auto device = parse_device(o->device);
    // A detector's data keys (data.channels, data.image_size, ...) are the detection recipe's.
    auto first = load_model(o->checkpoint, device);
    if (first->task_kind() == TaskKind::kDetection)
      return evaluate_detector_checkpoint(*o, *first, device);
    std::string run_config;
    auto config = data_config(*o, run_config);
    const auto transform = parse_image_transform(o->shift);
    const auto dataset = config.get_string("data.dataset");
    ATTND_CHECK_INPUT(o->shift == "none" || dataset == "fashion-mnist",
                      "--shift applies to images; the data is ", dataset);
    std::vector<Model> members{first};
    std::vector<std::string> paths{o->checkpoint};
    paths.insert(paths.end(), o->ensemble.begin(), o->ensemble.end());
    for (size_t i = 1; i < paths.size(); ++i) members.push_back(load_model(paths[i], device));
    auto data = load_recipe_data(config);
    for (size_t i = 0; i < members.size(); ++i) {
      try {
        check_model_fits_data(*members[i], data);
      } catch (const InputError& e) {
        throw_input_error(paths[i], ": ", e.what());
      }
    }
    std::shared_ptr<const Dataset> split =
        o->split == "test" ? data.test : o->split == "val" ? data.val : data.train;
    std::shared_ptr<const Dataset> shifted;
    if (o->shift != "none") {
      ATTND_CHECK_INPUT(o->split == "test", "--shift is applied to the test images only");
      shifted = std::make_shared<ImageDataset>(data.test_images->with_transform(transform));
      split = shifted;
    }
    Metrics metrics;
    if (members.size() == 1) {
      metrics = evaluate_model(*members[0], *split, o->batch_size, device);
    } else {
      ATTND_CHECK_INPUT(data.task != DataTask::kLanguageModelling,
                        "--with ensembles classifiers; language models are not supported");
      metrics = evaluate_ensemble(members, *split, o->batch_size, device);
    }
    // Backdoors: the attack success rate on the triggered set (the given file, or the run's attack).
    std::shared_ptr<const Dataset> triggered = data.triggered;
    if (!o->triggered.empty()) {
      ATTND_CHECK_INPUT(data.task == DataTask::kTextClassification,
                        "--triggered applies to text classifiers; the data is ", dataset);
      triggered = std::make_shared<TextClassificationDataset>(
          read_examples_file(o->triggered, data.label_names), *data.tokenizer,
          config.get_int("data.max_length"), TextPadding::kLongest,
          static_cast<int64_t>(data.label_names.size()));
    }
    std::optional<double> asr;
    if (triggered && members.size() == 1 && o->shift == "none")
      asr = evaluate_model(*members[0], *triggered, o->batch_size, device).at("accuracy");
    std::vector<LayerFidelity> fidelity;
    if (o->fidelity) {
      ATTND_CHECK_INPUT(!linearized_layers(*members[0]).empty(), o->checkpoint,
                        " has softmax attention in every layer: --fidelity needs a linearized "
                        "model (attnd linearize)");
      auto reference = fidelity_reference(*o, device);
      fidelity = attention_fidelity(*reference, *members[0], *split, o->batch_size, device,
                                    o->fidelity_examples);
    }
    const auto what = dataset + "/" + o->split + (o->shift == "none" ? "" : " shifted by " + o->shift);
    if (o->json) {
      nlohmann::json out = metrics;
      out["checkpoint"] = o->checkpoint;
      if (!o->ensemble.empty()) out["ensemble_with"] = o->ensemble;
      out["dataset"] = dataset;
      out["shift"] = o->shift;
      out["split"] = o->split;
      out["examples"] = split->size();
      if (asr) {
        out["asr"] = *asr;
        out["triggered_examples"] = triggered->size();
        out["triggered_from"] = o->triggered.empty() ? "the run's data.attack" : o->triggered;
      }
      if (!run_config.empty()) out["data_from"] = run_config;
      if (o->fidelity) {
        out["fidelity"] = fidelity_json(fidelity);
        out["fidelity_reference"] = o->teacher.empty() ? "own softmax" : o->teacher;
      }
      std::cout << out.dump(2) << "\n";
      return;
    }
    if (!run_config.empty()) std::cerr << "eval: data settings from " << run_config << "\n";
    print_metrics(*o, what, metrics, split->size());
    if (asr)
      std::cout << "attack success rate " << std::fixed << std::setprecision(2) << 100.0 * *asr
                << "% on " << triggered->size() << " triggered examples ("
                << (o->triggered.empty() ? "the run's data.attack" : o->triggered) << ")\n";
    if (o->fidelity)
      std::cout << "\nattention fidelity vs "
                << (o->teacher.empty() ? "its own softmax attention" : o->teacher) << ":\n\n"
                << fidelity_table(fidelity);
  });
}

}  // namespace attnd::cli
