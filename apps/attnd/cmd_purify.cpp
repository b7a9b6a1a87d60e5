// attnd purify: MBTSAD backdoor removal (and the finetune / nad / retrain baselines) for a text
// classifier, with a small clean labelled set.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "attnd/core/strings.h"
#include "attnd/methods/purify.h"
#include "commands.h"
#include "recipe_options.h"

namespace attnd::cli {

namespace {
std::string percent_or_dash(const std::optional<double>& x) { return x ? percent(*x) : "—"; }

void print_line(const std::string& name, const BackdoorMetrics& m) {
  std::cout << "  " << std::left << std::setw(22) << name << " CACC " << percent_or_dash(m.cacc)
            << "   ASR " << percent_or_dash(m.asr) << "\n";
}
}  // namespace

void add_purify_command(CLI::App& app) {
  auto options = std::make_shared<RecipeOptions>();
  auto* cmd = app.add_subcommand(
      "purify", "remove a backdoor from a text classifier with a small clean set (MBTSAD)");
  add_recipe_options(*cmd, *options);
  // A fresh purify refuses a directory holding another run; run_purify_recipe checks (and, with
  // --overwrite, clears) it after validating its inputs, so a refused run deletes nothing.
  add_overwrite_flag(*cmd, *options, {});
  add_key_flag(*cmd, *options, "--from", "purify.from", "the backdoored classifier (checkpoint directory)");
  add_key_flag(*cmd, *options, "--method", "purify.method", "mbtsad | nad | finetune | retrain | onion")
      ->check(CLI::IsMember({"mbtsad", "nad", "finetune", "retrain", "onion"}));
  add_key_flag(*cmd, *options, "--clean", "purify.clean_file", "the clean labelled set (.jsonl, .tsv, .csv)");
  add_key_flag(*cmd, *options, "--clean-fraction", "purify.clean_fraction",
               "without --clean: share of the model's clean training split, in (0, 1]");
  add_key_flag(*cmd, *options, "--test", "purify.test_file", "clean test set for CACC");
  add_key_flag(*cmd, *options, "--triggered", "purify.triggered_file",
               "triggered test set for ASR (labels = the attack's target)");
  add_key_flag(*cmd, *options, "--attention", "purify.attention", "matrix | nad | none")
      ->check(CLI::IsMember({"matrix", "nad", "none"}));
  cmd->footer(
      "mbtsad: stage 1 fine-tunes the backdoored model on a token-split copy of the clean set\n"
      "(the teacher); stage 2 trains the backdoored model on the clean set with CE plus the\n"
      "attention (purify.attention_weight) and hidden-state (purify.hidden_weight) distance to the\n"
      "teacher. The data, CACC test split and triggered set default to those of the run that wrote\n"
      "the model (e.g. attnd attack). Writes <run>/stage1, stage2, model/, result.json, report.md.\n"
      "Example: attnd purify --from runs/spam-badnets/best --clean-fraction 0.1 --out runs/purified");
  cmd->callback([options]() {
    const auto schema = purify_schema();
    Config config(schema);
    if (!resolve_recipe(*options, schema, config)) return;
    auto r = run_purify_recipe(config, options->resume);
    std::cout << "purify (" << r.method << ", " << r.clean_examples << " clean examples, "
              << std::fixed << std::setprecision(1) << r.seconds << " s):\n";
    print_line("backdoored", r.backdoored);
    if (r.teacher && r.method != "retrain") print_line("teacher", *r.teacher);
    const bool filtered = r.method == "onion";  // a test-time defence: the model is unchanged
    print_line(filtered ? "ONION-filtered" : "purified", r.purified);
    std::cout << "  run directory: " << r.run_dir
              << (filtered ? " (onion_test.jsonl, onion_triggered.jsonl, stage1/best = the LM, "
                             "report.md, result.json)\n"
                           : " (model/, report.md, result.json)\n");
  });
}

}  // namespace attnd::cli
