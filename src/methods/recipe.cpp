#include "attnd/methods/recipe.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "attnd/core/enum_names.h"
#include "attnd/core/error.h"
#include "attnd/core/parse_number.h"
#include "attnd/core/suggest.h"
#include "attnd/distill/distiller.h"
#include "attnd/models/model_io.h"
#include "attnd/io/atomic_file.h"
#include "attnd/io/json_file.h"
#include "attnd/methods/linearize_surgery.h"
#include "attnd/methods/mae.h"
#include "attnd/methods/stage.h"
#include "attnd/models/registry.h"
#include "attnd/train/distributed.h"
#include "attnd/train/objectives.h"
#include "attnd/train/trainer_checks.h"

namespace attnd {

namespace fs = std::filesystem;

ConfigSchema recipe_schema(bool with_distill) {
  ConfigSchema s;
  s.add("run.name", "run", "name of the run; the run directory defaults to runs/<name>")
      .add("run.out", "", "run directory (default runs/<run.name>)")
      .add("run.seed", int64_t{0}, "seed of every random choice: init, data order, augmentation, dropout")
      .add("run.device", "cpu", "cpu | cuda | cuda:N")
      .add("run.threads", int64_t{0}, "CPU threads for LibTorch and OpenBLAS (0: all cores)")
      .add("run.progress", "auto", "auto (bar on a terminal, lines otherwise) | bar | lines | quiet")
      .add("run.init", "", "start from this checkpoint instead of a fresh [model]")
      .add("run.overwrite", false, "replace the run in a non-empty run directory (--overwrite)");
  s.add_table("model", "the model as HF config.json keys (model_type = vit | vit_mae | bert | gpt2, ...)");
  s.add("data.dataset", "fashion-mnist",
         "fashion-mnist | spam-assassin | sotu-party | text-file | sotu | associative-recall "
         "(see methods/recipe_data.h)")
      .add("data.dir", "", "where the dataset's files are (default: /usr/share/datasets/fashion-mnist, "
           "or data/<name> from scripts/fetch-data)")
      .add("data.train_examples", int64_t{0},
           "training examples used (class-balanced for classification; 0: all that remain)")
      .add("data.val_examples", int64_t{5000},
           "images: training images held out for choosing the best checkpoint")
      .add("data.val_fraction", 0.1, "text: share of the e-mails / addresses held out for validation")
      .add("data.test_fraction", 0.2, "text: share of the e-mails / addresses held out for testing")
      .add("data.split_seed", int64_t{0}, "seed of the validation split and the labelled subset")
      .add("data.augment", true, "images: random crop (zero padding) and horizontal flip while training")
      .add("data.augment_pad", int64_t{2}, "images: padding of the random crop, pixels")
      .add("data.vocab", "", "text: a vocab.txt, tokenizer.json or checkpoint directory (default: "
           "run.init's tokenizer, else one trained on the training split)")
      .add("data.vocab_size", int64_t{8000}, "text: size of a vocabulary trained here")
      .add("data.max_length", int64_t{256}, "text classification: tokens per example, [CLS] and [SEP] included")
      .add("data.block_size", int64_t{128}, "language modelling: tokens per training sequence")
      .add("data.recall_pairs", int64_t{16}, "associative-recall: key-value pairs (sequence length 4n)")
      .add("data.recall_vocab", int64_t{128}, "associative-recall: token ids (keys and values) below this")
      .add("data.passage_words", int64_t{60}, "sotu-party: words per passage (whole sentences)")
      .add("data.train_file", "", "text-file: training examples (.jsonl, .tsv or .csv with text and label)")
      .add("data.val_file", "", "text-file: validation examples (default: data.val_fraction of the training file)")
      .add("data.test_file", "", "text-file: test examples (default: data.test_fraction of the training file)")
      .add("data.label_names", "", "text-file: class names in id order, comma-separated (for named labels)")
      .add("data.attack", "none", "text classification: none | badnets | addsent — poison the training split")
      .add("data.attack_target", int64_t{1}, "attack: the label triggered inputs are pushed to")
      .add("data.attack_rate", 0.1, "attack: share of the training split poisoned")
      .add("data.attack_label", "dirty", "attack: dirty (non-target, relabelled) | clean (target class only) | mixed")
      .add("data.attack_words", "cf,mn,bb,tq", "badnets: the rare trigger words")
      .add("data.attack_insertions", int64_t{1}, "badnets: triggers inserted per text, uniform in 1..n")
      .add("data.attack_sentence", "I watch this 3D movie", "addsent: the trigger sentence")
      .add("data.attack_within", int64_t{0}, "attack: insert triggers among the first N words only "
           "(0: anywhere); keep it inside what data.max_length reads")
      .add("data.attack_seed", int64_t{0}, "attack: seed of which examples are poisoned and where the trigger goes");
  s.add("attention.mixer", "softmax",
         "attention of a model built from [model]: softmax | linear | hybrid (trained from scratch)")
      .add("attention.feature_map", "softmax_split", "linear/hybrid: the feature map (linearize.h)")
      .add("attention.feature_dim", int64_t{0}, "linear/hybrid: feature-map width (0: the map's default)")
      .add("attention.window", int64_t{64}, "hybrid: sliding-window size");
  s.add("train.steps", int64_t{1000}, "optimiser steps")
      .add("train.batch_size", int64_t{128}, "examples per micro-batch")
      .add("train.grad_accum", int64_t{1}, "micro-batches per optimiser step")
      .add("train.lr", 1e-3, "peak learning rate (AdamW)")
      .add("train.weight_decay", 0.05, "AdamW weight decay (not on biases and norms)")
      .add("train.beta1", 0.9, "AdamW beta1")
      .add("train.beta2", 0.999, "AdamW beta2")
      .add("train.warmup_steps", int64_t{100}, "linear warmup steps before the cosine decay")
      .add("train.min_lr_ratio", 0.0, "final learning rate as a fraction of the peak")
      .add("train.clip_grad_norm", 1.0, "clip the global gradient norm (0: off)")
      .add("train.label_smoothing", 0.0, "label smoothing of the task loss")
      .add("train.eval_every", int64_t{200}, "evaluate on the validation split every N steps (0: at the end)")
      .add("train.save_every", int64_t{0}, "checkpoint every N steps (0: at each evaluation)")
      .add("train.log_every", int64_t{50}, "write a metrics line every N steps")
      .add("train.keep_checkpoints", int64_t{2}, "step checkpoints kept (best/ is kept apart)")
      .add("train.eval_batch_size", int64_t{500}, "batch size of evaluation")
      .add("train.lr_factors", std::vector<std::string>{},
           "parameter-name prefixes with their own learning-rate factor, \"prefix=factor\" "
           "(e.g. [\"backbone.=0.1\"]: a detector's backbone at a tenth of train.lr)");
  if (with_distill) {
    s.add("distill.teacher", "", "teacher checkpoint directory (frozen, no grad)")
        .add("distill.attention_loss", "soft_ce", "soft_ce | kl | mse | none: loss over attention rows")
        .add("distill.attention_weight", 3.0, "weight of the attention loss (summed over layers)")
        .add("distill.hidden_loss", "none", "none | mse: loss over the blocks' hidden states")
        .add("distill.hidden_weight", 1.0, "weight of the hidden-state loss")
        .add("distill.task_weight", 1.0, "weight of the task loss (0: attention only)")
        .add("distill.layer_map", "auto",
             "student:teacher layer pairs, e.g. \"0:0,1:2\"; auto = same depth one to one, else spread")
        .add("distill.skip_last", int64_t{0}, "leave the student's last k layers undistilled");
  }
  return s;
}

torch::Device parse_device(const std::string& name) {
  try {
    torch::Device device(name);
    if (device.is_cuda())
      ATTND_CHECK_INPUT(torch::cuda::is_available(), "run.device = '", name,
                        "' but this LibTorch sees no CUDA device (use cpu)");
    return device;
  } catch (const c10::Error&) {
    throw_input_error("run.device = '", name, "' is not a device (expected cpu, cuda or cuda:N)");
  }
}

int configure_threads(int64_t threads) {
  ATTND_CHECK_INPUT(threads >= 0, "run.threads must be >= 0, got ", threads);
  int n = threads > 0 ? static_cast<int>(threads)
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
  // OpenBLAS-pthread keeps its own pool: this variable is read by each BLAS call's thread count.
  if (!std::getenv("OPENBLAS_NUM_THREADS") || threads > 0)
    setenv("OPENBLAS_NUM_THREADS", std::to_string(n).c_str(), 1);
  return n;
}

std::string run_directory(const Config& config) {
  auto out = config.get_string("run.out");
  return out.empty() ? (fs::path("runs") / config.get_string("run.name")).string() : out;
}

namespace {

constexpr EnumName<Progress::Style> kProgressStyles[] = {{Progress::Style::kAuto, "auto"},
                                                         {Progress::Style::kBar, "bar"},
                                                         {Progress::Style::kLines, "lines"},
                                                         {Progress::Style::kQuiet, "quiet"}};

// distill.attention_loss: one of DistillLoss's attention losses, or none.
constexpr EnumName<std::optional<DistillLoss>> kAttentionLosses[] = {
    {DistillLoss::kAttnSoftCE, "soft_ce"},
    {DistillLoss::kAttnKL, "kl"},
    {DistillLoss::kAttnMSE, "mse"},
    {std::nullopt, "none"}};
// distill.hidden_loss: whether the blocks' hidden states are compared (MSE).
constexpr EnumName<bool> kHiddenLosses[] = {{false, "none"}, {true, "mse"}};

}  // namespace

TrainerOptions trainer_options(const Config& c) {
  TrainerOptions o;
  o.steps = c.get_int("train.steps");
  o.batch_size = c.get_int("train.batch_size");
  o.grad_accum = c.get_int("train.grad_accum");
  o.adamw.lr = c.get_double("train.lr");
  o.adamw.weight_decay = c.get_double("train.weight_decay");
  o.adamw.beta1 = c.get_double("train.beta1");
  o.adamw.beta2 = c.get_double("train.beta2");
  o.warmup_steps = c.get_int("train.warmup_steps");
  o.min_lr_ratio = c.get_double("train.min_lr_ratio");
  o.clip_grad_norm = c.get_double("train.clip_grad_norm");
  o.eval_every = c.get_int("train.eval_every");
  o.save_every = c.get_int("train.save_every");
  o.log_every = c.get_int("train.log_every");
  o.keep_checkpoints = c.get_int("train.keep_checkpoints");
  o.seed = static_cast<uint64_t>(c.get_int("run.seed"));
  o.run_dir = run_directory(c);
  o.device = parse_device(c.get_string("run.device"));
  o.progress = parse_enum(kProgressStyles, c.get_string("run.progress"), "run.progress");
  o.label = c.get_string("run.name");
  for (const auto& item : c.get_string_list("train.lr_factors")) {
    const auto eq = item.rfind('=');
    double factor = -1;
    if (eq != std::string::npos && eq > 0) factor = to_double(item.substr(eq + 1)).value_or(-1);
    ATTND_CHECK_INPUT(factor > 0 && factor <= 100, "train.lr_factors: '",
                      item, "' is not \"<parameter-name prefix>=<factor>\" with a factor in (0, 100]");
    o.adamw.lr_factors.emplace_back(item.substr(0, eq), factor);
  }
  check_trainer_options(o);
  // Data parallel: a process started by `--nproc` or a torchrun-style launcher joins its job here
  // (once per process), before any data is loaded.
  if (auto group = process_group()) {
    ATTND_CHECK_INPUT(o.batch_size % group->world_size() == 0, "train.batch_size = ",
                      o.batch_size, " is not a multiple of the number of processes (",
                      group->world_size(), "): each takes an equal share of every batch");
    o.group = group;
    o.rank = group->rank();
    o.world_size = group->world_size();
  }
  // The train.* keys that reach the tasks rather than the trainer.
  const auto eval_batch_size = c.get_int("train.eval_batch_size");
  ATTND_CHECK_INPUT(eval_batch_size >= 1, "train.eval_batch_size = ", eval_batch_size,
                    " is out of range: expected an integer >= 1");
  const double smoothing = c.get_double("train.label_smoothing");
  ATTND_CHECK_INPUT(std::isfinite(smoothing) && smoothing >= 0 && smoothing < 1,
                    "train.label_smoothing = ", smoothing,
                    " is out of range: expected a number in [0, 1)");
  return o;
}

Model build_model(const Config& c, const RecipeData* data) {
  const auto init = c.get_string("run.init");
  auto table = c.table_json("model");
  // Text models take their vocabulary size from the data unless the recipe sets it.
  if (data && data->vocab_size > 0 && !table.empty() && !table.contains("vocab_size"))
    table["vocab_size"] = data->vocab_size;
  if (!init.empty()) {
    ATTND_CHECK_INPUT(table.empty(), "give either run.init (a checkpoint) or a [model] table, not both");
    ATTND_CHECK_INPUT(c.get_string("attention.mixer") == "softmax", "attention.mixer applies to a "
                      "model built from [model]; to convert run.init's model use attnd linearize");
    return load_model(init);
  }
  ATTND_CHECK_INPUT(table.contains("model_type") && table["model_type"].is_string(),
                    "the recipe's [model] table needs model_type (one of vit, vit_mae, bert, gpt2) — or "
                    "set run.init to a checkpoint");
  const auto type = table["model_type"].get<std::string>();
  std::vector<std::string> present;
  for (auto it = table.begin(); it != table.end(); ++it) present.push_back(it.key());
  auto known = model_config_keys(type);
  // A model with begin/end-of-text ids takes them from the data's tokenizer: [SEP], which ends
  // every document of a language-model token stream (token_stream), is its end of text.
  if (data && data->tokenizer) {
    for (const char* key : {"bos_token_id", "eos_token_id"})
      if (std::count(known.begin(), known.end(), key) && !table.contains(key))
        table[key] = data->tokenizer->sep_id();
  }
  for (auto& k : present) k = "model." + k;
  for (auto& k : known) k = "model." + k;
  check_known_keys(present, known, "the recipe's [model] table");
  torch::manual_seed(static_cast<uint64_t>(c.get_int("run.seed")));
  auto model = create_model(table);
  const auto mixer = c.get_string("attention.mixer");
  if (mixer != "softmax") {
    LinearizeSpec spec;
    spec.mixer = mixer;
    spec.feature_map = c.get_string("attention.feature_map");
    spec.feature_dim = c.get_int("attention.feature_dim");
    spec.window = c.get_int("attention.window");
    spec.seed = static_cast<uint64_t>(c.get_int("run.seed"));
    linearize(*model, spec);
  }
  return model;
}

Model build_model(const Config& c, const RecipeData& data) {
  auto model = build_model(c, &data);
  check_model_fits_data(*model, data);
  return model;
}

namespace {

void write_result(const std::string& run_dir, const RecipeResult& r) {
  nlohmann::json out = {{"steps", r.train.steps_done},
                        {"seconds", r.train.seconds},
                        {"best_step", r.train.best_step},
                        {"best_dir", r.train.best_dir},
                        {"val", r.train.best_metrics},
                        {"test", r.test},
                        {"train_examples", r.train_examples},
                        {"test_examples", r.test_examples}};
  write_json_file((fs::path(run_dir) / "result.json").string(), out);
}

// A pre-training model (MAE) also writes the model fine-tuning starts from to <run>/encoder: its
// encoder as a classifier over the data's classes, with a head seeded by run.seed.
void write_downstream_model(const ModelImpl& best, const RecipeData& data,
                            const std::string& run_dir, uint64_t seed) {
  if (!data.test_images) return;  // only image data sets name their classes so far
  torch::manual_seed(seed);
  auto downstream = best.downstream_model(label_map_of(data.test_images->class_names()));
  if (downstream) save_model((fs::path(run_dir) / "encoder").string(), *downstream);
}

// What a train/distill run writes in its directory; --overwrite removes these and nothing else.
const std::vector<std::string> kRunFiles = {"config.toml", "metrics.jsonl", "result.json",
                                            "checkpoints", "best",          "encoder"};

}  // namespace

void prepare_fresh_run_directory(const std::string& run_dir, bool overwrite,
                                 const std::vector<std::string>& run_files) {
  std::error_code ec;
  if (!fs::exists(run_dir, ec)) return;
  ATTND_CHECK_INPUT(fs::is_directory(run_dir, ec), "run directory '", run_dir,
                    "' (run.out / --out) exists and is not a directory");
  if (fs::is_empty(run_dir, ec)) return;
  ATTND_CHECK_INPUT(overwrite, "run directory '", run_dir,
                    "' is not empty (it holds another run); continue it with --resume ", run_dir,
                    ", replace it with --overwrite, or choose another --out");
  for (const auto& name : run_files) fs::remove_all(fs::path(run_dir) / name, ec);
}

RecipeResult train_and_test(const Config& c, Task& task, const RecipeData& data,
                            const std::string& resume, const TestFn& test) {
  RecipeResult result;
  const auto options = stage_options(c, data);  // checks every train.* value
  result.run_dir = options.run_dir;
  result.train_examples = data.train ? data.train->size() : 0;
  result.test_examples = data.test ? data.test->size() : 0;
  // Data parallel: rank 0 alone prepares and writes the directory; the others only read it.
  const bool writer = is_writer_process();
  // Everything is checked before the first write: a refused run leaves the directory as it was.
  if (resume.empty()) {
    if (writer) prepare_fresh_run_directory(result.run_dir, c.get_bool("run.overwrite"), kRunFiles);
  } else {  // a damaged config.json or optimizer.safetensors is found before config.toml is rewritten
    check_resume_checkpoint(resolve_resume_checkpoint(resume, result.run_dir), task, options);
  }
  if (writer) {
    fs::create_directories(result.run_dir);
    write_file_atomic((fs::path(result.run_dir) / "config.toml").string(), c.to_toml());
  }
  auto stage = run_stage(options, task, data, resume);
  result.train = stage.train;
  if (stage.best) {
    result.test = test ? test(stage.best, result)
                       : evaluate_model(*stage.best, *data.test, c.get_int("train.eval_batch_size"),
                                        options.device);
    if (writer) {
      write_downstream_model(*stage.best, data, result.run_dir,
                             static_cast<uint64_t>(c.get_int("run.seed")));
      write_result(result.run_dir, result);
    }
  }
  return result;
}

RecipeResult run_train_recipe(const Config& c, const std::string& resume) {
  trainer_options(c);  // every train.* value is checked before any work
  configure_threads(c.get_int("run.threads"));
  auto data = load_recipe_data(c);
  auto model = build_model(c, data);
  auto device = parse_device(c.get_string("run.device"));
  model->to(device);
  SupervisedTask task(model, data.val.get(), c.get_int("train.eval_batch_size"), device,
                      c.get_double("train.label_smoothing"));
  return train_and_test(c, task, data, resume);
}

RecipeResult run_distill_recipe(const Config& c, const std::string& resume) {
  trainer_options(c);  // every train.* value is checked before any work
  configure_threads(c.get_int("run.threads"));
  const auto teacher_dir = c.get_string("distill.teacher");
  ATTND_CHECK_INPUT(!teacher_dir.empty(), "distillation needs a teacher: set distill.teacher "
                    "(or --teacher) to a checkpoint directory");
  auto device = parse_device(c.get_string("run.device"));
  auto teacher = load_model(teacher_dir, device);
  auto data = load_recipe_data(c);
  auto student = build_model(c, data);
  student->to(device);

  DistillSpec spec;
  spec.task_weight = c.get_double("distill.task_weight");
  spec.label_smoothing = c.get_double("train.label_smoothing");
  auto pairs = parse_layer_map(c.get_string("distill.layer_map"), student->num_layers(),
                               teacher->num_layers(), c.get_int("distill.skip_last"));
  const auto attention =
      parse_enum(kAttentionLosses, c.get_string("distill.attention_loss"), "distill.attention_loss");
  if (attention)
    for (auto [s, t] : pairs)
      spec.terms.push_back({*attention, s, t, c.get_double("distill.attention_weight"), {}});
  if (parse_enum(kHiddenLosses, c.get_string("distill.hidden_loss"), "distill.hidden_loss"))
    for (auto [s, t] : pairs)
      spec.terms.push_back({DistillLoss::kHiddenMSE, s, t, c.get_double("distill.hidden_weight"), {}});
  ATTND_CHECK_INPUT(!spec.terms.empty() || spec.task_weight > 0,
                    "nothing to learn: no distillation term and distill.task_weight = 0");
  DistillTask task(teacher, student, spec, data.val.get(), c.get_int("train.eval_batch_size"),
                   device, teacher_dir);
  return train_and_test(c, task, data, resume);
}

}  // namespace attnd
