#include "launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include "attnd/core/error.h"
#include "attnd/train/distributed.h"

extern char** environ;

namespace attnd::cli {

namespace {

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "");
  }
  return "ended with wait status " + std::to_string(status);
}

// The environment of worker `rank`: this process's, with the job's variables replaced.
std::vector<std::string> worker_environment(const std::map<std::string, std::string>& job) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq != std::string::npos && job.count(entry.substr(0, eq))) continue;
    out.push_back(entry);
  }
  for (const auto& [key, value] : job) out.push_back(key + "=" + value);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Stops the workers still running: SIGTERM, and SIGKILL for those alive after a grace period.
void stop_all(std::map<pid_t, int64_t>& running) {
  for (const auto& kv : running) ::kill(kv.first, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!running.empty() && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) running.erase(pid);
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto& kv : running) ::kill(kv.first, SIGKILL);
  for (const auto& kv : running) ::waitpid(kv.first, nullptr, 0);
  running.clear();
}

}  // namespace

std::vector<std::string> worker_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t begin = 0; begin < all.size();) {
    const size_t end = all.find('\0', begin);
    args.push_back(all.substr(begin, end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  ATTND_CHECK(!out.empty(), "could not read this process's command line");
  return out;
}

void run_local_workers(int64_t nproc, const std::vector<std::string>& argv) {
  ATTND_CHECK(nproc >= 1, "nproc = ", nproc);
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  ATTND_CHECK(n > 0, "readlink /proc/self/exe: ", std::strerror(errno));
  exe[n] = '\0';
  const std::string port = std::to_string(free_loopback_port());
  const int dev_null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ATTND_CHECK(dev_null >= 0, "open /dev/null: ", std::strerror(errno));
  const pid_t parent = ::getpid();

  std::map<pid_t, int64_t> running;  // pid → rank
  for (int64_t rank = 0; rank < nproc; ++rank) {
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    auto env = worker_environment({{"RANK", std::to_string(rank)},
                                   {"LOCAL_RANK", std::to_string(rank)},
                                   {"WORLD_SIZE", std::to_string(nproc)},
                                   {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
                                   {"MASTER_ADDR", "127.0.0.1"},
                                   {"MASTER_PORT", port}});
    auto args = argv;
    auto envp = pointers(env);
    auto argp = pointers(args);
    const pid_t pid = ::fork();
    if (pid < 0) {
      const int error = errno;
      stop_all(running);
      ::close(dev_null);
      throw_error("data parallel: could not start rank ", rank, ": fork: ", std::strerror(error));
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the launcher, even a SIGKILLed one
      if (::getppid() != parent) ::_exit(1);  // the launcher died before prctl took effect
      if (rank > 0) ::dup2(dev_null, STDOUT_FILENO);
      ::execve(exe, argp.data(), envp.data());
      ::_exit(127);
    }
    running[pid] = rank;
  }
  ::close(dev_null);

  while (!running.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      stop_all(running);
      throw_error("data parallel: waiting for the workers failed: ", std::strerror(error));
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const int64_t rank = it->second;
    running.erase(it);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    // The ranks still running: when the failed one gave up waiting for the others, the one that
    // hangs is among them.
    std::string still;
    for (const auto& kv : running) still += (still.empty() ? "" : ", ") + std::to_string(kv.second);
    stop_all(running);
    const std::string what = "data parallel: rank " + std::to_string(rank) + " of " +
                             std::to_string(nproc) + " " + describe(status) +
                             "; the other ranks were stopped" +
                             (still.empty() ? std::string() : " (still running: " + still + ")");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2) throw InputError(what + " (bad input, see its message above)");
    throw Error(what + ". Rerun the command with --resume <run directory> to continue from the last "
                "checkpoint.");
  }
}

}  // namespace attnd::cli
