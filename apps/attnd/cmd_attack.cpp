// attnd attack: backdoored text classifiers to test defences against — data poisoning (BadNets,
// AddSent) or embedding poisoning of a clean model.
#include <iomanip>
#include <iostream>

#include "attnd/core/strings.h"
#include "attnd/methods/attack.h"
#include "commands.h"
#include "recipe_options.h"

namespace attnd::cli {

void add_attack_command(CLI::App& app) {
  auto options = std::make_shared<RecipeOptions>();
  auto* cmd = app.add_subcommand(
      "attack", "make a backdoored text classifier (BadNets, AddSent, embedding poisoning)");
  add_recipe_options(*cmd, *options);
  add_overwrite_flag(*cmd, *options);  // poison trains a fresh victim
  add_key_flag(*cmd, *options, "--method", "attack.method", "poison | ep")
      ->check(CLI::IsMember({"poison", "ep"}));
  add_key_flag(*cmd, *options, "--attack", "data.attack", "badnets | addsent")
      ->check(CLI::IsMember({"badnets", "addsent"}));
  add_key_flag(*cmd, *options, "--target", "data.attack_target", "the label the trigger forces");
  add_key_flag(*cmd, *options, "--rate", "data.attack_rate", "share of the training split poisoned");
  add_key_flag(*cmd, *options, "--from", "attack.from", "ep: the clean classifier to poison");
  cmd->footer(
      "poison trains the recipe's model on its training split with data.attack applied (see\n"
      "--print-config for data.attack_*); ep changes only the trigger words' embedding rows of a\n"
      "clean classifier. Writes the victim, poisoned_train.jsonl, triggered_test.jsonl (non-target\n"
      "test examples with the trigger, labelled with the target) and attack.json (CACC, ASR).\n"
      "Example: attnd attack recipes/mbtsad/spam-victim.toml --attack badnets --out runs/spam-badnets");
  cmd->callback([options]() {
    const auto schema = attack_schema();
    Config config(schema);
    if (!resolve_recipe(*options, schema, config)) return;
    auto r = run_attack_recipe(config, options->resume);
    std::cout << "attack: victim " << r.victim_dir << ": CACC " << percent(r.victim.cacc) << ", ASR "
              << percent(r.victim.asr.value_or(0.0)) << " (" << r.poisoned_examples
              << " poisoned examples)\n";
    if (r.clean)
      std::cout << "  the clean model it started from: CACC " << percent(r.clean->cacc) << ", ASR "
                << percent(r.clean->asr.value_or(0.0)) << "\n";
    if (!r.victim.asr || *r.victim.asr < kStrongAttackAsr)
      std::cout << "  note: ASR is below " << percent(kStrongAttackAsr)
                << ": a weak victim (more steps or a higher data.attack_rate)\n";
    std::cout << "  run directory: " << r.run_dir << " (attack.json, triggered_test.jsonl)\n";
  });
}

}  // namespace attnd::cli
