#include "sagemaker/Cluster.h"

#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>

#include "ringtrain/util/Error.h"
#include "sagemaker/Supervisor.h"
#include "util/Files.h"

namespace ringtrain::sagemaker {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

// Runs `command` with its output discarded (unless `verbose`), and returns its exit status.
int run(const std::vector<std::string>& command, bool verbose = false) {
  const pid_t child = fork();
  if (child < 0) return 127;
  if (child == 0) {
    if (!verbose) {
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
    }
    replaceProcess(command);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void log(const std::string& line) {
  std::cout << "ringtrain sagemaker: " << line << std::endl;
}

// Every address `host` resolves to, numeric.
std::vector<std::string> addressesOf(const std::string& host) {
  std::vector<std::string> addresses;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return addresses;
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    char text[NI_MAXHOST];
    // Not a link-local address with its zone (fe80::1%eth0), which sshd's patterns do not take.
    if (getnameinfo(entry->ai_addr, entry->ai_addrlen, text, sizeof text, nullptr, 0,
                    NI_NUMERICHOST) == 0 &&
        std::strchr(text, '%') == nullptr &&
        std::find(addresses.begin(), addresses.end(), text) == addresses.end()) {
      addresses.emplace_back(text);
    }
  }
  freeaddrinfo(found);
  return addresses;
}

// sshd's AllowUsers value that admits root from `addresses` only: the image's key pair is the
// same in every container made from it, so the key alone must not open a job's hosts to anyone
// in the network who has the image.
std::string jobOnlyLogins(const std::vector<std::string>& addresses) {
  std::string logins;
  for (const std::string& address : addresses) {
    logins += (logins.empty() ? "root@" : " root@") + address;
  }
  return logins;
}

}  // namespace

Cluster::Cluster(ResourceConfig resources, std::string jobName, ClusterTimings timings)
    : resources_(std::move(resources)), jobName_(std::move(jobName)), timings_(timings) {}

Cluster::~Cluster() {
  // Not if it was reaped already (supervise() reaps every child): the pid may be another's now.
  if (sshd_ <= 0 || waitpid(sshd_, nullptr, WNOHANG) != 0) return;
  kill(sshd_, SIGTERM);
  waitpid(sshd_, nullptr, 0);
}

// Each host's own scratch directory, by the same path on every host: /tmp, or
// $RINGTRAIN_SAGEMAKER_SCRATCH (the emulated hosts of the tests).
std::string scratchDirectory() {
  const char* directory = std::getenv("RINGTRAIN_SAGEMAKER_SCRATCH");
  return directory && *directory ? directory : "/tmp";
}

std::string Cluster::readyFile(const std::string& host) const {
  return scratchDirectory() + "/ringtrain-" + jobName_ + "-ready-" + host;
}

std::string Cluster::doneFile() const {
  return scratchDirectory() + "/ringtrain-" + jobName_ + "-done";
}

bool Cluster::ssh(const std::string& host, const std::string& command) const {
  return run({"ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o",
              "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
              "LogLevel=ERROR", host, command}) == 0;
}

void Cluster::startSshd() {
  // Host keys are made per container: every host runs the same image.
  run({"ssh-keygen", "-A"});
  makeDirectories("/run/sshd");
  std::vector<std::string> addresses;
  for (const std::string& host : resources_.hosts) {
    for (const std::string& address : addressesOf(host)) addresses.push_back(address);
  }
  RINGTRAIN_CHECK(!addresses.empty(), "no address for the job's hosts");
  admitted_ = jobOnlyLogins(addresses);
  const std::string allowUsers = "AllowUsers=" + admitted_;
  sshd_ = fork();
  RINGTRAIN_CHECK(sshd_ >= 0, "fork: " << std::strerror(errno));
  if (sshd_ == 0) {
    // sshd re-executes itself for every connection, by the path it was started with.
    execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-o", "LogLevel=ERROR", "-o",
          allowUsers.c_str(), static_cast<char*>(nullptr));
    std::perror("ringtrain sagemaker: cannot start /usr/sbin/sshd");
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int status = 0;
  if (waitpid(sshd_, &status, WNOHANG) == sshd_) {
    sshd_ = -1;
    throw UserError("sshd exited at start (status " + std::to_string(WEXITSTATUS(status)) +
                    "): the hosts of a job reach each other through it");
  }
}

void Cluster::waitForNames() const {
  const auto deadline = Clock::now() + timings_.meet;
  for (const std::string& host : resources_.hosts) {
    for (auto pause = std::chrono::milliseconds(100);;
         pause = std::min(pause * 2, std::chrono::milliseconds(30000))) {
      addrinfo* found = nullptr;
      if (getaddrinfo(host.c_str(), nullptr, nullptr, &found) == 0) {
        freeaddrinfo(found);
        break;
      }
      RINGTRAIN_USER_CHECK(Clock::now() < deadline,
                           "host " << host << " of the job never resolved");
      if (stopRequested()) return;
      std::this_thread::sleep_for(pause);
    }
  }
}

void Cluster::waitForWorkers() const {
  const auto deadline = Clock::now() + timings_.meet;
  for (const std::string& worker : resources_.hosts) {
    if (worker == resources_.currentHost) continue;
    while (!(pathExists(readyFile(worker)) && ssh(worker, "true"))) {
      RINGTRAIN_USER_CHECK(
          Clock::now() < deadline,
          "host " << worker << " did not join the job within " << timings_.meet.count()
                  << " s (sshd admits root only from the job's addresses: " << admitted_ << ")");
      if (stopRequested()) return;  // the caller sees it and does not start training
      std::this_thread::sleep_for(seconds(1));
    }
    log("host " + worker + " is ready");
  }
}

void Cluster::announceDone(int exitCode) const {
  // After a stop, SageMaker's SIGKILL is near: one try each.
  const int attempts = stopRequested() ? 1 : 5;
  const std::string file = doneFile();
  for (const std::string& worker : resources_.hosts) {
    if (worker == resources_.currentHost) continue;
    bool told = false;
    for (int attempt = 0; attempt < attempts && !told; ++attempt) {
      // Complete or absent: the worker never reads a file half written.
      told = ssh(worker, "echo " + std::to_string(exitCode) + " > " + file + ".tmp && mv " + file +
                             ".tmp " + file);
      if (!told) std::this_thread::sleep_for(seconds(2));
    }
    if (!told) log("could not tell host " + worker + " that the job is done");
  }
}

int Cluster::serveAsWorker() const {
  ::unlink(doneFile().c_str());
  const std::string& master = resources_.hosts.front();
  const auto deadline = Clock::now() + timings_.meet;
  while (!ssh(master, "touch " + readyFile(resources_.currentHost))) {
    RINGTRAIN_USER_CHECK(Clock::now() < deadline, "the master host "
                                                      << master << " could not be reached within "
                                                      << timings_.meet.count() << " s");
    if (stopRequested()) return 0;
    std::this_thread::sleep_for(seconds(1));
  }
  log("joined the job of master " + master + "; waiting for it to finish");
  auto lastHeard = Clock::now();
  auto lastAsked = Clock::now();
  std::optional<Clock::time_point> stoppedAt;
  while (!pathExists(doneFile())) {
    std::this_thread::sleep_for(seconds(1));
    // PID 1 inherits the orphans of ranks and daemons; sshd stays.
    for (pid_t done; (done = waitpid(-1, nullptr, WNOHANG)) > 0;) {
      if (done == sshd_) sshd_ = -1;
    }
    if (stopRequested() && !stoppedAt) stoppedAt = Clock::now();
    // Stopped: orted and the ranks it runs stay for the master's graceful stop.
    if (stoppedAt && Clock::now() - *stoppedAt > timings_.afterStop) return 0;
    if (Clock::now() - lastAsked >= seconds(30)) {
      lastAsked = Clock::now();
      if (ssh(master, "true")) lastHeard = lastAsked;
    }
    // The job's outcome is the master's to report: a worker that loses it just leaves.
    if (Clock::now() - lastHeard >= timings_.masterSilence) {
      log("the master host " + master + " stopped answering; leaving");
      return 0;
    }
  }
  log("the master reported the end of the job: " + readFile(doneFile()).substr(0, 16));
  return 0;
}

}  // namespace ringtrain::sagemaker
