// Running the project's programs from tests: start, wait, signal, capture.
#ifndef HERALD_TESTS_SUPPORT_PROCESS_H_
#define HERALD_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace herald::test {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int term_signal = 0;
  std::string out;
  std::string err;
};

// A child process whose stdout and stderr go to files in `dir`.
class Process {
 public:
  // Starts argv[0] (a path) with the current environment plus `env`
  // (an empty value removes the variable). Aborts the test binary if the
  // program cannot be started.
  Process(std::vector<std::string> argv, const std::filesystem::path& dir,
          std::map<std::string, std::string> env = {});
  ~Process();  // kills (SIGKILL) and reaps a child still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to `timeout`; on timeout kills with SIGKILL and reports it.
  ProcessResult Wait(std::chrono::milliseconds timeout = std::chrono::seconds(120));
  bool Running();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::filesystem::path out_path_, err_path_;
  ProcessResult result_;
};

// Runs to completion and returns what it printed.
ProcessResult RunProgram(std::vector<std::string> argv, const std::filesystem::path& dir,
                  std::map<std::string, std::string> env = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(120));

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::string ReadFile(const std::filesystem::path& path);
std::vector<std::string> ReadLines(const std::filesystem::path& path);

}  // namespace herald::test

#endif  // HERALD_TESTS_SUPPORT_PROCESS_H_
