#include "ringtrain/sagemaker/Cluster.h"

#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>

#include "ringtrain/util/Error.h"
#include "ringtrain/util/Files.h"

namespace ringtrain::sagemaker {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

std::atomic<int> stopSignal{0};
void recordStop(int signal) {
  stopSignal = signal;
}

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
    std::vector<char*> argv;
    for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void log(const std::string& line) {
  std::cout << "ringtrain sagemaker: " << line << std::endl;
}

}  // namespace

Cluster::Cluster(ResourceConfig resources, std::string jobName, ClusterTimings timings)
    : resources_(std::move(resources)), jobName_(std::move(jobName)), timings_(timings) {
  struct sigaction action {};
  action.sa_handler = recordStop;
  sigemptyset(&action.sa_mask);
  for (const int signal : {SIGTERM, SIGINT}) sigaction(signal, &action, nullptr);
}

Cluster::~Cluster() {
  if (sshd_ <= 0) return;
  kill(sshd_, SIGTERM);
  waitpid(sshd_, nullptr, 0);
}

std::string Cluster::readyFile(const std::string& host) const {
  return "/tmp/ringtrain-" + jobName_ + "-ready-" + host;
}

std::string Cluster::doneFile() const {
  return "/tmp/ringtrain-" + jobName_ + "-done";
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
  sshd_ = fork();
  RINGTRAIN_CHECK(sshd_ >= 0, "fork: " << std::strerror(errno));
  if (sshd_ == 0) {
    // sshd re-executes itself for every connection, by the path it was started with.
    execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-o", "LogLevel=ERROR",
          static_cast<char*>(nullptr));
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
      std::this_thread::sleep_for(pause);
    }
  }
}

void Cluster::waitForWorkers() const {
  const auto deadline = Clock::now() + timings_.meet;
  for (const std::string& worker : resources_.hosts) {
    if (worker == resources_.currentHost) continue;
    while (!(pathExists(readyFile(worker)) && ssh(worker, "true"))) {
      RINGTRAIN_USER_CHECK(Clock::now() < deadline, "host " << worker
                                                            << " did not join the job within "
                                                            << timings_.meet.count() << " s");
      RINGTRAIN_USER_CHECK(stopSignal == 0, "stopped before training started");
      std::this_thread::sleep_for(seconds(1));
    }
    log("host " + worker + " is ready");
  }
}

void Cluster::announceDone(int exitCode) const {
  for (const std::string& worker : resources_.hosts) {
    if (worker == resources_.currentHost) continue;
    bool told = false;
    for (int attempt = 0; attempt < 5 && !told; ++attempt) {
      told = ssh(worker, "echo " + std::to_string(exitCode) + " > " + doneFile());
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
    if (stopSignal != 0) return 0;
    std::this_thread::sleep_for(seconds(1));
  }
  log("joined the job of master " + master + "; waiting for it to finish");
  auto lastHeard = Clock::now();
  auto lastAsked = Clock::now();
  std::optional<Clock::time_point> stoppedAt;
  while (!pathExists(doneFile())) {
    std::this_thread::sleep_for(seconds(1));
    if (stopSignal != 0 && !stoppedAt) stoppedAt = Clock::now();
    // Stopped: orted and the ranks it runs stay for the master's graceful stop.
    if (stoppedAt && Clock::now() - *stoppedAt > timings_.afterStop) return 0;
    if (Clock::now() - lastAsked >= seconds(30)) {
      lastAsked = Clock::now();
      if (ssh(master, "true")) lastHeard = lastAsked;
    }
    RINGTRAIN_USER_CHECK(Clock::now() - lastHeard < timings_.masterSilence,
                         "the master host " << master << " stopped answering");
  }
  log("the master reported the end of the job: " + readFile(doneFile()).substr(0, 16));
  return 0;
}

}  // namespace ringtrain::sagemaker
