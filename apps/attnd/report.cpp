#include "report.h"

#include <iomanip>

namespace attnd::cli {

void print_recipe_result(std::ostream& out, const std::string& verb, const RecipeResult& result) {
  out << verb << ": " << result.train.steps_done << " steps in " << std::fixed
      << std::setprecision(1) << result.train.seconds << " s\n";
  if (result.train.best_step >= 0) {
    out << "  best checkpoint: " << result.train.best_dir << " (step " << result.train.best_step
        << ", val";
    for (const auto& kv : result.train.best_metrics)
      out << " " << kv.first << " " << std::setprecision(4) << kv.second;
    out << ")\n";
  }
  if (!result.test.empty()) {
    out << "  test:";
    for (const auto& kv : result.test) out << " " << kv.first << " " << std::setprecision(4) << kv.second;
    out << "\n";
  }
  out << "  run directory: " << result.run_dir << " (config.toml, metrics.jsonl, result.json)\n";
}

}  // namespace attnd::cli
