// How the container starts training on this host, worked out from the job's configuration alone:
// the `ringtrain train` flags (the hyperparameters, translated onto the same flags as the command
// line, plus the container's paths) and the mpirun command line the master runs. Pure: every host
// computes the same plan from the same files and environment (the master's environment decides
// for every host: hosts of one job run the same instance type).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sagemaker/JobConfig.h"

namespace ringtrain::sagemaker {

// Hyperparameters for the launcher itself, not for `ringtrain train`:
//   processes_per_host  ranks on each host (default: sagemaker_mpi_num_of_processes_per_host, else
//                       one per GPU, else 1)
//   mpi_options         extra mpirun options, split at spaces (default:
//                       sagemaker_mpi_custom_mpi_options)
// SageMaker's own keys ("sagemaker_...") are read as FrameworkSettings.h says.
// Data: the channel 'train' or 'training' (the SageMaker Python SDK's name for the data of
// `fit("s3://...")`) is --train, 'validation' is --val, unless a hyperparameter names them.
struct JobInputs {
  std::string root;  // the SageMaker root (/opt/ml)
  std::vector<Hyperparameter> hyperparameters;
  ResourceConfig resources;
  std::vector<Channel> channels;
  int gpusOnHost = 0;
  std::string trainerPath;  // the ringtrain executable, by absolute path (remote hosts too)
  std::string mpirunPath = "mpirun";
  // The gethostname() shim preloaded into the ranks of a multi-host job (sagemaker/gethostname.c);
  // empty: none.
  std::string hostnameShim;
  // The container's environment. Multi-host jobs forward NCCL's, libfabric's and the AWS OFI NCCL
  // plugin's settings (NCCL_*, FI_*, OFI_NCCL_*; NCCL_SOCKET_IFNAME is the job's network
  // interface) and LD_LIBRARY_PATH to the ranks on other hosts, which sshd starts;
  // RINGTRAIN_EFA_PLUGIN (docker/entrypoint.sh: EFA devices and a plugin that can load) makes NCCL
  // use that plugin and only it between hosts, unless the job set NCCL_NET or NCCL_NET_PLUGIN.
  std::map<std::string, std::string> environment;
  // What `ringtrain train` takes: is `flag` (without dashes) one of its flags, and is it a switch
  // (a flag without a value)?
  std::function<bool(const std::string&)> isTrainFlag;
  std::function<bool(const std::string&)> isSwitch;
};

struct LaunchPlan {
  int processesPerHost = 1;
  int ranks = 1;
  std::vector<std::string> trainArguments;  // after `ringtrain train`
  std::vector<std::string> command;         // mpirun and everything after it
  std::string modelDir;                     // <root>/model
  std::string checkpointDir;                // <root>/checkpoints
  std::string failureFile;                  // <root>/output/failure
  std::vector<std::string> warnings;        // for the job's log: what the job asks and will not get
  std::vector<std::string> notes;           // for the master's log: how the hosts' ranks talk
};

// UserError naming the hyperparameter or channel for anything the job cannot run with.
LaunchPlan planLaunch(const JobInputs& inputs);

// "batch_size" and "batch-size" both name --batch-size.
std::string flagName(const std::string& hyperparameter);

}  // namespace ringtrain::sagemaker
