// The hosts of a multi-instance SageMaker job meeting before mpirun starts and parting after it:
// every host runs sshd (mpirun reaches the workers through it); each worker tells the master it is
// ready, the master waits for all of them, runs mpirun, and then tells every worker the job is
// done, so no worker exits under a running rank or lingers after the job. The files that carry
// this live in each host's /tmp (or $RINGTRAIN_SAGEMAKER_SCRATCH), named after the job.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <string>
#include <vector>

#include "sagemaker/JobConfig.h"

namespace ringtrain::sagemaker {

struct ClusterTimings {
  std::chrono::seconds meet{1800};          // workers reaching the master, the master all workers
  std::chrono::seconds masterSilence{120};  // a worker gives up on a master it cannot reach
  std::chrono::seconds afterStop{110};  // a worker stopped by SIGTERM waits this long for the end
};

class Cluster {
 public:
  // `jobName` keeps the files of one job apart from another's (TRAINING_JOB_NAME).
  Cluster(ResourceConfig resources, std::string jobName, ClusterTimings timings = {});
  ~Cluster();  // stops sshd

  // Every host name resolves (SageMaker's DNS may lag at start). UserError naming the host.
  void waitForNames() const;
  // Host keys made if missing, then sshd started in the foreground as a child, accepting root
  // logins only from the addresses of the job's hosts (after waitForNames). UserError if it does
  // not stay up.
  void startSshd();

  // Master: waits until every worker has said it is ready and answers over SSH.
  void waitForWorkers() const;
  // Master: tells every worker the job ended with `exitCode`.
  void announceDone(int exitCode) const;
  // Worker: says it is ready, then waits for the master's word (or for the master to go silent,
  // or, after a stop signal, at most ClusterTimings::afterStop). Returns the container's exit code.
  int serveAsWorker() const;

 private:
  std::string readyFile(const std::string& host) const;
  std::string doneFile() const;
  bool ssh(const std::string& host, const std::string& command) const;

  ResourceConfig resources_;
  std::string jobName_;
  ClusterTimings timings_;
  mutable pid_t sshd_ = -1;  // -1 once reaped
  std::string admitted_;     // sshd's AllowUsers
};

}  // namespace ringtrain::sagemaker
