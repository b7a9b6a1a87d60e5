// Options shared by the verbs that run a recipe (train, distill, transfer, linearize).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "attnd/core/config.h"

namespace attnd::cli {

// A shortcut flag that sets one recipe key: `--teacher X` is `--set transfer.teacher=X`.
struct KeyFlag {
  std::string key;
  std::string value;  // empty: not given
};

struct RecipeOptions {
  std::string recipe;
  std::vector<std::string> overrides;
  std::string resume;
  std::deque<KeyFlag> key_flags;  // a deque: CLI11 holds a reference to each value
  bool print_config = false;
  std::vector<std::string> fresh_run_files;  // add_overwrite_flag's run_files
  int64_t nproc = 0;          // --nproc: local data-parallel workers (0, 1: this process alone)
  double dist_timeout = 0;    // --dist-timeout seconds (0: ATTND_DIST_TIMEOUT or the default)
};

// The recipe file, --set, --resume, --print-config, the flags --device and --out, and the data
// parallel options --nproc and --dist-timeout (docs/distributed.md).
void add_recipe_options(CLI::App& cmd, RecipeOptions& options);
// Declares --flag as a shortcut for `key`; the help says which key it sets.
CLI::Option* add_key_flag(CLI::App& cmd, RecipeOptions& options, const std::string& flag,
                          const std::string& key, const std::string& help);
// --overwrite (sets run.overwrite): a verb that starts a fresh run refuses a non-empty run
// directory unless it is given. Verbs whose method does not check that itself name the files
// their run writes (`run_files`): resolve_recipe then refuses the directory, or with --overwrite
// removes those files, for a run without --resume (prepare_fresh_run_directory).
void add_overwrite_flag(CLI::App& cmd, RecipeOptions& options,
                        std::vector<std::string> run_files = {});
// --set assignments, then "key=value" for every shortcut flag that was given (so they win).
std::vector<std::string> recipe_overrides(const RecipeOptions& options);
// Loads the recipe with --set overrides and the shortcut flags applied; false when --print-config
// was asked (the config is then printed and the verb should return) or when --nproc N ran the
// verb in N worker processes, which did the work.
bool resolve_recipe(const RecipeOptions& options, const ConfigSchema& schema, Config& out);

}  // namespace attnd::cli
