// What SageMaker tells a training container, read from <root>/input/config/: the hyperparameters
// (hyperparameters.json), the cluster (resourceconfig.json) and the data channels
// (inputdataconfig.json). Pure parsing: no processes, no MPI. Every error is a UserError naming the
// file and the key, because its text becomes the job's failure reason.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ringtrain::sagemaker {

// The SageMaker root: $RINGTRAIN_SAGEMAKER_ROOT, else $SAGEMAKER_BASE_DIR, else /opt/ml.
std::string sagemakerRoot();

// A hyperparameter's value as text the trainer's flags take. SageMaker stores every value as a
// string, written by the client in one of several ways: raw ("0.1", "adamw"), JSON ("\"adamw\"",
// "true", "[512, 256]") or Python's str() ("True", "['a', 'b']"). Strings are unwrapped, booleans
// become "true"/"false", numbers keep their text, and lists of scalars become "a,b,c" (the form of
// --hidden).
struct Hyperparameter {
  std::string name;   // as written
  std::string value;  // normalised as above
};

// Parses hyperparameters.json (`origin` names it in errors), in the file's order. Keys starting
// with "sagemaker_" are written by SageMaker's framework estimators (FrameworkSettings.h reads
// them): they are kept, normalised where they can be and as written where not, never an error;
// so is "mp_parameters", a JSON object the SDK writes for its model parallel library.
// "_tuning_objective_metric" (automatic model tuning's) is left out.
std::vector<Hyperparameter> parseHyperparameters(const std::string& text,
                                                 const std::string& origin);

struct ResourceConfig {
  std::string currentHost;
  std::vector<std::string> hosts;  // sorted, as every host sorts them: hosts[0] is the master
  std::string networkInterface = "eth0";
  std::string instanceType;  // empty when absent

  bool master() const { return !hosts.empty() && hosts.front() == currentHost; }
};
ResourceConfig parseResourceConfig(const std::string& text, const std::string& origin);

enum class InputMode { kFile, kFastFile, kPipe };
enum class Distribution { kFullyReplicated, kShardedByS3Key };
struct Channel {
  std::string name;
  InputMode mode = InputMode::kFile;
  Distribution distribution = Distribution::kFullyReplicated;
};
std::vector<Channel> parseInputDataConfig(const std::string& text, const std::string& origin);

}  // namespace ringtrain::sagemaker
