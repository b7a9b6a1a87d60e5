#include "attnd/methods/purify.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "attnd/core/enum_names.h"
#include "attnd/core/error.h"
#include "attnd/core/strings.h"
#include "attnd/data/backdoor.h"
#include "attnd/data/sampler.h"
#include "attnd/data/subset.h"
#include "attnd/data/text_batches.h"
#include "attnd/distill/distiller.h"
#include "attnd/io/atomic_file.h"
#include "attnd/io/json_file.h"
#include "attnd/methods/onion.h"
#include "attnd/methods/recipe.h"
#include "attnd/methods/recipe_data.h"
#include "attnd/methods/stage.h"
#include "attnd/models/model_io.h"
#include "attnd/train/distributed.h"
#include "attnd/train/objectives.h"
#include "attnd/viz/image.h"
#include "attnd/viz/heatmap.h"
#include "attnd/viz/scatter.h"

namespace attnd {

namespace fs = std::filesystem;

namespace {

enum class PurifyMethod { kMbtsad, kNad, kFinetune, kRetrain, kOnion };
constexpr EnumName<PurifyMethod> kPurifyMethods[] = {{PurifyMethod::kMbtsad, "mbtsad"},
                                                     {PurifyMethod::kNad, "nad"},
                                                     {PurifyMethod::kFinetune, "finetune"},
                                                     {PurifyMethod::kRetrain, "retrain"},
                                                     {PurifyMethod::kOnion, "onion"}};

// purify.attention: which attention the student is pulled towards the teacher's by.
constexpr EnumName<std::optional<DistillLoss>> kPurifyAttention[] = {
    {DistillLoss::kAttnMSE, "matrix"},
    {DistillLoss::kHiddenAttention, "nad"},
    {std::nullopt, "none"}};

// What a purify run writes: a fresh run refuses a directory holding any of them (run.overwrite).
const std::vector<std::string> kRunFiles = {
    "config.toml", "clean.jsonl", "teacher_train.jsonl", "stages.json", "stage1", "stage2", "model",
    "result.json", "report.md", "representations.png", "onion_test.jsonl", "onion_triggered.jsonl"};

bool has_teacher_stage(PurifyMethod m) { return m != PurifyMethod::kFinetune && m != PurifyMethod::kOnion; }
bool has_student_stage(PurifyMethod m) { return m != PurifyMethod::kRetrain && m != PurifyMethod::kOnion; }

// The backdoored model's run data, with the data.* keys this recipe changed from their defaults.
Config purify_data_config(const Config& c, const std::string& from, std::string* source) {
  const auto mine = c.to_json()["data"];
  std::vector<std::string> overrides;
  for (const auto& entry : c.schema().entries()) {
    if (entry.key.rfind("data.", 0) != 0) continue;
    const auto& value = mine[entry.key.substr(5)];
    if (value == entry.default_value) continue;
    overrides.push_back(Config::assignment(entry.key, value));
  }
  auto config = checkpoint_data_config(from, overrides, source);
  const auto clean_file = c.get_string("purify.clean_file");
  if (source->empty()) {
    // No run to take data from (e.g. a Hugging Face directory): the user's files are the data.
    ATTND_CHECK_INPUT(!clean_file.empty() && !c.get_string("purify.test_file").empty(), from,
                      " has no attnd run config.toml beside it, so the clean set and the clean "
                      "test set must be given: purify.clean_file (--clean) and purify.test_file "
                      "(--test)");
    config.set("data.dataset", "text-file");
    config.set("data.train_file", clean_file);
    config.set("data.val_file", clean_file);
    config.set("data.test_file", c.get_string("purify.test_file"));
  }
  return config;
}

struct PurifyData {
  RecipeData run;                       // tokenizer, label names, the run's splits
  std::vector<TextExample> clean;       // what the defender holds
  std::vector<TextExample> test_examples, triggered_examples;
  std::shared_ptr<const Dataset> test;       // CACC
  std::shared_ptr<const Dataset> triggered;  // ASR, or null
};

std::shared_ptr<const Dataset> text_dataset(const std::vector<TextExample>& examples,
                                            const RecipeData& run, int64_t max_length) {
  return std::make_shared<TextClassificationDataset>(
      examples, *run.tokenizer, max_length, TextPadding::kLongest,
      static_cast<int64_t>(run.label_names.size()));
}

PurifyData load_purify_data(const Config& c, const Config& data_config, ModelImpl& backdoored,
                            const std::string& from) {
  PurifyData d;
  d.run = load_recipe_data(data_config);
  ATTND_CHECK_INPUT(d.run.task == DataTask::kTextClassification, "attnd purify works on text "
                    "classifiers; the data of ", from, " is ", d.run.name);
  try {
    check_model_fits_data(backdoored, d.run);
  } catch (const InputError& e) {
    throw_input_error(from, ": ", e.what());
  }
  const auto max_length = data_config.get_int("data.max_length");
  const auto clean_file = c.get_string("purify.clean_file");
  const auto fraction = c.get_double("purify.clean_fraction");
  if (!clean_file.empty()) {
    d.clean = read_examples_file(clean_file, d.run.label_names);
  } else {
    ATTND_CHECK_INPUT(fraction > 0 && fraction <= 1, "purify.clean_fraction must be in (0, 1], got ",
                      fraction);
    const auto& pool = d.run.clean_train_examples;
    const auto n = std::max<int64_t>(1, std::llround(fraction * static_cast<double>(pool.size())));
    auto picked = stratified_sample(torch::tensor(labels_of(pool), torch::kLong), n,
                                    mix_seed(static_cast<uint64_t>(c.get_int("run.seed")), 7));
    std::sort(picked.begin(), picked.end());
    d.clean = select_examples(pool, picked);
  }
  const auto where = clean_file.empty() ? "the clean subset" : clean_file;
  const auto counts = label_counts(d.clean);
  int64_t classes_present = 0;
  for (auto n : counts) classes_present += n > 0;
  ATTND_CHECK_INPUT(classes_present >= 2, where, " has examples of ", classes_present,
                    " class only; purifying a classifier needs at least two classes");
  ATTND_CHECK_INPUT(static_cast<int64_t>(counts.size()) <= static_cast<int64_t>(d.run.label_names.size()),
                    where, " has label ", counts.size() - 1, " but the model's data has ",
                    d.run.label_names.size(), " classes");
  const auto test_file = c.get_string("purify.test_file");
  d.test_examples = test_file.empty() ? d.run.test_examples : read_examples_file(test_file, d.run.label_names);
  d.test = test_file.empty() ? d.run.test : text_dataset(d.test_examples, d.run, max_length);
  const auto triggered_file = c.get_string("purify.triggered_file");
  if (!triggered_file.empty()) {
    d.triggered_examples = read_examples_file(triggered_file, d.run.label_names);
    d.triggered = text_dataset(d.triggered_examples, d.run, max_length);
  } else if (d.run.attack) {
    d.triggered_examples = triggered_examples(d.run.test_examples, triggered_spec(*d.run.attack));
    d.triggered = d.run.triggered;
  }
  return d;
}

// The options of one stage: train.* with this stage's steps and learning rate, one evaluation
// at the end, and checkpoints every quarter so that a killed run loses little.
TrainerOptions purify_stage_options(const Config& c, const RecipeData& data, int64_t stage,
                                    int64_t steps, double lr) {
  auto o = stage_options(c, data);
  o.steps = steps;
  o.adamw.lr = lr;
  o.warmup_steps = std::min<int64_t>(o.warmup_steps, steps / 10);
  o.eval_every = steps;
  o.save_every = c.get_int("train.save_every") > 0 ? c.get_int("train.save_every")
                                                   : std::max<int64_t>(1, steps / 4);
  o.run_dir = stage_dir(run_directory(c), stage);
  o.label = c.get_string("run.name") + (stage == 1 ? " teacher" : " student");
  return o;
}

DistillSpec distill_spec(const Config& c, const ModelImpl& model) {
  DistillSpec spec;
  spec.task_weight = 1.0;
  spec.label_smoothing = c.get_double("train.label_smoothing");
  const auto pairs = parse_layer_map(c.get_string("purify.layer_map"), model.num_layers(),
                                     model.num_layers());
  if (auto attention = parse_enum(kPurifyAttention, c.get_string("purify.attention"), "purify.attention"))
    for (auto [s, t] : pairs) spec.terms.push_back({*attention, s, t, c.get_double("purify.attention_weight"), {}});
  if (c.get_double("purify.hidden_weight") > 0)
    for (auto [s, t] : pairs)
      spec.terms.push_back({DistillLoss::kHiddenMSE, s, t, c.get_double("purify.hidden_weight"), {}});
  return spec;
}

// Pooled representations [N, D] of `examples` (eval mode, no grad).
torch::Tensor pooled(ModelImpl& model, const std::vector<TextExample>& examples, const RecipeData& run,
                     int64_t max_length, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model.eval();
  auto data = text_dataset(examples, run, max_length);
  std::vector<torch::Tensor> parts;
  for (const auto& idx : eval_batches(data->size(), 128))
    parts.push_back(model.pooled_features(data->get(idx, 0).to(device).input).cpu());
  return torch::cat(parts);
}

// The paper's OOD picture: a 2-D PCA of the pooled representations of clean, token-split and
// triggered test inputs, under the backdoored and the purified model (each its own PCA).
void write_representation_picture(const std::string& path, ModelImpl& backdoored, ModelImpl& purified,
                                  const PurifyData& d, double split_p, SplitMode mode, uint64_t seed,
                                  int64_t max_length, const torch::Device& device) {
  constexpr size_t kPerGroup = 200;
  auto first = [](std::vector<TextExample> v) {
    if (v.size() > kPerGroup) v.resize(kPerGroup);
    return v;
  };
  const auto clean = first(d.test_examples);
  const auto split = split_examples(clean, split_p, mode, seed, d.run.tokenizer.get());
  const auto triggered = first(d.triggered_examples);
  std::vector<TextExample> all = clean;
  all.insert(all.end(), split.begin(), split.end());
  all.insert(all.end(), triggered.begin(), triggered.end());
  std::vector<int64_t> groups;
  groups.insert(groups.end(), clean.size(), 0);
  groups.insert(groups.end(), split.size(), 1);
  groups.insert(groups.end(), triggered.size(), 2);
  const std::vector<std::string> names = {"clean", "token-split", "triggered"};
  std::vector<std::pair<std::string, Image>> panels;
  for (auto [title, model] : {std::pair<std::string, ModelImpl*>{"backdoored", &backdoored},
                              std::pair<std::string, ModelImpl*>{"purified", &purified}})
    panels.emplace_back(title, scatter_plot(pca_2d(pooled(*model, all, d.run, max_length, device)),
                                            groups, names, group_colors()));
  write_png(path, side_by_side(panels));
}

// ONION's stage 1: a GPT-2 language model trained on the clean set's text (the defender's only
// data), purify.teacher_steps + train.steps steps — the budget the other methods spend on training.
Model train_onion_lm(const Config& c, const PurifyData& d, int64_t max_length, int64_t eval_bs,
                     const torch::Device& device, const StageResume& resume_at,
                     const std::string& run_dir) {
  if (resume_at.stage > 1) return load_model((fs::path(stage_dir(run_dir, 1)) / "best").string(), device);
  std::vector<std::string> texts;
  for (const auto& e : d.clean) texts.push_back(e.text);
  const auto stream = token_stream(texts, *d.run.tokenizer);
  ATTND_CHECK_INPUT(static_cast<int64_t>(stream.size()) >= max_length, "the clean set has ",
                    stream.size(), " tokens, fewer than one ", max_length, "-token block for ONION's LM");
  auto lm_data = std::make_shared<LanguageModelDataset>(stream, max_length);
  const auto sep = d.run.tokenizer->sep_id();
  const nlohmann::json config = {{"model_type", "gpt2"},
                                 {"vocab_size", d.run.tokenizer->vocab_size()},
                                 {"n_positions", max_length},
                                 {"n_embd", c.get_int("purify.onion_lm_hidden")},
                                 {"n_layer", c.get_int("purify.onion_lm_layers")},
                                 {"n_head", c.get_int("purify.onion_lm_heads")},
                                 {"bos_token_id", sep},
                                 {"eos_token_id", sep}};
  torch::manual_seed(mix_seed(static_cast<uint64_t>(c.get_int("run.seed")), 17));
  auto lm = create_model(config);
  lm->to(device);
  RecipeData stage_data = d.run;
  stage_data.train = lm_data;
  write_stage_record(run_dir, {1, false});
  SupervisedTask task(lm, lm_data.get(), eval_bs, device);
  const auto steps = c.get_int("purify.teacher_steps") + c.get_int("train.steps");
  auto options = purify_stage_options(c, stage_data, 1, steps, c.get_double("purify.onion_lm_lr"));
  options.label = c.get_string("run.name") + " ONION LM";
  auto stage = run_stage(options, task, stage_data, resume_at.stage == 1 ? resume_at.from : "");
  ATTND_CHECK(stage.best != nullptr, "the ONION language-model stage produced no checkpoint");
  write_stage_record(run_dir, {1, true});
  return stage.best;
}

std::string report_row(const std::string& name, const BackdoorMetrics& m) {
  return "| " + name + " | " + percent(m.cacc) + " | " + (m.asr ? percent(*m.asr) : "—") + " |\n";
}

// result.json and report.md, the last files a run writes.
PurifyResult finish_purify(const Config& c, PurifyResult result, const std::string& from,
                           const std::string& source) {
  const auto method = parse_enum(kPurifyMethods, c.get_string("purify.method"), "purify.method");
  nlohmann::json out = {{"method", result.method},
                        {"from", from},
                        {"data_from", source},
                        {"clean_examples", result.clean_examples},
                        {"seconds", result.seconds},
                        {"backdoored", to_json(result.backdoored)},
                        {"purified", to_json(result.purified)}};
  if (result.teacher) out["teacher"] = to_json(*result.teacher);
  if (!is_writer_process()) return result;  // data parallel: rank 0 writes
  write_json_file((fs::path(result.run_dir) / "result.json").string(), out);

  std::ostringstream report;
  report << "# attnd purify: " << result.method << "\n\nfrom `" << from << "`, "
         << result.clean_examples << " clean examples, " << std::fixed << std::setprecision(1)
         << result.seconds << " s\n\n| model | CACC | ASR |\n|---|---|---|\n"
         << report_row("backdoored", result.backdoored);
  if (result.teacher && method != PurifyMethod::kRetrain) report << report_row("teacher", *result.teacher);
  const auto name = method == PurifyMethod::kOnion ? "backdoored, ONION-filtered inputs" : "purified (" + result.method + ")";
  report << report_row(name, result.purified);
  if (method == PurifyMethod::kOnion)
    report << "\nONION changes the inputs, not the model: the filtered test sets are onion_test.jsonl "
              "and onion_triggered.jsonl, the language model is stage1/best.\n";
  write_file_atomic((fs::path(result.run_dir) / "report.md").string(), report.str());
  return result;
}

}  // namespace

BackdoorMetrics backdoor_metrics(ModelImpl& model, const Dataset& test, const Dataset* triggered,
                                 int64_t batch_size, const torch::Device& device) {
  BackdoorMetrics m;
  m.cacc = evaluate_model(model, test, batch_size, device).at("accuracy");
  m.clean_examples = test.size();
  if (triggered) {
    ATTND_CHECK_INPUT(triggered->size() > 0, "the triggered set is empty");
    m.asr = evaluate_model(model, *triggered, batch_size, device).at("accuracy");
    m.triggered_examples = triggered->size();
  }
  return m;
}

nlohmann::json to_json(const BackdoorMetrics& m) {
  nlohmann::json out = {{"cacc", m.cacc}, {"clean_examples", m.clean_examples}};
  out["asr"] = m.asr ? nlohmann::json(*m.asr) : nlohmann::json(nullptr);
  if (m.asr) out["triggered_examples"] = m.triggered_examples;
  return out;
}

ConfigSchema purify_schema() {
  auto s = recipe_schema(false);
  s.add("purify.from", "", "the (possibly) backdoored classifier: an attnd checkpoint or HF directory")
      .add("purify.method", "mbtsad", "mbtsad | nad | finetune | retrain | onion (methods/purify.h)")
      .add("purify.clean_file", "", "the clean labelled set (.jsonl/.tsv/.csv); default: a share of "
           "the backdoored model's clean training split")
      .add("purify.clean_fraction", 0.2, "share of the clean training split used when no clean_file")
      .add("purify.test_file", "", "clean test set for CACC (default: the backdoored model's run's test split)")
      .add("purify.triggered_file", "", "triggered test set for ASR, labelled with the target "
           "(default: the run's data.attack, if any)")
      .add("purify.split_p", 0.5, "mbtsad/retrain: probability that a splittable word is split")
      .add("purify.split_mode", "word", "word | subtoken: where words are split (data/backdoor.h)")
      .add("purify.teacher_steps", int64_t{200}, "stage 1 (teacher) optimiser steps")
      .add("purify.teacher_lr", 1e-4, "stage 1 peak learning rate")
      .add("purify.attention", "matrix", "matrix (per-head attention maps, MSE) | nad (NAD attention "
           "of hidden states) | none")
      .add("purify.attention_weight", 100.0, "β_att: weight of the attention loss, summed over layers")
      .add("purify.hidden_weight", 1.0, "β_hid: weight of the hidden-state MSE, summed over layers (0: off)")
      .add("purify.layer_map", "auto", "student:teacher layers distilled (auto: every layer to itself)")
      .add("purify.onion_threshold", 0.0, "onion: drop a word when ppl(text) - ppl(text without it) "
           "exceeds this (methods/onion.h)")
      .add("purify.onion_lm_lr", 1e-3, "onion: peak learning rate of its GPT-2 LM, trained from "
           "scratch on the clean set for purify.teacher_steps + train.steps steps")
      .add("purify.onion_lm_hidden", int64_t{64}, "onion: the LM's n_embd")
      .add("purify.onion_lm_layers", int64_t{2}, "onion: the LM's n_layer")
      .add("purify.onion_lm_heads", int64_t{4}, "onion: the LM's n_head");
  return s;
}

PurifyResult run_purify_recipe(const Config& c, const std::string& resume) {
  configure_threads(c.get_int("run.threads"));
  const auto method = parse_enum(kPurifyMethods, c.get_string("purify.method"), "purify.method");
  const auto from = c.get_string("purify.from");
  ATTND_CHECK_INPUT(!from.empty(), "purify needs the model to purify: set purify.from (--from)");
  const auto device = parse_device(c.get_string("run.device"));
  auto backdoored = load_model(from, device);
  ATTND_CHECK_INPUT(backdoored->task_kind() == TaskKind::kClassification &&
                        backdoored->modality() == Modality::kText,
                    from, " is a ", backdoored->model_type(), " model; attnd purify needs a text classifier");
  std::string source;
  const auto data_config = purify_data_config(c, from, &source);
  auto data = load_purify_data(c, data_config, *backdoored, from);
  const auto max_length = data_config.get_int("data.max_length");
  const auto eval_bs = c.get_int("train.eval_batch_size");
  const double split_p = c.get_double("purify.split_p");
  const auto split_mode = parse_split_mode(c.get_string("purify.split_mode"), "purify.split_mode");
  const auto spec = distill_spec(c, *backdoored);  // validated before anything is written
  ATTND_CHECK_INPUT(split_p >= 0 && split_p <= 1, "purify.split_p must be in [0, 1], got ", split_p);
  ATTND_CHECK_INPUT(c.get_int("purify.teacher_steps") > 0, "purify.teacher_steps must be > 0");

  PurifyResult result;
  result.method = c.get_string("purify.method");
  result.run_dir = run_directory(c);
  result.clean_examples = static_cast<int64_t>(data.clean.size());
  // Data parallel: rank 0 alone prepares and writes the directory.
  const bool writer = is_writer_process();
  // Everything is validated; only now may another run's files in the directory be replaced.
  if (resume.empty() && writer)
    prepare_fresh_run_directory(result.run_dir, c.get_bool("run.overwrite"), kRunFiles);
  if (writer) {
    fs::create_directories(result.run_dir);
    write_file_atomic((fs::path(result.run_dir) / "config.toml").string(), c.to_toml());
    write_file_atomic((fs::path(result.run_dir) / "clean.jsonl").string(),
                      examples_to_jsonl(data.clean, data.run.label_names));
  }
  result.backdoored = backdoor_metrics(*backdoored, *data.test, data.triggered.get(), eval_bs, device);

  const auto clean_set = text_dataset(data.clean, data.run, max_length);
  const auto resume_at = resolve_stage_resume(resume, 2);
  const auto start = std::chrono::steady_clock::now();
  Model teacher, purified;
  if (method == PurifyMethod::kOnion) {
    // A test-time defence: the classifier stays as it is; its inputs lose their suspicious words.
    auto lm = train_onion_lm(c, data, max_length, eval_bs, device, resume_at, result.run_dir);
    OnionOptions onion;
    onion.threshold = c.get_double("purify.onion_threshold");
    onion.max_words = max_length;
    onion.context = max_length;
    onion.batch_size = eval_bs;
    onion.progress = stage_options(c, data.run).progress;
    onion.label = c.get_string("run.name") + " ONION test set";
    const auto test = onion_filter(*lm, *data.run.tokenizer, data.test_examples, onion, device);
    onion.label = c.get_string("run.name") + " ONION triggered set";
    const auto triggered = onion_filter(*lm, *data.run.tokenizer, data.triggered_examples, onion, device);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    write_file_atomic((fs::path(result.run_dir) / "onion_test.jsonl").string(),
                      examples_to_jsonl(test, data.run.label_names));
    const auto test_set = text_dataset(test, data.run, max_length);
    std::shared_ptr<const Dataset> triggered_set;
    if (data.triggered) {
      write_file_atomic((fs::path(result.run_dir) / "onion_triggered.jsonl").string(),
                        examples_to_jsonl(triggered, data.run.label_names));
      triggered_set = text_dataset(triggered, data.run, max_length);
    }
    result.purified = backdoor_metrics(*backdoored, *test_set, triggered_set.get(), eval_bs, device);
    return finish_purify(c, result, from, source);
  }
  if (has_teacher_stage(method) && resume_at.stage <= 1) {
    // The teacher learns the labels from text the trigger→label shortcut does not fire on.
    const auto teacher_texts =
        method == PurifyMethod::kNad
            ? data.clean
            : split_examples(data.clean, split_p, split_mode,
                             mix_seed(static_cast<uint64_t>(c.get_int("run.seed")), 11),
                             data.run.tokenizer.get());
    if (writer)
      write_file_atomic((fs::path(result.run_dir) / "teacher_train.jsonl").string(),
                        examples_to_jsonl(teacher_texts, data.run.label_names));
    RecipeData stage_data = data.run;
    stage_data.train = text_dataset(teacher_texts, data.run, max_length);
    write_stage_record(result.run_dir, {1, false});
    auto model = load_model(from, device);
    SupervisedTask task(model, clean_set.get(), eval_bs, device, c.get_double("train.label_smoothing"));
    auto options = purify_stage_options(c, stage_data, 1, c.get_int("purify.teacher_steps"),
                                        c.get_double("purify.teacher_lr"));
    auto stage = run_stage(options, task, stage_data, resume_at.stage == 1 ? resume_at.from : "");
    ATTND_CHECK(stage.best != nullptr, "the teacher stage produced no checkpoint");
    teacher = stage.best;
    write_stage_record(result.run_dir, {1, true});
  } else if (has_teacher_stage(method)) {
    teacher = load_model((fs::path(stage_dir(result.run_dir, 1)) / "best").string(), device);
  }
  if (has_student_stage(method)) {
    RecipeData stage_data = data.run;
    stage_data.train = clean_set;
    write_stage_record(result.run_dir, {2, false});
    auto student = load_model(from, device);
    std::unique_ptr<Task> task;
    if (method == PurifyMethod::kFinetune)
      task = std::make_unique<SupervisedTask>(student, clean_set.get(), eval_bs, device,
                                              c.get_double("train.label_smoothing"));
    else
      task = std::make_unique<DistillTask>(teacher, student, spec, clean_set.get(), eval_bs, device,
                                           (fs::path(stage_dir(result.run_dir, 1)) / "best").string());
    auto options = purify_stage_options(c, stage_data, 2, c.get_int("train.steps"),
                                        c.get_double("train.lr"));
    auto stage = run_stage(options, *task, stage_data, resume_at.stage == 2 ? resume_at.from : "");
    ATTND_CHECK(stage.best != nullptr, "the student stage produced no checkpoint");
    purified = stage.best;
    write_stage_record(result.run_dir, {2, true});
  } else {
    purified = teacher;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (teacher) result.teacher = backdoor_metrics(*teacher, *data.test, data.triggered.get(), eval_bs, device);
  result.purified = backdoor_metrics(*purified, *data.test, data.triggered.get(), eval_bs, device);
  if (writer)
    save_model((fs::path(result.run_dir) / "model").string(), *purified, {}, data.run.checkpoint_files());
  if (writer && !data.triggered_examples.empty())
    write_representation_picture((fs::path(result.run_dir) / "representations.png").string(),
                                 *backdoored, *purified, data, split_p, split_mode,
                                 mix_seed(static_cast<uint64_t>(c.get_int("run.seed")), 13),
                                 max_length, device);

  return finish_purify(c, result, from, source);
}

}  // namespace attnd
