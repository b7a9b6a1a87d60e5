// attnd transfer: attention transfer — a ViT from scratch that learns only a pre-trained
// teacher's attention, copied (teacher kept at inference) or distilled (teacher only in training).
#include <iostream>

#include "attnd/methods/transfer.h"
#include "commands.h"
#include "recipe_options.h"
#include "report.h"

namespace attnd::cli {

namespace {
struct TransferFlags {
  std::string teacher, mode, layers, heads;
};
}  // namespace

void add_transfer_command(CLI::App& app) {
  auto options = std::make_shared<RecipeOptions>();
  auto flags = std::make_shared<TransferFlags>();
  auto* cmd = app.add_subcommand(
      "transfer", "train a ViT from scratch with a pre-trained teacher's attention (copy or distill)");
  add_recipe_options(*cmd, *options);
  cmd->add_option("--teacher", flags->teacher, "teacher checkpoint (sets transfer.teacher)");
  cmd->add_option("--mode", flags->mode, "distill | copy | copy_q | copy_k | copy_v (sets transfer.mode)")
      ->check(CLI::IsMember({"distill", "copy", "copy_q", "copy_k", "copy_v"}));
  cmd->add_option("--layers", flags->layers,
                  "all | none | all_but_last:k | first:k | last:k | 0,1,2 (sets transfer.layers)");
  cmd->add_option("--heads", flags->heads, "all | first:k | 0,1 (sets transfer.heads)");
  cmd->footer(
      "distill: loss = task + transfer.weight x sum over layers of the soft cross-entropy between\n"
      "the teacher's and the student's attention rows; the teacher runs only in training.\n"
      "copy: the student's layers use softmax(teacher logits) with their own values; the teacher\n"
      "runs at inference too, and the checkpoint records its path (keep it where it is).\n"
      "Example: attnd transfer recipes/transfer/student.toml --teacher runs/transfer-mae/encoder --mode copy");
  cmd->callback([options, flags]() {
    auto opts = *options;
    if (!flags->teacher.empty()) opts.overrides.push_back("transfer.teacher=" + flags->teacher);
    if (!flags->mode.empty()) opts.overrides.push_back("transfer.mode=" + flags->mode);
    if (!flags->layers.empty()) opts.overrides.push_back("transfer.layers=" + flags->layers);
    if (!flags->heads.empty()) opts.overrides.push_back("transfer.heads=" + flags->heads);
    const auto schema = transfer_schema();
    Config config(schema);
    if (!resolve_recipe(opts, schema, config)) return;
    auto result = run_transfer_recipe(config, opts.resume);
    print_recipe_result(std::cout, "transfer", result);
  });
}

}  // namespace attnd::cli
