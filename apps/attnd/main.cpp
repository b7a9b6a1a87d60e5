// attnd: one binary, one verb per file (cmd_<verb>.cpp). Exit codes: 0 ok, 2 bad usage or input,
// 1 a failure while running. Never a stack trace for bad input.
#include <torch/torch.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "attnd/core/error.h"
#include "commands.h"
#include "version_info.h"

namespace {

// The methods and the verbs that run them. The banner names a method only when all of its verbs
// are registered below, so it cannot promise one that is not there (issue 17); test_cli checks the
// banner against the subcommand list and the cmd_<verb>.cpp files.
struct Method {
  const char* name;
  std::vector<std::string> verbs;
};
const Method kMethods[] = {{"Hedgehog", {"linearize"}},
                           {"attention transfer", {"transfer"}},
                           {"MBTSAD backdoor removal", {"attack", "purify"}},
                           {"KS-DETR detection", {"detect"}}};

bool registered(const CLI::App& app, const std::string& verb) {
  const auto subs = app.get_subcommands([](const CLI::App*) { return true; });
  return std::any_of(subs.begin(), subs.end(), [&](const CLI::App* s) { return s->get_name() == verb; });
}

std::string banner(const CLI::App& app) {
  std::string text = "attnd: attention distillation toolkit on LibTorch";
  const char* sep = " — ";
  for (const auto& m : kMethods) {
    std::string verbs;
    bool all = true;
    for (const auto& v : m.verbs) {
      all = all && registered(app, v);
      verbs += (verbs.empty() ? "" : ", ") + v;
    }
    if (!all) continue;
    text += sep + std::string(m.name) + " (" + verbs + ")";
    sep = ", ";
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // Keep freed tensor memory in the heap: with glibc's defaults every training step returns its
  // large buffers to the OS and page-faults them back in (measured 2.5x slower; docs/results/engine.md).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
  CLI::App app{"", "attnd"};
  app.require_subcommand(0, 1);
  bool version = false;
  app.add_flag("--version", version, "print attnd, LibTorch and BLAS versions and thread counts");
  attnd::cli::add_train_command(app);
  attnd::cli::add_distill_command(app);
  attnd::cli::add_transfer_command(app);
  attnd::cli::add_linearize_command(app);
  attnd::cli::add_attack_command(app);
  attnd::cli::add_purify_command(app);
  attnd::cli::add_detect_command(app);
  attnd::cli::add_eval_command(app);
  attnd::cli::add_predict_command(app);
  attnd::cli::add_attn_command(app);
  attnd::cli::add_info_command(app);
  attnd::cli::add_tokenize_command(app);
  attnd::cli::add_generate_command(app);
  attnd::cli::add_demo_command(app);
  app.description(banner(app));
  app.footer("Run 'attnd <verb> --help' for a verb's options. 'make demo' runs 'attnd demo'.");
  try {
    app.parse(argc, argv);
    if (version) {
      std::cout << attnd::cli::version_text();
      return 0;
    }
    if (app.get_subcommands().empty()) {
      std::cout << app.help();
      return 2;
    }
  } catch (const CLI::ParseError& e) {
    // --help and --version land here too with exit code 0.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const attnd::InputError& e) {
    std::fprintf(stderr, "attnd: error: %s\n", e.what());
    return 2;
  } catch (const attnd::Error& e) {
    std::fprintf(stderr, "attnd: failed: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "attnd: failed: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnd: failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
