#include "recipe_options.h"

#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>

#include "attnd/core/error.h"
#include "attnd/methods/recipe.h"
#include "attnd/train/distributed.h"
#include "launcher.h"

namespace attnd::cli {

void add_recipe_options(CLI::App& cmd, RecipeOptions& options) {
  cmd.add_option("recipe", options.recipe, "recipe TOML file (omit to use the defaults)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--set", options.overrides,
                 "override a recipe key, e.g. --set train.lr=3e-4 (repeatable)")
      ->take_all();
  cmd.add_option("--resume", options.resume,
                 "continue from a checkpoint directory or a run directory's latest checkpoint");
  add_key_flag(cmd, options, "--device", "run.device", "cpu | cuda | cuda:N");
  add_key_flag(cmd, options, "--out", "run.out", "run directory");
  cmd.add_flag("--print-config", options.print_config,
               "print the resolved recipe (every key, with defaults and help) and exit");
  cmd.add_option("--nproc", options.nproc,
                 "data parallel: train in N local worker processes, one rank each; train.batch_size "
                 "is the batch of all of them together (docs/distributed.md)")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  cmd.add_option("--dist-timeout", options.dist_timeout,
                 std::string("data parallel: seconds a rank waits for the others before it stops "
                             "(default 300; sets ") + kTimeoutVariable + ")")
      ->check(CLI::PositiveNumber);
}

CLI::Option* add_key_flag(CLI::App& cmd, RecipeOptions& options, const std::string& flag,
                          const std::string& key, const std::string& help) {
  auto& bound = options.key_flags.emplace_back(KeyFlag{key, ""});
  return cmd.add_option(flag, bound.value, help + " (sets " + key + ")");
}

void add_overwrite_flag(CLI::App& cmd, RecipeOptions& options,
                        std::vector<std::string> run_files) {
  options.fresh_run_files = std::move(run_files);
  auto& overwrite = options.key_flags.emplace_back(KeyFlag{"run.overwrite", ""});
  cmd.add_flag_callback("--overwrite", [&overwrite] { overwrite.value = "true"; },
                        "replace the run in a non-empty --out directory (sets run.overwrite)");
}

std::vector<std::string> recipe_overrides(const RecipeOptions& options) {
  std::vector<std::string> overrides = options.overrides;
  for (const auto& flag : options.key_flags)
    if (!flag.value.empty()) overrides.push_back(flag.key + "=" + flag.value);
  return overrides;
}

bool resolve_recipe(const RecipeOptions& options, const ConfigSchema& schema, Config& out) {
  out = Config::load(schema, options.recipe, recipe_overrides(options));
  if (options.print_config) {
    std::cout << out.to_toml();
    return false;
  }
  if (options.dist_timeout > 0)  // the workers and this process's group read it
    ::setenv(kTimeoutVariable, std::to_string(options.dist_timeout).c_str(), 1);
  // Data parallel: rank 0 alone prepares the directory (the launcher before any worker starts).
  if (!options.fresh_run_files.empty() && options.resume.empty() && is_writer_process())
    prepare_fresh_run_directory(run_directory(out), out.get_bool("run.overwrite"),
                                options.fresh_run_files);
  if (options.nproc > 1) {
    ATTND_CHECK_INPUT(!std::getenv("WORLD_SIZE"), "--nproc starts its own workers, but WORLD_SIZE "
                      "is set: this process is already a rank of a job started by a launcher. "
                      "Drop --nproc, or unset WORLD_SIZE");
    run_local_workers(options.nproc, worker_command_line());
    return false;
  }
  return true;
}

}  // namespace attnd::cli
