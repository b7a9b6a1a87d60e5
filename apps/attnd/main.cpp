// attnd: one binary, one verb per file (cmd_<verb>.cpp). Exit codes: 0 ok, 2 bad usage or input,
// 1 a failure while running. Never a stack trace for bad input.
#include <torch/torch.h>

#include <climits>
#include <cstdio>
#include <iostream>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "attnd/core/error.h"
#include "commands.h"
#include "version_info.h"

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // Keep freed tensor memory in the heap: with glibc's defaults every training step returns its
  // large buffers to the OS and page-faults them back in (measured 2.5x slower; docs/results/engine.md).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
  CLI::App app{"attnd: attention distillation toolkit on LibTorch — Hedgehog (linearize), "
               "attention transfer (transfer), MBTSAD backdoor removal (attack, purify), KS-DETR detection "
               "(detect)",
               "attnd"};
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
  attnd::cli::add_attn_command(app);
  attnd::cli::add_info_command(app);
  attnd::cli::add_generate_command(app);
  attnd::cli::add_demo_command(app);
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
