#include "sagemaker/Supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>

#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::sagemaker {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> stopSignal{0};
void recordStop(int signal) {
  stopSignal = signal;
}

constexpr size_t kTailBytes = 8192;
// After the command has exited, what its children still write is read for at most this long.
constexpr std::chrono::seconds kDrain{5};
constexpr size_t kFailureCharacters = 1024;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

int millisecondsUntil(Clock::time_point when) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(when - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

int exitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

bool reportsError(const std::string& line) {
  std::string lower(line);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("error") != std::string::npos;
}

// mpirun --tag-output puts "[1,3]<stderr>:" before a rank's lines.
std::string untagged(std::string line) {
  if (!line.empty() && line.front() == '[') {
    const auto tag = line.find("]<stderr>:");
    if (tag != std::string::npos) line.erase(0, tag + 10);
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

void replaceProcess(const std::vector<std::string>& command) {
  std::vector<char*> argv;
  for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  dprintf(STDERR_FILENO, "error: cannot start %s: %s\n", argv[0], std::strerror(errno));
  _exit(127);
}

void installStopFlag() {
  struct sigaction action {};
  action.sa_handler = recordStop;
  sigemptyset(&action.sa_mask);
  for (const int signal : {SIGTERM, SIGINT}) sigaction(signal, &action, nullptr);
}

bool stopRequested() {
  return stopSignal != 0;
}

Outcome supervise(const std::vector<std::string>& command, const StopTimings& timings) {
  RINGTRAIN_CHECK(!command.empty(), "nothing to run");
  sigset_t handled;
  sigemptyset(&handled);
  for (const int signal : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&handled, signal);
  sigset_t previous;
  check(sigprocmask(SIG_BLOCK, &handled, &previous) == 0, "sigprocmask");
  const int signals = signalfd(-1, &handled, SFD_CLOEXEC);
  check(signals >= 0, "signalfd");
  int errors[2];
  check(pipe2(errors, O_CLOEXEC) == 0, "pipe");

  const pid_t child = fork();
  check(child >= 0, "fork");
  if (child == 0) {
    // A group of its own, so that a last SIGKILL reaches every process it started.
    setpgid(0, 0);
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    dup2(errors[1], STDERR_FILENO);
    replaceProcess(command);
  }
  setpgid(child, child);
  close(errors[1]);

  Outcome outcome;
  std::optional<Clock::time_point> stopSince;
  std::optional<Clock::time_point> drainUntil;
  bool terminated = false;
  bool killed = false;
  bool exited = false;
  bool reading = true;
  while (!exited || reading) {
    int timeout = -1;
    if (stopSince && !exited && !killed) {
      timeout = millisecondsUntil(*stopSince + (terminated ? timings.forceful : timings.graceful));
    }
    if (drainUntil) timeout = millisecondsUntil(*drainUntil);
    pollfd watched[2] = {{signals, POLLIN, 0}, {errors[0], POLLIN, 0}};
    const int ready = poll(watched, reading ? 2 : 1, timeout);
    check(ready >= 0 || errno == EINTR, "poll");

    if (reading && (watched[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buffer[4096];
      const ssize_t got = read(errors[0], buffer, sizeof buffer);
      if (got <= 0) {
        reading = false;
      } else {
        ssize_t written = 0;
        while (written < got) {
          const ssize_t n = write(STDERR_FILENO, buffer + written, got - written);
          if (n <= 0) break;
          written += n;
        }
        outcome.stderrTail.append(buffer, got);
        if (outcome.stderrTail.size() > kTailBytes) {
          outcome.stderrTail.erase(0, outcome.stderrTail.size() - kTailBytes);
        }
      }
    }
    if (watched[0].revents & POLLIN) {
      signalfd_siginfo info;
      if (read(signals, &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGCHLD) {
          // Every child is reaped: PID 1 of a container inherits orphans.
          int status = 0;
          for (pid_t done; (done = waitpid(-1, &status, WNOHANG)) > 0;) {
            if (done == child) {
              exited = true;
              outcome.exitCode = exitCodeOf(status);
              drainUntil = Clock::now() + kDrain;
            }
          }
        } else if (!stopSince && !exited) {
          stopSince = Clock::now();
          outcome.stopRequested = true;
          kill(child, SIGUSR1);
        }
      }
    }
    if (stopSince && !exited) {
      const auto waited = Clock::now() - *stopSince;
      if (!terminated && waited >= timings.graceful) {
        terminated = true;
        kill(child, SIGTERM);
      }
      if (!killed && waited >= timings.forceful) {
        killed = true;
        kill(-child, SIGKILL);
      }
    }
    if (drainUntil && Clock::now() >= *drainUntil) reading = false;
  }
  close(errors[0]);
  close(signals);
  sigprocmask(SIG_SETMASK, &previous, nullptr);
  return outcome;
}

std::string failureReason(const Outcome& outcome) {
  std::vector<std::string> lines;
  size_t start = 0;
  const std::string& tail = outcome.stderrTail;
  while (start < tail.size()) {
    const size_t end = std::min(tail.find('\n', start), tail.size());
    lines.push_back(untagged(tail.substr(start, end - start)));
    start = end + 1;
  }
  // The first error reported is the cause; what follows is usually its consequences.
  for (const std::string& line : lines) {
    if (reportsError(line)) return line;
  }
  std::string reason = "training exited with status " + std::to_string(outcome.exitCode);
  if (outcome.exitCode > 128) reason += " (signal " + std::to_string(outcome.exitCode - 128) + ")";
  // mpirun's own account of a rank that died without a word.
  for (auto line = lines.rbegin(); line != lines.rend(); ++line) {
    if (line->find("noticed that process rank") != std::string::npos) return reason + ": " + *line;
  }
  return reason;
}

void writeFailure(const std::string& path, const std::string& reason) {
  const auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    try {
      makeDirectories(path.substr(0, slash));
    } catch (const UserError&) {
      // Reported by the open below failing: nothing more can be done about it.
    }
  }
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return;  // already written, by whoever failed first
  const std::string text = reason.substr(0, kFailureCharacters) + "\n";
  ssize_t written = 0;
  while (written < static_cast<ssize_t>(text.size())) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n <= 0) break;
    written += n;
  }
  close(fd);
}

}  // namespace ringtrain::sagemaker
