// attnd distill: the generic method — teacher checkpoint + student config + loss spec.
#include <iostream>

#include "attnd/methods/recipe.h"
#include "commands.h"
#include "recipe_options.h"
#include "report.h"

namespace attnd::cli {

void add_distill_command(CLI::App& app) {
  auto options = std::make_shared<RecipeOptions>();
  auto* cmd = app.add_subcommand(
      "distill", "train a student with attention/hidden-state distillation from a frozen teacher");
  add_recipe_options(*cmd, *options);
  add_overwrite_flag(*cmd, *options);
  add_key_flag(*cmd, *options, "--teacher", "distill.teacher", "teacher checkpoint directory");
  cmd->footer(
      "The student is [model] (or run.init); the loss is train's task loss times "
      "distill.task_weight plus distill.attention_weight x the attention loss (soft_ce, kl, mse) "
      "over the layers of distill.layer_map, plus distill.hidden_weight x hidden-state MSE.\n"
      "Example: attnd distill recipes/fashion-mnist-distill.toml --teacher runs/teacher/best");
  cmd->callback([options]() {
    Config config(recipe_schema(true));
    if (!resolve_recipe(*options, recipe_schema(true), config)) return;
    auto result = run_distill_recipe(config, options->resume);
    print_recipe_result(std::cout, "distill", result);
  });
}

}  // namespace attnd::cli
