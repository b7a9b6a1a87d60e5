// Options shared by the verbs that run a recipe (train, distill).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "attnd/core/config.h"

namespace attnd::cli {

struct RecipeOptions {
  std::string recipe;
  std::vector<std::string> overrides;
  std::string resume;
  std::string device;
  std::string out;
  bool print_config = false;
};

void add_recipe_options(CLI::App& cmd, RecipeOptions& options);
// Loads the recipe with --set overrides and the shortcut flags applied; nullopt-like false when
// --print-config was asked (the config is then printed and the verb should return).
bool resolve_recipe(const RecipeOptions& options, const ConfigSchema& schema, Config& out);

}  // namespace attnd::cli
