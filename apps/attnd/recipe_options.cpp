#include "recipe_options.h"

#include <iostream>

namespace attnd::cli {

void add_recipe_options(CLI::App& cmd, RecipeOptions& options) {
  cmd.add_option("recipe", options.recipe, "recipe TOML file (omit to use the defaults)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--set", options.overrides,
                 "override a recipe key, e.g. --set train.lr=3e-4 (repeatable)")
      ->take_all();
  cmd.add_option("--resume", options.resume,
                 "continue from a checkpoint directory or a run directory's latest checkpoint");
  cmd.add_option("--device", options.device, "cpu | cuda | cuda:N (overrides run.device)");
  cmd.add_option("--out", options.out, "run directory (overrides run.out)");
  cmd.add_flag("--print-config", options.print_config,
               "print the resolved recipe (every key, with defaults and help) and exit");
}

bool resolve_recipe(const RecipeOptions& options, const ConfigSchema& schema, Config& out) {
  std::vector<std::string> overrides = options.overrides;
  if (!options.device.empty()) overrides.push_back("run.device=" + options.device);
  if (!options.out.empty()) overrides.push_back("run.out=" + options.out);
  out = Config::load(schema, options.recipe, overrides);
  if (options.print_config) {
    std::cout << out.to_toml();
    return false;
  }
  return true;
}

}  // namespace attnd::cli
