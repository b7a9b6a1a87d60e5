// attnd train: supervised training of a model from a recipe.
#include <iostream>

#include "attnd/methods/recipe.h"
#include "commands.h"
#include "recipe_options.h"
#include "report.h"

namespace attnd::cli {

void add_train_command(CLI::App& app) {
  auto options = std::make_shared<RecipeOptions>();
  auto* cmd = app.add_subcommand("train", "train a model on its task from a recipe");
  add_recipe_options(*cmd, *options);
  add_overwrite_flag(*cmd, *options);
  cmd->footer("Example: attnd train recipes/fashion-mnist-vit.toml --set train.steps=2000");
  cmd->callback([options]() {
    Config config(recipe_schema(false));
    if (!resolve_recipe(*options, recipe_schema(false), config)) return;
    auto result = run_train_recipe(config, options->resume);
    print_recipe_result(std::cout, "train", result);
  });
}

}  // namespace attnd::cli
