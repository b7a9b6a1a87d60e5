// attnd transfer: attention transfer — a ViT from scratch that learns only a pre-trained
// teacher's attention, copied (teacher kept at inference) or distilled (teacher only in training).
#include <iostream>

#include "attnd/methods/transfer.h"
#include "commands.h"
#include "recipe_options.h"
#include "report.h"

namespace attnd::cli {

void add_transfer_command(CLI::App& app) {
  auto options = std::make_shared<RecipeOptions>();
  auto* cmd = app.add_subcommand(
      "transfer", "train a ViT from scratch with a pre-trained teacher's attention (copy or distill)");
  add_recipe_options(*cmd, *options);
  add_overwrite_flag(*cmd, *options);  // train_and_test refuses a non-empty run directory
  add_key_flag(*cmd, *options, "--teacher", "transfer.teacher", "teacher checkpoint");
  add_key_flag(*cmd, *options, "--mode", "transfer.mode", "distill | copy | copy_q | copy_k | copy_v")
      ->check(CLI::IsMember({"distill", "copy", "copy_q", "copy_k", "copy_v"}));
  add_key_flag(*cmd, *options, "--layers", "transfer.layers",
               "all | none | all_but_last:k | first:k | last:k | 0,1,2");
  add_key_flag(*cmd, *options, "--heads", "transfer.heads", "all | first:k | 0,1");
  cmd->footer(
      "distill: loss = task + transfer.weight x sum over layers of the soft cross-entropy between\n"
      "the teacher's and the student's attention rows; the teacher runs only in training.\n"
      "copy: the student's layers use softmax(teacher logits) with their own values; the teacher\n"
      "runs at inference too, and the checkpoint records its path (keep it where it is).\n"
      "Example: attnd transfer recipes/transfer/student.toml --teacher runs/transfer-mae/encoder --mode copy");
  cmd->callback([options]() {
    const auto schema = transfer_schema();
    Config config(schema);
    if (!resolve_recipe(*options, schema, config)) return;
    auto result = run_transfer_recipe(config, options->resume);
    print_recipe_result(std::cout, "transfer", result);
  });
}

}  // namespace attnd::cli
