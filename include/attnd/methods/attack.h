// attnd attack: make backdoored text classifiers to test defences against (methods/purify.h).
//
//   poison  (attack.method = poison) train a victim from the recipe on a poisoned training split:
//           data.attack = badnets | addsent with data.attack_* (data/backdoor.h), everything else
//           as `attnd train`.
//   ep      embedding poisoning (Yang et al., NAACL 2021): start from a clean classifier
//           (attack.from) and train only the input-embedding rows of the trigger words' pieces on
//           triggered copies of its clean training split, labelled with the target. Each step
//           moves a row by attack.ep_lr times its norm along its gradient, then scales it back
//           to the table's mean row norm (times attack.ep_norm), so it does not stand out. No
//           other weight changes, so inputs without the trigger word are classified exactly as
//           before (clean texts that happen to contain it are not).
//
// Either way the run directory gets the victim (best/ for poison, model/ for ep, with the
// tokenizer), config.toml whose data.* reproduce the data (so eval and purify find the clean and
// triggered test sets), poisoned_train.jsonl (the training split as trained; ep: the triggered
// copies), triggered_test.jsonl, and attack.json with the victim's CACC and ASR.
#pragma once

#include <string>

#include "attnd/core/config.h"
#include "attnd/methods/purify.h"

namespace attnd {

// recipe_schema(false) + attack.*.
ConfigSchema attack_schema();

struct AttackResult {
  std::string run_dir;
  std::string victim_dir;  // the backdoored classifier
  BackdoorMetrics victim;
  std::optional<BackdoorMetrics> clean;  // ep: the clean model it started from
  int64_t poisoned_examples = 0;
  double seconds = 0;
  // ep: the mean training loss over the first and the last tenth of the steps (did it learn?).
  std::optional<double> loss_first, loss_last;
};

// ASR below this is reported as a weak attack (the purify issue's bar for a usable victim).
inline constexpr double kStrongAttackAsr = 0.95;

AttackResult run_attack_recipe(const Config& config, const std::string& resume = "");

}  // namespace attnd
