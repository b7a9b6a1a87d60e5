#include "attnd/train/trainer.h"

#include <torch/torch.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/data/sampler.h"
#include "attnd/io/checkpoint.h"
#include "attnd/models/checkpoint_state.h"
#include "attnd/train/distributed.h"
#include "attnd/train/metrics_log.h"
#include "attnd/train/schedule.h"
#include "attnd/train/trainer_checks.h"
#include "attnd/train/trainer_state.h"

namespace attnd {

namespace fs = std::filesystem;

namespace {

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%07lld", static_cast<long long>(step));
  return buf;
}

std::string describe(const std::map<std::string, double>& parts) {
  std::ostringstream out;
  bool first = true;
  for (const auto& kv : parts) {
    out << (first ? "" : ", ") << kv.first << "=" << kv.second;
    first = false;
  }
  return out.str();
}

bool better(double a, double b, bool higher) { return higher ? a > b : a < b; }

// Non-finite values in the floating-point tensors of `tensors`: how many, of how many, and the
// first tensor holding one.
struct NonFinite {
  int64_t count = 0;
  int64_t total = 0;
  std::string first;
};
NonFinite count_non_finite(const TensorMap& tensors) {
  NonFinite r;
  for (const auto& [name, t] : tensors) {
    if (!t.is_floating_point()) continue;
    const int64_t bad = (~torch::isfinite(t)).sum().item<int64_t>();
    r.total += t.numel();
    if (bad > 0 && r.first.empty()) r.first = name;
    r.count += bad;
  }
  return r;
}

// A checkpoint is written only from finite weights: a diverged model saved over (or pruning away)
// the last good one would leave nothing to resume from.
void check_finite_before_save(const TensorMap& tensors, int64_t step, const std::string& what,
                              const std::string& last_good) {
  const auto bad = count_non_finite(tensors);
  if (bad.count > 0)
    throw_error("the weights became non-finite by step ", step, " (", bad.count, " of ", bad.total,
                " values, first in '", bad.first, "'); ", what, " was not written and training "
                "stopped. ", last_good,
                " Try a lower train.lr, more train.warmup_steps or train.clip_grad_norm > 0.");
}

std::string last_good_message(const std::string& last_checkpoint) {
  return last_checkpoint.empty() ? std::string("No checkpoint was written yet.")
                                 : "The last good checkpoint is " + last_checkpoint + ".";
}

Model on_device(Model model, const torch::Device& device) {
  model->to(device);
  return model;
}

// Test hook: ATTND_TEST_FAULT="<rank>:<step>:kill" makes that rank SIGKILL itself as step <step>
// (1-based) begins, "...:hang" makes it stop there for good, so a test can watch the other ranks
// notice a dead or a hung worker.
void fault_if_asked(int64_t rank, int64_t step) {
  const char* spec = std::getenv("ATTND_TEST_FAULT");
  long long r = -1, s = -1;
  char what[8] = {};
  if (!spec || std::sscanf(spec, "%lld:%lld:%7s", &r, &s, what) != 3 || r != rank || s != step + 1)
    return;
  if (std::string(what) == "kill") ::kill(::getpid(), SIGKILL);
  if (std::string(what) == "hang")
    for (;;) ::pause();
}

// The mean over ranks of each rank's step statistics (its loss and parts are means over equal
// shares, so their mean is the whole batch's): rank 0 logs what one process would have.
void average_over_ranks(ProcessGroup& group, double& loss, std::map<std::string, double>& parts) {
  EvalSums sums;
  sums.values = parts;
  sums.values[" loss"] = loss;  // a name no part can have
  sums = group.all_reduce(sums);
  const double n = static_cast<double>(group.world_size());
  loss = sums.values.at(" loss") / n;
  for (auto& kv : parts) kv.second = sums.values.at(kv.first) / n;
}

}  // namespace

Trainer::Trainer(TrainerOptions options, Task& task, const Dataset& train_data)
    : options_(std::move(options)), task_(task), train_data_(train_data) {
  check_trainer_options(options_);
  ATTND_CHECK_INPUT(train_data_.size() >= options_.batch_size, "the training set has ",
                    train_data_.size(), " examples, fewer than one batch (train.batch_size = ",
                    options_.batch_size, ")");
  ATTND_CHECK_INPUT(!options_.run_dir.empty(), "the trainer needs a run directory");
  ATTND_CHECK_INPUT(options_.world_size >= 1, "the trainer's world size must be at least 1, got ",
                    options_.world_size);
  ATTND_CHECK_INPUT(options_.rank >= 0 && options_.rank < options_.world_size,
                    "the trainer's rank must be in [0, world size = ", options_.world_size,
                    "), got ", options_.rank);
  ATTND_CHECK_INPUT(options_.batch_size % options_.world_size == 0, "train.batch_size (",
                    options_.batch_size, ") must be a multiple of the world size (",
                    options_.world_size, "): each rank takes an equal slice of every batch");
  ATTND_CHECK(!options_.group || (options_.group->rank() == options_.rank &&
                                  options_.group->world_size() == options_.world_size),
              "the process group (rank ", options_.group->rank(), " of ",
              options_.group->world_size(), ") disagrees with the trainer's rank ", options_.rank,
              " of ", options_.world_size);
}

std::string Trainer::latest_checkpoint(const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(dir)) return "";
  std::string best;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step-", 0) == 0 && name.find(".tmp") == std::string::npos &&
        fs::exists(entry.path() / "trainer.json") && name > fs::path(best).filename().string())
      best = entry.path().string();
  }
  return best;
}


int64_t Trainer::restore(const std::string& checkpoint_dir, NamedAdamW& optimizer,
                         TrainResult& result) {
  auto model = task_.model();
  // Everything but the tensors' values; train_and_test runs it too, before writing anything.
  const TrainerState state = check_resume_checkpoint(checkpoint_dir, task_, options_);
  const auto stored = load_checkpoint_model_tensors(checkpoint_dir);
  const auto bad = count_non_finite(stored);
  ATTND_CHECK_INPUT(bad.count == 0, checkpoint_dir, "/model.safetensors holds ", bad.count,
                    " non-finite values of ", bad.total, " (first in '", bad.first,
                    "'); resume from an earlier checkpoint");
  auto tensors = model->import_hf(stored);
  model->load_state(tensors, checkpoint_dir + "/model.safetensors");
  optimizer.load_state(load_checkpoint_tensors(checkpoint_dir, "optimizer.safetensors"),
                       checkpoint_dir + "/optimizer.safetensors");
  if (state.best_step >= 0) {
    result.best_step = state.best_step;
    result.best_metrics = state.best_metrics;
    result.best_dir = (fs::path(options_.run_dir) / "best").string();
  }
  return state.step;
}


// Writes checkpoints/step-N and prunes old ones; returns its path (on every rank: the NaN guard
// names it).
std::string Trainer::save(int64_t step, NamedAdamW& optimizer, const TrainResult& result) {
  const auto dir = (fs::path(options_.run_dir) / "checkpoints" / step_dir_name(step)).string();
  if (!is_writer()) return dir;
  auto model = task_.model();
  const auto model_tensors = model->export_hf(checkpoint_state(*model));
  const auto optimizer_state = optimizer.state();
  check_finite_before_save(model_tensors, step, "checkpoint " + dir,
                           last_good_message(result.last_checkpoint));
  int64_t optimizer_params = 0;
  for (const auto& kv : optimizer_state)
    if (kv.first.size() > 8 && kv.first.compare(kv.first.size() - 8, 8, ".exp_avg") == 0)
      ++optimizer_params;
  nlohmann::json trainer_state = {{"step", step}, {"seed", options_.seed},
                                  {"total_steps", options_.steps},
                                  {"optimizer_params", optimizer_params}};
  if (result.best_step >= 0) {
    trainer_state["best_step"] = result.best_step;
    trainer_state["best_metrics"] = result.best_metrics;
  }
  auto json_files = options_.checkpoint_files;
  json_files["trainer.json"] = trainer_state;
  save_checkpoint(dir, task_.checkpoint_config(), model_tensors,
                  {{"optimizer.safetensors", optimizer_state}}, json_files);
  prune_checkpoints();
  return dir;
}

void Trainer::prune_checkpoints() const {
  const fs::path dir = fs::path(options_.run_dir) / "checkpoints";
  std::vector<fs::path> steps;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step-", 0) == 0 && name.find(".tmp") == std::string::npos &&
        name.find(".old") == std::string::npos)
      steps.push_back(entry.path());
  }
  std::sort(steps.begin(), steps.end());
  const int64_t keep = std::max<int64_t>(1, options_.keep_checkpoints);
  for (int64_t i = 0; i + keep < static_cast<int64_t>(steps.size()); ++i) fs::remove_all(steps[i]);
}

// ---- one fit() ----------------------------------------------------------------------------------

struct Trainer::Run {
  Run(const TrainerOptions& o, Task& task, const Dataset& data)
      : model(on_device(task.model(), o.device)),
        optimizer(model->state(), o.adamw),
        schedule{o.adamw.lr, o.warmup_steps, o.steps, o.min_lr_ratio},
        sampler(data.size(), o.batch_size, o.seed, /*shuffle=*/true, o.rank, o.world_size),
        save_every(o.save_every > 0 ? o.save_every : o.eval_every) {}

  Model model;
  NamedAdamW optimizer;
  const WarmupCosine schedule;
  const BatchSampler sampler;
  const int64_t save_every;
  int64_t end = 0;  // this call stops after step `end` (train.steps, or stop_after)
  TrainResult result;
  std::optional<MetricsLog> log;  // the writer's only
  std::optional<Progress> progress;
  std::map<std::string, double> window;  // running sums for the next train line of the log
  int64_t window_count = 0;
};

struct Trainer::StepStats {
  double lr = 0.0;
  double loss = 0.0;                   // mean over the micro-batches
  std::map<std::string, double> parts;  // the task's loss parts, likewise
};

TrainResult Trainer::fit(const std::string& resume_from) {
  Run run(options_, task_, train_data_);
  if (is_writer()) fs::create_directories(options_.run_dir);
  const int64_t start = resume(resume_from, run);
  // Every rank starts from rank 0's weights: a fresh model's random init, or the checkpoint all
  // ranks just read (the optimiser state, read from the same file, is equal already).
  if (options_.group) broadcast_module(*options_.group, *run.model);
  if (is_writer()) remove_unfinished_checkpoints(options_.run_dir);  // left by a killed save
  // Opened only after a successful restore: a failed resume leaves the log as it was.
  if (is_writer())
    run.log.emplace((fs::path(options_.run_dir) / "metrics.jsonl").string(),
                    resume_from.empty() ? -1 : start);
  run.end = options_.stop_after >= 0 ? std::min(options_.steps, options_.stop_after)
                                     : options_.steps;
  run.progress.emplace(options_.label, options_.steps, start,
                       is_writer() ? options_.progress : Progress::Style::kQuiet,
                       options_.log_every);
  const auto t0 = std::chrono::steady_clock::now();

  run.model->train();
  for (int64_t step = start; step < run.end; ++step) {
    const StepStats stats = optimizer_step(step, run);
    const int64_t done = step + 1;
    log_step(done, stats, run);
    const bool last = done == options_.steps;
    if ((options_.eval_every > 0 && done % options_.eval_every == 0) || last)
      evaluate_and_keep_best(done, run);
    if ((run.save_every > 0 && done % run.save_every == 0) || last || done == run.end)
      run.result.last_checkpoint = save(done, run.optimizer, run.result);
    run.result.steps_done = done;
  }
  run.progress->finish();
  // The others may read what rank 0 wrote (best/, the last checkpoint) once fit() returns.
  if (options_.group) options_.group->barrier();
  run.result.steps_done = std::max(run.result.steps_done, start);
  run.result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run.result;
}

// The step to start from: 0 for a fresh run, else the step of the checkpoint `resume_from` names
// (a checkpoint directory, or a run directory's latest), whose model, optimiser state and best
// so far are restored.
int64_t Trainer::resume(const std::string& resume_from, Run& run) {
  if (resume_from.empty()) return 0;
  const std::string ckpt = resolve_resume_checkpoint(resume_from, options_.run_dir);
  const int64_t start = restore(ckpt, run.optimizer, run.result);
  run.result.last_checkpoint = ckpt;
  return start;
}

// Step `step` (0-based): grad_accum micro-batches whose data, augmentation and dropout are
// functions of (seed, step) alone, the NaN/Inf guard, backward, clipping, the AdamW update.
Trainer::StepStats Trainer::optimizer_step(int64_t step, Run& run) {
  fault_if_asked(options_.rank, step);
  torch::manual_seed(mix_seed(options_.seed, static_cast<uint64_t>(step)));
  StepStats stats;
  stats.lr = run.schedule(step);
  run.optimizer.set_lr(stats.lr);
  run.optimizer.zero_grad();
  const auto last_good = [&run] { return last_good_message(run.result.last_checkpoint); };
  for (int64_t micro = 0; micro < options_.grad_accum; ++micro) {
    const int64_t draw = step * options_.grad_accum + micro;
    // Augmentation is seeded per draw and example, so a rank's slice gets the same crops as
    // in a one-rank run.
    auto batch = train_data_.get(run.sampler.indices_for_step(draw),
                                 mix_seed(options_.seed ^ 0xA5A5A5A5ull, draw))
                     .to(options_.device);
    auto loss = task_.loss(batch);
    const double value = loss.total.item<double>();
    if (!std::isfinite(value)) {
      throw_error("the loss became ", value, " at step ", step + 1, " (", describe(loss.parts),
                  "); training stopped. ", last_good(),
                  " Try a lower train.lr, more train.warmup_steps or train.clip_grad_norm.");
    }
    (loss.total / static_cast<double>(options_.grad_accum)).backward();
    stats.loss += value / options_.grad_accum;
    for (const auto& kv : loss.parts) stats.parts[kv.first] += kv.second / options_.grad_accum;
  }
  // Data parallel: clipping and the update see the mean gradient of all ranks' examples, the one
  // gradient a single process with the whole batch would have.
  if (options_.group) {
    all_reduce_gradients(*options_.group, run.optimizer.parameters());
    average_over_ranks(*options_.group, stats.loss, stats.parts);
  }
  if (options_.clip_grad_norm > 0) {
    const double norm =
        torch::nn::utils::clip_grad_norm_(run.optimizer.parameters(), options_.clip_grad_norm);
    if (!std::isfinite(norm))
      throw_error("the gradient norm became ", norm, " at step ", step + 1,
                  "; training stopped. ", last_good());
  }
  run.optimizer.step();
  return stats;
}

// Shows the step's numbers and adds them to the window; every log_every steps (and at this
// call's last step) the window's means become one train line of metrics.jsonl.
void Trainer::log_step(int64_t done, const StepStats& stats, Run& run) {
  run.window["loss"] += stats.loss;
  for (const auto& kv : stats.parts) run.window[kv.first] += kv.second;
  ++run.window_count;
  auto shown = stats.parts;
  shown["loss"] = stats.loss;
  shown["lr"] = stats.lr;
  run.progress->update(done, shown);
  if (done % options_.log_every == 0 || done == run.end) {
    nlohmann::json record = {{"step", done}, {"split", "train"}, {"lr", stats.lr}};
    for (const auto& kv : run.window) record[kv.first] = kv.second / run.window_count;
    write_log(run, record);
    run.window.clear();
    run.window_count = 0;
  }
}

// Evaluates, logs the metrics and, when they beat the best so far, writes best/.
void Trainer::evaluate_and_keep_best(int64_t step, Run& run) {
  auto metrics = evaluate();
  nlohmann::json record = {{"step", step}, {"split", "eval"}};
  for (const auto& kv : metrics) record[kv.first] = kv.second;
  write_log(run, record);
  run.progress->message(options_.label + " eval @" + std::to_string(step) + ": " +
                        describe(metrics));
  const auto key = task_.selection_metric();
  ATTND_CHECK(metrics.count(key), "evaluation did not report the selection metric '", key, "'");
  TrainResult& result = run.result;
  if (result.best_step < 0 ||
      better(metrics[key], result.best_metrics[key], task_.higher_is_better())) {
    result.best_step = step;
    result.best_metrics = metrics;
    result.best_dir = (fs::path(options_.run_dir) / "best").string();
    if (is_writer()) {
      nlohmann::json best_state = {{"step", step}, {"metrics", metrics}};
      auto json_files = options_.checkpoint_files;
      json_files["trainer.json"] = best_state;
      const auto tensors = run.model->export_hf(checkpoint_state(*run.model));
      check_finite_before_save(tensors, step, result.best_dir,
                               last_good_message(result.last_checkpoint));
      save_checkpoint(result.best_dir, task_.checkpoint_config(), tensors, {}, json_files);
    }
  }
  result.final_metrics = metrics;
  run.model->train();
}

// The one place the task evaluates. Data parallel: each rank evaluates its shard and the sums are
// added up; a task that cannot shard is evaluated whole on every rank (same weights, same result).
Metrics Trainer::evaluate() {
  if (!options_.group) return task_.evaluate();
  if (auto shard = task_.evaluate_shard_sums(options_.rank, options_.world_size))
    return task_.metrics_from(options_.group->all_reduce(*shard));
  return task_.evaluate();
}

void Trainer::write_log(Run& run, const nlohmann::json& record) {
  if (run.log) run.log->write(record);  // opened by the writer only
}

}  // namespace attnd
