// attnd eval: a checkpoint's accuracy and loss on a dataset split.
#include <iomanip>
#include <iostream>

#include "attnd/core/error.h"
#include "attnd/data/image_dataset.h"
#include "attnd/io/checkpoint.h"
#include "attnd/methods/recipe.h"
#include "attnd/train/objectives.h"
#include "commands.h"

namespace attnd::cli {

namespace {
struct EvalOptions {
  std::string checkpoint;
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string split = "test";
  int64_t batch_size = 500;
  std::string device = "cpu";
  int64_t threads = 0;
  bool json = false;
  std::vector<std::string> ensemble;  // more checkpoints: report the mean of probabilities
  std::string shift = "none";         // distribution shift of the images
};
}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand("eval", "evaluate a checkpoint or an ensemble (accuracy, loss) on Fashion-MNIST, optionally shifted");
  cmd->add_option("checkpoint", o->checkpoint, "checkpoint directory")->required();
  cmd->add_option("--data-dir", o->data_dir, "Fashion-MNIST directory")->capture_default_str();
  cmd->add_option("--split", o->split, "test | train")
      ->check(CLI::IsMember({"test", "train"}))
      ->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "evaluation batch size")->capture_default_str();
  cmd->add_option("--device", o->device, "cpu | cuda | cuda:N")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--json", o->json, "print the metrics as JSON");
  cmd->add_option("--with", o->ensemble,
                  "another checkpoint to ensemble with (mean of class probabilities; repeatable)");
  cmd->add_option("--shift", o->shift,
                  "distribution shift of the images: none | invert | rotate90 | rotate180 | "
                  "rotate270 | noise:<std>, joined by + (e.g. invert+noise:0.1)")
      ->capture_default_str();
  cmd->callback([o]() {
    configure_threads(o->threads);
    auto device = parse_device(o->device);
    const auto transform = parse_image_transform(o->shift);
    std::vector<Model> members;
    for (const auto& path : [&] {
           std::vector<std::string> all{o->checkpoint};
           all.insert(all.end(), o->ensemble.begin(), o->ensemble.end());
           return all;
         }()) {
      auto model = load_model(path, device);
      ATTND_CHECK_INPUT(model->model_type() == "vit", path, " is a ", model->model_type(),
                        " model; attnd eval evaluates image classifiers (vit) on Fashion-MNIST");
      members.push_back(model);
    }
    auto data = load_fashion_mnist(o->data_dir, o->split == "train").with_transform(transform);
    auto metrics = members.size() == 1
                       ? evaluate_classifier(*members[0], data, o->batch_size, device)
                       : evaluate_ensemble(members, data, o->batch_size, device);
    if (o->json) {
      nlohmann::json out = metrics;
      out["checkpoint"] = o->checkpoint;
      if (!o->ensemble.empty()) out["ensemble_with"] = o->ensemble;
      out["shift"] = o->shift;
      out["split"] = o->split;
      out["examples"] = data.size();
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::cout << o->checkpoint << (o->ensemble.empty() ? "" : " (ensemble)") << " on fashion-mnist/"
              << o->split << (o->shift == "none" ? "" : " shifted by " + o->shift) << " (" << data.size()
              << " images): accuracy " << std::fixed << std::setprecision(2)
              << 100.0 * metrics["accuracy"] << "%, loss " << std::setprecision(4)
              << metrics["loss"] << "\n";
  });
}

}  // namespace attnd::cli
