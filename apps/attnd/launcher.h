// `attnd <verb> --nproc N`: N local workers of this same binary, one data-parallel rank each,
// placed by torchrun's variables (docs/distributed.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnd::cli {

// This process's command line (/proc/self/cmdline) without its --nproc option: what each worker
// runs.
std::vector<std::string> worker_command_line();

// Runs `argv` as `nproc` workers with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1 and MASTER_PORT (a free loopback port) set; rank 0 writes to this
// process's stdout, the others' stdout goes to /dev/null (their stderr stays). Returns once all
// exited 0. When one exits non-zero or dies by a signal, the others are stopped (SIGTERM, then
// SIGKILL) and reaped, and an Error names the rank and how it ended (an InputError when it exited
// 2, bad input). A worker dies with this process (PR_SET_PDEATHSIG), so none is left behind.
void run_local_workers(int64_t nproc, const std::vector<std::string>& argv);

}  // namespace attnd::cli
