// One function per verb; each lives in cmd_<verb>.cpp, adds its subcommand to the app and sets
// its callback. Callbacks report bad input by throwing attnd::InputError (exit 2) and failures by
// throwing attnd::Error (exit 1); main() maps them.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace attnd::cli {

void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_distill_command(CLI::App& app);
void add_transfer_command(CLI::App& app);
void add_linearize_command(CLI::App& app);
void add_attn_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_attack_command(CLI::App& app);
void add_purify_command(CLI::App& app);
void add_detect_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);

// What `attnd attn` does, for the demo to reuse.
struct AttnOptions {
  std::string checkpoint;
  std::string teacher;  // optional
  std::string out = "attention";
  std::string data_dir;  // "" = the checkpoint's run's data.dir
  int64_t index = 0;
  std::string input_ids;  // text models
  std::string device = "cpu";
  std::string image;        // detectors: an image file instead of a test example
  int64_t queries = 4;      // detectors: cross-attention panels of the best queries
  int64_t token = -1;       // detectors: the encoder token whose attention is overlaid (-1: centre)
};
std::vector<std::string> write_heatmaps(const AttnOptions& options);

}  // namespace attnd::cli
