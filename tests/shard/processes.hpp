// Runs work in several forked processes at once (each with its own Database,
// as separate application processes would) and says whether all succeeded.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <vector>

namespace plexus::test {

/// Forks `n` processes running `work(p)` (p = 0 … n-1); an exception in one
/// is printed with its number. True when every process exited cleanly.
inline bool in_processes(int n, const std::function<void(int)>& work) {
  std::vector<pid_t> children;
  for (int p = 0; p < n; ++p) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      int code = 0;
      try {
        work(p);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        code = 1;
      }
      ::_exit(code);
    }
    children.push_back(pid);
  }
  bool all = true;
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    all = all && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  return all;
}

}  // namespace plexus::test
