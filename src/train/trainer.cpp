#include "attnd/train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/data/sampler.h"
#include "attnd/io/checkpoint.h"
#include "attnd/train/metrics_log.h"
#include "attnd/train/schedule.h"

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

}  // namespace

Trainer::Trainer(TrainerOptions options, Task& task, const Dataset& train_data)
    : options_(std::move(options)), task_(task), train_data_(train_data) {
  ATTND_CHECK_INPUT(options_.steps > 0, "train.steps must be positive, got ", options_.steps);
  ATTND_CHECK_INPUT(options_.batch_size > 0, "train.batch_size must be positive, got ",
                    options_.batch_size);
  ATTND_CHECK_INPUT(options_.grad_accum > 0, "train.grad_accum must be positive, got ",
                    options_.grad_accum);
  ATTND_CHECK_INPUT(train_data_.size() >= options_.batch_size, "the training set has ",
                    train_data_.size(), " examples, fewer than one batch (train.batch_size = ",
                    options_.batch_size, ")");
  ATTND_CHECK_INPUT(!options_.run_dir.empty(), "the trainer needs a run directory");
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
  auto tensors = model->import_hf(load_checkpoint_model_tensors(checkpoint_dir));
  model->load_state(tensors, checkpoint_dir + "/model.safetensors");
  auto trainer_state = load_checkpoint_json(checkpoint_dir, "trainer.json");
  optimizer.load_state(load_checkpoint_tensors(checkpoint_dir, "optimizer.safetensors"),
                       checkpoint_dir + "/optimizer.safetensors");
  const int64_t step = trainer_state.at("step").get<int64_t>();
  ATTND_CHECK_INPUT(step <= options_.steps, checkpoint_dir, " is at step ", step,
                    ", beyond train.steps = ", options_.steps);
  if (trainer_state.contains("best_step")) {
    result.best_step = trainer_state["best_step"].get<int64_t>();
    result.best_metrics = trainer_state["best_metrics"].get<Metrics>();
    result.best_dir = (fs::path(options_.run_dir) / "best").string();
  }
  return step;
}

std::string Trainer::save(int64_t step, NamedAdamW& optimizer, const TrainResult& result) {
  auto model = task_.model();
  nlohmann::json trainer_state = {{"step", step}, {"seed", options_.seed},
                                  {"total_steps", options_.steps}};
  if (result.best_step >= 0) {
    trainer_state["best_step"] = result.best_step;
    trainer_state["best_metrics"] = result.best_metrics;
  }
  const auto dir = (fs::path(options_.run_dir) / "checkpoints" / step_dir_name(step)).string();
  auto json_files = options_.checkpoint_files;
  json_files["trainer.json"] = trainer_state;
  save_checkpoint(dir, task_.checkpoint_config(), model->export_hf(model->state()),
                  {{"optimizer.safetensors", optimizer.state()}}, json_files);
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

TrainResult Trainer::fit(const std::string& resume_from) {
  auto model = task_.model();
  model->to(options_.device);
  NamedAdamW optimizer(model->state(), options_.adamw);
  TrainResult result;
  fs::create_directories(options_.run_dir);

  int64_t start = 0;
  if (!resume_from.empty()) {
    std::string ckpt = resume_from;
    if (!fs::exists(fs::path(ckpt) / "trainer.json")) ckpt = latest_checkpoint(resume_from);
    ATTND_CHECK_INPUT(!ckpt.empty(), "cannot resume from '", resume_from,
                      "': expected a checkpoint directory (with trainer.json) or a run directory "
                      "with checkpoints/step-N");
    start = restore(ckpt, optimizer, result);
    result.last_checkpoint = ckpt;
  }
  MetricsLog log((fs::path(options_.run_dir) / "metrics.jsonl").string(),
                 resume_from.empty() ? -1 : start);

  const WarmupCosine schedule{options_.adamw.lr, options_.warmup_steps, options_.steps,
                              options_.min_lr_ratio};
  const BatchSampler sampler(train_data_.size(), options_.batch_size, options_.seed);
  const int64_t save_every = options_.save_every > 0 ? options_.save_every : options_.eval_every;
  const int64_t end = options_.stop_after >= 0 ? std::min(options_.steps, options_.stop_after)
                                               : options_.steps;
  Progress progress(options_.label, options_.steps, start, options_.progress, options_.log_every);
  const auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, double> window;  // running means for the log
  int64_t window_count = 0;

  auto evaluate_and_keep_best = [&](int64_t step) {
    auto metrics = task_.evaluate();
    nlohmann::json record = {{"step", step}, {"split", "eval"}};
    for (const auto& kv : metrics) record[kv.first] = kv.second;
    log.write(record);
    progress.message(options_.label + " eval @" + std::to_string(step) + ": " + describe(metrics));
    const auto key = task_.selection_metric();
    ATTND_CHECK(metrics.count(key), "evaluation did not report the selection metric '", key, "'");
    if (result.best_step < 0 ||
        better(metrics[key], result.best_metrics[key], task_.higher_is_better())) {
      result.best_step = step;
      result.best_metrics = metrics;
      result.best_dir = (fs::path(options_.run_dir) / "best").string();
      nlohmann::json best_state = {{"step", step}, {"metrics", metrics}};
      auto json_files = options_.checkpoint_files;
      json_files["trainer.json"] = best_state;
      save_checkpoint(result.best_dir, task_.checkpoint_config(), model->export_hf(model->state()),
                      {}, json_files);
    }
    result.final_metrics = metrics;
    model->train();
  };

  model->train();
  for (int64_t step = start; step < end; ++step) {
    torch::manual_seed(mix_seed(options_.seed, static_cast<uint64_t>(step)));
    const double lr = schedule(step);
    optimizer.set_lr(lr);
    optimizer.zero_grad();
    std::map<std::string, double> parts;
    double total = 0.0;
    for (int64_t micro = 0; micro < options_.grad_accum; ++micro) {
      const int64_t draw = step * options_.grad_accum + micro;
      auto batch = train_data_.get(sampler.indices_for_step(draw),
                                   mix_seed(options_.seed ^ 0xA5A5A5A5ull, draw))
                       .to(options_.device);
      auto loss = task_.loss(batch);
      const double value = loss.total.item<double>();
      if (!std::isfinite(value)) {
        throw_error("the loss became ", value, " at step ", step + 1, " (", describe(loss.parts),
                    "); training stopped. ",
                    result.last_checkpoint.empty()
                        ? std::string("No checkpoint was written yet.")
                        : "The last good checkpoint is " + result.last_checkpoint + ".",
                    " Try a lower train.lr, more train.warmup_steps or train.clip_grad_norm.");
      }
      (loss.total / static_cast<double>(options_.grad_accum)).backward();
      total += value / options_.grad_accum;
      for (const auto& kv : loss.parts) parts[kv.first] += kv.second / options_.grad_accum;
    }
    if (options_.clip_grad_norm > 0) {
      const double norm =
          torch::nn::utils::clip_grad_norm_(optimizer.parameters(), options_.clip_grad_norm);
      if (!std::isfinite(norm))
        throw_error("the gradient norm became ", norm, " at step ", step + 1,
                    "; training stopped. ",
                    result.last_checkpoint.empty()
                        ? std::string("No checkpoint was written yet.")
                        : "The last good checkpoint is " + result.last_checkpoint + ".");
    }
    optimizer.step();

    const int64_t done = step + 1;
    window["loss"] += total;
    for (const auto& kv : parts) window[kv.first] += kv.second;
    ++window_count;
    auto shown = parts;
    shown["loss"] = total;
    shown["lr"] = lr;
    progress.update(done, shown);
    if (done % options_.log_every == 0 || done == end) {
      nlohmann::json record = {{"step", done}, {"split", "train"}, {"lr", lr}};
      for (const auto& kv : window) record[kv.first] = kv.second / window_count;
      log.write(record);
      window.clear();
      window_count = 0;
    }
    const bool last = done == options_.steps;
    if ((options_.eval_every > 0 && done % options_.eval_every == 0) || last)
      evaluate_and_keep_best(done);
    if ((save_every > 0 && done % save_every == 0) || last || done == end)
      result.last_checkpoint = save(done, optimizer, result);
    result.steps_done = done;
  }
  progress.finish();
  result.steps_done = std::max(result.steps_done, start);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace attnd
