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
  // A fresh run refuses a non-empty run directory; --overwrite replaces the run in it.
  auto& overwrite = options->key_flags.emplace_back(KeyFlag{"run.overwrite", ""});
  cmd->add_flag_callback("--overwrite", [&overwrite] { overwrite.value = "true"; },
                         "replace the run in a non-empty --out directory (sets run.overwrite)");
  cmd->footer("Example: attnd train recipes/fashion-mnist-vit.toml --set train.steps=2000");
  cmd->callback([options]() {
    Config config(recipe_schema(false));
    if (!resolve_recipe(*options, recipe_schema(false), config)) return;
    auto result = run_train_recipe(config, options->resume);
    print_recipe_result(std::cout, "train", result);
  });
}

}  // namespace attnd::cli
