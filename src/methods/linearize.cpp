#include "attnd/methods/linearize.h"

#include <torch/torch.h>

#include <filesystem>
#include <iomanip>
#include <sstream>

#include "attnd/core/enum_names.h"
#include "attnd/core/error.h"
#include "attnd/core/index_set.h"
#include "attnd/distill/losses.h"
#include "attnd/io/atomic_file.h"
#include "attnd/io/json_file.h"
#include "attnd/models/lora_model.h"
#include "attnd/methods/stage.h"
#include "attnd/models/model_io.h"
#include "attnd/train/distributed.h"
#include "attnd/train/objectives.h"

namespace attnd {

namespace fs = std::filesystem;

// ---- stage 1 -----------------------------------------------------------------------------------

AttentionMimicryTask::AttentionMimicryTask(Model teacher, Model student, MimicryOptions options,
                                           const Dataset* eval_data, int64_t eval_batch_size,
                                           torch::Device device)
    : teacher_(std::move(teacher)), student_(std::move(student)), options_(options),
      eval_data_(eval_data), eval_batch_size_(eval_batch_size), device_(device) {
  ATTND_CHECK_INPUT(!linearized_layers(*student_).empty(),
                    "attention mimicry: the student has no linear or hybrid layer");
  teacher_->to(device_);
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

StepLoss AttentionMimicryTask::loss(const Batch& batch) {
  const auto layers = linearized_layers(*student_);
  unsigned what = kRecordQueries | kRecordKeys | kRecordProbs;
  if (options_.output_weight > 0) what |= kRecordValues | kRecordHeadOutputs;
  Taps taps;
  taps.record(what, {layers.begin(), layers.end()});
  {
    torch::NoGradGuard no_grad;
    teacher_->eval();
    teacher_->forward(batch.input, &taps);
  }
  const auto mask = mask_of(*student_, batch);
  StepLoss out;
  out.total = torch::zeros({}, batch.labels.options().dtype(torch::kFloat));
  for (auto l : layers) {
    const auto& t = taps.at(l);
    auto weights = student_attention_weights(*student_, l, t.queries, t.keys, mask);
    auto ce = attention_soft_ce_from_probs(t.probs, weights, mask);
    out.total = out.total + options_.attention_weight * ce;
    out.parts["attn_ce"] += ce.item<double>() / layers.size();
    if (options_.output_weight > 0) {
      auto mse = (torch::matmul(weights, t.values) - t.head_outputs).pow(2).mean();
      out.total = out.total + options_.output_weight * mse;
      out.parts["out_mse"] += mse.item<double>() / layers.size();
    }
  }
  return out;
}

EvalSums AttentionMimicryTask::evaluate_sums() {
  ATTND_CHECK(eval_data_ != nullptr, "no evaluation data was given");
  const int64_t examples = std::min<int64_t>(eval_data_->size(), 1000);
  auto fidelity = attention_fidelity(*teacher_, *student_, *eval_data_, eval_batch_size_, device_,
                                     examples);
  // attention_fidelity averages over examples: times their number, the layer means are sums.
  EvalSums sums;
  const double n = static_cast<double>(examples), layers = static_cast<double>(fidelity.size());
  for (const auto& f : fidelity) {
    sums.add("attn_ce_sum", n * f.ce / layers);
    sums.add("attn_kl_sum", n * f.kl / layers);
    sums.add("spearman_sum", n * f.spearman / layers);
  }
  sums.add("examples", n);
  return sums;
}

Metrics AttentionMimicryTask::metrics_from(const EvalSums& sums) const {
  const double n = sums.get("examples");
  ATTND_CHECK_INPUT(n > 0, "attention mimicry: the evaluation set is empty");
  return {{"attn_ce", sums.get("attn_ce_sum") / n},
          {"attn_kl", sums.get("attn_kl_sum") / n},
          {"spearman", sums.get("spearman_sum") / n}};
}

// ---- recipe ------------------------------------------------------------------------------------

ConfigSchema linearize_schema() {
  auto s = recipe_schema(false);
  s.add("linearize.mixer", "linear", "linear | hybrid (LoLCATs: sliding-window softmax + linear)")
      .add("linearize.feature_map", "softmax_split",
           "softmax_split (Hedgehog) | exp | softmax_concat | elu | relu | t2r | performer | "
           "cosformer | taylor | exp_t1 | exp_t2")
      .add("linearize.feature_dim", int64_t{0}, "feature-map width (0: the map's default)")
      .add("linearize.window", int64_t{64}, "hybrid: sliding-window size")
      .add("linearize.layers", "all", "layers converted: all, first:k, last:k or a list 0,1,2")
      .add("linearize.stages", "both", "1 (attention mimicry only) | 2 (finetune only) | both")
      .add("linearize.attention_steps", int64_t{300}, "stage 1: optimiser steps")
      .add("linearize.attention_lr", 1e-2, "stage 1: learning rate (LoLCATs: 1e-2)")
      .add("linearize.output_weight", 0.0,
           "stage 1: weight of the per-head output MSE (LoLCATs uses 1000; 0: off)")
      .add("linearize.attention_weight", 1.0, "stage 1: weight of the attention soft CE")
      .add("linearize.finetune", "full", "stage 2: full (every weight) | lora (adapters only; merged on save)")
      .add("linearize.lora_rank", int64_t{8}, "stage 2 with LoRA: rank r")
      .add("linearize.lora_alpha", 16.0, "stage 2 with LoRA: alpha (scale alpha / r)")
      .add("linearize.lora_targets", "q,k,v,o", "stage 2 with LoRA: adapted projections (q,k,v,o or all)")
      .add("linearize.lora_train_maps", false, "stage 2 with LoRA: also train the feature maps");
  return s;
}

double task_recovery(const Metrics& teacher, const Metrics& student) {
  // Language models: perplexity (lower wins); classifiers: accuracy.
  if (teacher.count("perplexity") && student.count("perplexity"))
    return teacher.at("perplexity") / student.at("perplexity");
  return student.at("accuracy") / teacher.at("accuracy");
}

std::string describe_recovery(const Metrics& teacher, const Metrics& student) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2);
  if (teacher.count("perplexity") && student.count("perplexity"))
    out << "softmax original: test perplexity " << teacher.at("perplexity") << "; converted: "
        << student.at("perplexity") << " (recovery " << 100 * task_recovery(teacher, student)
        << "% = original / converted perplexity)";
  else
    out << "softmax original: " << 100 * teacher.at("accuracy") << "% test accuracy; converted: "
        << 100 * student.at("accuracy") << "% (recovery " << 100 * task_recovery(teacher, student)
        << "%)";
  return out.str();
}

namespace {

enum class Stages { kMimicry, kFinetune, kBoth };
constexpr EnumName<Stages> kStages[] = {
    {Stages::kMimicry, "1"}, {Stages::kFinetune, "2"}, {Stages::kBoth, "both"}};
// linearize.finetune: false = every weight, true = LoRA adapters only.
constexpr EnumName<bool> kFinetuneLora[] = {{false, "full"}, {true, "lora"}};

}  // namespace

LinearizeResult run_linearize_recipe(const Config& c, const std::string& resume) {
  configure_threads(c.get_int("run.threads"));
  const auto source = c.get_string("run.init");
  ATTND_CHECK_INPUT(!source.empty(), "attnd linearize converts a trained softmax model: set "
                    "run.init (or the positional checkpoint) to its checkpoint directory");
  ATTND_CHECK_INPUT(c.table_json("model").empty(), "attnd linearize takes its model from run.init; "
                    "remove the [model] table");
  const auto stages = c.get_string("linearize.stages");
  const auto stage_set = parse_enum(kStages, stages, "linearize.stages");
  auto device = parse_device(c.get_string("run.device"));
  auto teacher = load_model(source, device);
  auto data = load_recipe_data(c);
  check_model_fits_data(*teacher, data);
  auto student = load_model(source, device);
  if (linearized_layers(*student).empty()) {
    LinearizeSpec spec;
    spec.mixer = c.get_string("linearize.mixer");
    spec.feature_map = c.get_string("linearize.feature_map");
    spec.feature_dim = c.get_int("linearize.feature_dim");
    spec.window = c.get_int("linearize.window");
    spec.layers = parse_index_set(c.get_string("linearize.layers"), {student->num_layers(), "layer"},
                                  "linearize.layers");
    spec.seed = static_cast<uint64_t>(c.get_int("run.seed"));
    ATTND_CHECK_INPUT(!spec.layers.empty(), "linearize.layers selects no layer");
    torch::manual_seed(spec.seed);
    linearize(*student, spec);
  }
  LinearizeResult result;
  result.run_dir = run_directory(c);
  // Data parallel: rank 0 alone prepares and writes the directory.
  const bool writer = is_writer_process();
  // A fresh run into a directory holding another run would mix their stages.
  if (resume.empty() && writer)
    prepare_fresh_run_directory(result.run_dir, c.get_bool("run.overwrite"),
                                {"config.toml", "stages.json", "stage1", "stage2", "model",
                                 "result.json", "report.md"});
  if (writer) {
    fs::create_directories(result.run_dir);
    write_file_atomic((fs::path(result.run_dir) / "config.toml").string(), c.to_toml());
  }
  const auto eval_bs = c.get_int("train.eval_batch_size");
  // The run directory's record (or the layout of a checkpoint path) says which stage to continue.
  const auto resume_at = resolve_stage_resume(resume, 2);

  // Fixed feature maps (elu, relu, performer, cosformer, taylor, exp_t*) have nothing to mimic
  // with: stage 1 is skipped for them and the result says so.
  const bool learnable = mixer_parameter_count(*student) > 0;
  result.stage1_skipped = !learnable;
  if (stage_set != Stages::kFinetune && resume_at.stage <= 1 && learnable) {
    write_stage_record(result.run_dir, {1, false});
    freeze_all_but_mixers(*student);
    MimicryOptions mo;
    mo.attention_weight = c.get_double("linearize.attention_weight");
    mo.output_weight = c.get_double("linearize.output_weight");
    AttentionMimicryTask task(teacher, student, mo, data.val.get(), eval_bs, device);
    auto options = stage_options(c, data);
    options.steps = c.get_int("linearize.attention_steps");
    options.adamw.lr = c.get_double("linearize.attention_lr");
    options.adamw.weight_decay = 0.0;
    options.warmup_steps = std::min<int64_t>(options.warmup_steps, options.steps / 10);
    options.eval_every = options.steps;
    options.run_dir = stage_dir(result.run_dir, 1);
    options.label = c.get_string("run.name") + " stage 1";
    auto stage = run_stage(options, task, data, resume_at.stage == 1 ? resume_at.from : "");
    ATTND_CHECK(stage.best != nullptr, "stage 1 produced no checkpoint");
    student = stage.best;
    write_stage_record(result.run_dir, {1, true});
  }
  if (stage_set != Stages::kMimicry) {
    write_stage_record(result.run_dir, {2, false});
    unfreeze_all(*student);
    const bool lora = parse_enum(kFinetuneLora, c.get_string("linearize.finetune"), "linearize.finetune");
    if (lora && !has_lora(*student)) {  // a resumed stage-2 checkpoint has them
      LoraOptions lora_options;
      lora_options.rank = c.get_int("linearize.lora_rank");
      lora_options.alpha = c.get_double("linearize.lora_alpha");
      lora_options.targets = parse_lora_targets(c.get_string("linearize.lora_targets"));
      add_lora(*student, lora_options);
    }
    if (lora) freeze_all_but_lora(*student, c.get_bool("linearize.lora_train_maps"));
    SupervisedTask task(student, data.val.get(), eval_bs, device,
                        c.get_double("train.label_smoothing"));
    auto options = stage_options(c, data);
    options.run_dir = stage_dir(result.run_dir, 2);
    options.label = c.get_string("run.name") + " stage 2";
    auto stage = run_stage(options, task, data, resume_at.stage == 2 ? resume_at.from : "");
    ATTND_CHECK(stage.best != nullptr, "stage 2 produced no checkpoint");
    student = stage.best;
    merge_lora(*student);  // the converted model keeps only the base names + feature maps
    write_stage_record(result.run_dir, {2, true});
  }
  if (writer)
    save_model((fs::path(result.run_dir) / "model").string(), *student, {}, data.checkpoint_files());
  result.teacher_test = evaluate_model(*teacher, *data.test, eval_bs, device);
  result.student_test = evaluate_model(*student, *data.test, eval_bs, device);
  result.fidelity = attention_fidelity(*teacher, *student, *data.test, eval_bs, device, 1000);

  const double recovery = task_recovery(result.teacher_test, result.student_test);
  nlohmann::json out = {{"teacher", source},
                        {"mixer", c.get_string("linearize.mixer")},
                        {"feature_map", c.get_string("linearize.feature_map")},
                        {"stages", stages},
                        {"finetune", c.get_string("linearize.finetune")},
                        {"stage1_skipped", result.stage1_skipped},
                        {"teacher_test", result.teacher_test},
                        {"student_test", result.student_test},
                        {"recovery", recovery},
                        {"fidelity", fidelity_json(result.fidelity)}};
  if (!writer) return result;
  write_json_file((fs::path(result.run_dir) / "result.json").string(), out);
  std::ostringstream report;
  report << "# attnd linearize: " << c.get_string("linearize.feature_map") << " ("
         << c.get_string("linearize.mixer") << ")\n\n"
         << describe_recovery(result.teacher_test, result.student_test)
         << ".\n\nAttention fidelity on up to 1,000 test examples (teacher = softmax original):\n\n"
         << fidelity_table(result.fidelity);
  write_file_atomic((fs::path(result.run_dir) / "report.md").string(), report.str());
  return result;
}

}  // namespace attnd
