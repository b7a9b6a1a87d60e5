// attnd linearize: Hedgehog — convert a trained softmax model to linear attention (stage 1:
// feature maps mimic the softmax weights; stage 2: finetune on the task).
#include <iomanip>
#include <iostream>

#include "attnd/methods/linearize.h"
#include "commands.h"
#include "recipe_options.h"

namespace attnd::cli {

void add_linearize_command(CLI::App& app) {
  auto options = std::make_shared<RecipeOptions>();
  auto* cmd = app.add_subcommand(
      "linearize", "convert a softmax model to linear attention with Hedgehog feature maps");
  add_recipe_options(*cmd, *options);
  add_overwrite_flag(*cmd, *options);  // run_linearize_recipe refuses a non-empty run directory
  add_key_flag(*cmd, *options, "--from", "run.init", "the softmax checkpoint to convert");
  add_key_flag(*cmd, *options, "--feature-map", "linearize.feature_map",
               "softmax_split | exp | softmax_concat | elu | relu | t2r | performer | cosformer | "
               "taylor | exp_t1 | exp_t2");
  add_key_flag(*cmd, *options, "--mixer", "linearize.mixer", "linear | hybrid")
      ->check(CLI::IsMember({"linear", "hybrid"}));
  add_key_flag(*cmd, *options, "--stages", "linearize.stages", "1 | 2 | both")
      ->check(CLI::IsMember({"1", "2", "both"}));
  add_key_flag(*cmd, *options, "--finetune", "linearize.finetune",
               "stage 2: full | lora (rank/alpha/targets: linearize.lora_*; merged on save)")
      ->check(CLI::IsMember({"full", "lora"}));
  cmd->footer(
      "Stage 1 freezes every base weight and trains only the feature maps, with the soft\n"
      "cross-entropy between the original's softmax rows and the linear rows (all layers at once,\n"
      "each fed the original's input). Stage 2 finetunes the whole converted model on the task\n"
      "(train.*), or only LoRA adapters on q/k/v/o with --finetune lora. Writes <run>/stage1,\n"
      "<run>/stage2, <run>/model, result.json and report.md.\n"
      "Example: attnd linearize recipes/hedgehog/vit.toml --from runs/fmnist-vit/best");
  cmd->callback([options]() {
    const auto schema = linearize_schema();
    Config config(schema);
    if (!resolve_recipe(*options, schema, config)) return;
    auto r = run_linearize_recipe(config, options->resume);
    if (r.stage1_skipped)
      std::cout << "linearize: this feature map has no parameters: stage 1 was skipped\n";
    std::cout << "linearize: " << describe_recovery(r.teacher_test, r.student_test) << "\n";
    for (const auto& f : r.fidelity)
      std::cout << "  layer " << f.layer << ": attention CE " << std::setprecision(4) << f.ce
                << ", KL " << f.kl << ", Spearman " << f.spearman << "\n";
    std::cout << "  run directory: " << r.run_dir << " (model/, report.md, result.json)\n";
  });
}

}  // namespace attnd::cli
