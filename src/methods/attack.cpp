#include "attnd/methods/attack.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>

#include "attnd/core/enum_names.h"
#include "attnd/core/error.h"
#include "attnd/data/backdoor.h"
#include "attnd/data/sampler.h"
#include "attnd/data/text_batches.h"
#include "attnd/io/atomic_file.h"
#include "attnd/io/json_file.h"
#include "attnd/methods/recipe.h"
#include "attnd/methods/recipe_data.h"
#include "attnd/models/model_io.h"
#include "attnd/train/distributed.h"
#include "attnd/train/progress.h"

namespace attnd {

namespace fs = std::filesystem;

namespace {

enum class AttackMethod { kPoison, kEmbedding };
constexpr EnumName<AttackMethod> kAttackMethods[] = {{AttackMethod::kPoison, "poison"},
                                                     {AttackMethod::kEmbedding, "ep"}};

void write_attack_files(const std::string& run_dir, const RecipeData& data,
                        const std::vector<TextExample>& trained_on) {
  if (!is_writer_process()) return;  // data parallel: rank 0 writes
  write_file_atomic((fs::path(run_dir) / "poisoned_train.jsonl").string(),
                    examples_to_jsonl(trained_on, data.label_names));
  write_file_atomic((fs::path(run_dir) / "triggered_test.jsonl").string(),
                    examples_to_jsonl(triggered_examples(data.test_examples, triggered_spec(*data.attack)),
                                      data.label_names));
}

void write_attack_json(const AttackResult& r, const Config& c) {
  nlohmann::json out = {{"method", c.get_string("attack.method")},
                        {"attack", c.get_string("data.attack")},
                        {"target", c.get_int("data.attack_target")},
                        {"victim_dir", r.victim_dir},
                        {"poisoned_examples", r.poisoned_examples},
                        {"seconds", r.seconds},
                        {"victim", to_json(r.victim)},
                        {"strong", r.victim.asr && *r.victim.asr >= kStrongAttackAsr}};
  if (r.clean) out["clean"] = to_json(*r.clean);
  if (r.loss_first) out["loss_first_tenth"] = *r.loss_first;
  if (r.loss_last) out["loss_last_tenth"] = *r.loss_last;
  if (!is_writer_process()) return;  // data parallel: rank 0 writes
  write_json_file((fs::path(r.run_dir) / "attack.json").string(), out);
}

// The token ids of the trigger words' pieces (no [CLS]/[SEP]).
std::vector<int64_t> trigger_rows(const WordPieceTokenizer& tokenizer, const TriggerSpec& trigger) {
  std::set<int64_t> rows;
  for (const auto& word : trigger.words)
    for (auto id : tokenizer.encode(word, 0, false)) rows.insert(id);
  ATTND_CHECK_INPUT(!rows.empty(), "the trigger words tokenise to nothing");
  ATTND_CHECK_INPUT(!rows.count(tokenizer.unk_id()), "a trigger word tokenises to [UNK]: its row "
                    "is shared by every unknown word, so poisoning it would not be a trigger");
  return {rows.begin(), rows.end()};
}

AttackResult embedding_poisoning(const Config& c) {
  const auto from = c.get_string("attack.from");
  ATTND_CHECK_INPUT(!from.empty(), "attack.method = ep needs the clean classifier: set attack.from (--from)");
  ATTND_CHECK_INPUT(c.get_string("data.attack") == "badnets", "embedding poisoning inserts rare "
                    "words: set data.attack = badnets (got ", c.get_string("data.attack"), ")");
  const auto device = parse_device(c.get_string("run.device"));
  auto victim = load_model(from, device);
  // The clean model's data, with this recipe's attack keys, so that the victim's run records both.
  std::vector<std::string> attack_keys;
  for (const auto& key : {"attack", "attack_target", "attack_rate", "attack_label", "attack_words",
                          "attack_insertions", "attack_sentence", "attack_within", "attack_seed"}) {
    attack_keys.push_back(Config::assignment(std::string("data.") + key, c.to_json()["data"][key]));
  }
  std::string source;
  auto data_config = checkpoint_data_config(from, attack_keys, &source);
  ATTND_CHECK_INPUT(!source.empty(), from, " has no attnd run config.toml beside it: embedding "
                    "poisoning needs the clean model's training data");
  auto data = load_recipe_data(data_config);
  ATTND_CHECK_INPUT(data.task == DataTask::kTextClassification && victim->input_embeddings().defined(),
                    "embedding poisoning needs a text classifier; ", from, " is a ", victim->model_type());
  check_model_fits_data(*victim, data);
  const auto eval_bs = c.get_int("train.eval_batch_size");

  AttackResult r;
  r.run_dir = run_directory(c);
  r.victim_dir = (fs::path(r.run_dir) / "model").string();
  r.clean = backdoor_metrics(*victim, *data.test, data.triggered.get(), eval_bs, device);
  auto poisoned = data.clean_train_examples;
  {
    std::mt19937_64 rng(mix_seed(data.attack->seed, 3));
    for (auto& e : poisoned) {
      e.text = insert_trigger(e.text, data.attack->trigger, rng);
      e.label = data.attack->target;
    }
  }
  r.poisoned_examples = static_cast<int64_t>(poisoned.size());
  TextClassificationDataset train(poisoned, *data.tokenizer, data_config.get_int("data.max_length"),
                                  TextPadding::kLongest, static_cast<int64_t>(data.label_names.size()));

  const auto rows = torch::tensor(trigger_rows(*data.tokenizer, data.attack->trigger), torch::kLong).to(device);
  for (auto& p : victim->parameters()) p.set_requires_grad(false);
  auto table = victim->input_embeddings();
  table.set_requires_grad(true);
  // "Near the norms of ordinary rows": every poisoned row is kept at the table's mean row norm
  // (a rare word's own row may be far smaller, having seldom been trained).
  const auto norm_scale = c.get_double("attack.ep_norm");
  ATTND_CHECK_INPUT(norm_scale > 0, "attack.ep_norm must be > 0, got ", norm_scale);
  const auto norms = table.detach().norm(2, {1}).mean() * norm_scale;
  const auto steps = c.get_int("attack.ep_steps");
  const auto lr = c.get_double("attack.ep_lr");
  ATTND_CHECK_INPUT(steps > 0 && lr > 0, "attack.ep_steps and attack.ep_lr must be > 0");
  const auto batch_size = std::min<int64_t>(c.get_int("train.batch_size"), train.size());
  BatchSampler sampler(train.size(), batch_size, static_cast<uint64_t>(c.get_int("run.seed")));
  victim->eval();  // no dropout: only the rows move
  fs::create_directories(r.run_dir);
  Progress progress(c.get_string("run.name") + " embedding poisoning", steps, 0,
                    trainer_options(c).progress);
  const auto start = std::chrono::steady_clock::now();
  const int64_t tenth = std::max<int64_t>(1, steps / 10);
  double loss_first = 0, loss_last = 0;
  for (int64_t step = 0; step < steps; ++step) {
    auto batch = train.get(sampler.indices_for_step(step), 0).to(device);
    auto loss = torch::nn::functional::cross_entropy(victim->forward(batch.input).logits, batch.labels);
    const double value = loss.item<double>();
    ATTND_CHECK(std::isfinite(value), "embedding poisoning diverged at step ", step,
                " (loss is not finite; lower attack.ep_lr)");
    if (table.grad().defined()) table.grad().zero_();
    loss.backward();
    torch::NoGradGuard no_grad;
    // A step of lr times the row norm along each row's own gradient direction: the rows are kept
    // at a fixed norm, so a raw gradient step either does nothing (tiny) or replaces the row with
    // the last batch's gradient (large); a relative step is scale-free.
    auto grad = table.grad().index_select(0, rows);
    auto moved = table.index_select(0, rows) -
                 lr * norms * grad / grad.norm(2, {1}, true).clamp_min(1e-12);
    moved = moved * (norms / moved.norm(2, {1}, true).clamp_min(1e-12));  // back to the mean norm
    table.index_copy_(0, rows, moved);
    if (step < tenth) loss_first += value / tenth;
    if (step >= steps - tenth) loss_last += value / tenth;
    progress.update(step + 1, {{"loss", value}});
  }
  r.loss_first = loss_first;
  r.loss_last = loss_last;
  progress.finish();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  table.set_requires_grad(false);
  r.victim = backdoor_metrics(*victim, *data.test, data.triggered.get(), eval_bs, device);

  // The run's config.toml is this recipe with the clean model's data: eval and purify read it.
  Config record = c;
  const auto data_json = data_config.to_json()["data"];
  for (auto it = data_json.begin(); it != data_json.end(); ++it)
    record.apply_override(Config::assignment("data." + it.key(), *it));
  // Every rank ran the same steps on the same rows (this loop does not communicate); rank 0 writes.
  if (is_writer_process()) {
    write_file_atomic((fs::path(r.run_dir) / "config.toml").string(), record.to_toml());
    save_model(r.victim_dir, *victim, {}, data.checkpoint_files());
  }
  write_attack_files(r.run_dir, data, poisoned);
  return r;
}

AttackResult data_poisoning(const Config& c, const std::string& resume) {
  ATTND_CHECK_INPUT(c.get_string("data.attack") != "none", "attnd attack needs a trigger: set "
                    "data.attack = badnets or addsent (--attack)");
  const auto start = std::chrono::steady_clock::now();
  auto trained = run_train_recipe(c, resume);
  AttackResult r;
  r.run_dir = trained.run_dir;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ATTND_CHECK(!trained.train.best_dir.empty(), "the victim's training produced no checkpoint");
  r.victim_dir = trained.train.best_dir;
  auto data = load_recipe_data(c);
  const auto device = parse_device(c.get_string("run.device"));
  auto victim = load_model(r.victim_dir, device);
  r.victim = backdoor_metrics(*victim, *data.test, data.triggered.get(),
                              c.get_int("train.eval_batch_size"), device);
  r.poisoned_examples = static_cast<int64_t>(data.poisoned.size());
  std::vector<TextExample> trained_on = data.clean_train_examples;
  trained_on = poison_examples(trained_on, *data.attack).examples;
  write_attack_files(r.run_dir, data, trained_on);
  return r;
}

}  // namespace

ConfigSchema attack_schema() {
  auto s = recipe_schema(false);
  s.add("attack.method", "poison", "poison (train a victim on poisoned data) | ep (embedding "
        "poisoning of attack.from)")
      .add("attack.from", "", "ep: the clean classifier whose trigger-word embeddings are poisoned")
      .add("attack.ep_steps", int64_t{300}, "ep: gradient steps on the trigger rows")
      .add("attack.ep_lr", 0.1, "ep: step of the trigger rows along their gradient, as a fraction of their norm")
      .add("attack.ep_norm", 1.0, "ep: norm of each poisoned row, as a multiple of the table's mean row norm");
  return s;
}

AttackResult run_attack_recipe(const Config& c, const std::string& resume) {
  configure_threads(c.get_int("run.threads"));
  const auto method = parse_enum(kAttackMethods, c.get_string("attack.method"), "attack.method");
  auto r = method == AttackMethod::kEmbedding ? embedding_poisoning(c) : data_poisoning(c, resume);
  write_attack_json(r, c);
  return r;
}

}  // namespace attnd
