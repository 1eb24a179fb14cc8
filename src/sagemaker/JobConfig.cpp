#include "sagemaker/JobConfig.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "ringtrain/util/Error.h"
#include "sagemaker/FrameworkSettings.h"

namespace ringtrain::sagemaker {
namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json parseObject(const std::string& text, const std::string& origin) {
  ordered_json parsed;
  try {
    parsed = ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    throw UserError(origin + " is not JSON: " + error.what());
  }
  RINGTRAIN_USER_CHECK(parsed.is_object(), origin << " must hold a JSON object");
  return parsed;
}

std::string scalarText(const ordered_json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  return value.dump();
}

// Python's str() of a list uses single quotes; of True/False capitals.
std::string pythonToJson(std::string text) {
  std::replace(text.begin(), text.end(), '\'', '"');
  return text;
}

std::string normalise(const std::string& name, const std::string& raw, const std::string& origin) {
  if (raw == "True" || raw == "False") return raw == "True" ? "true" : "false";
  ordered_json value;
  bool parsed = false;
  for (const std::string& candidate : {raw, pythonToJson(raw)}) {
    try {
      value = ordered_json::parse(candidate);
      parsed = true;
      break;
    } catch (const nlohmann::json::parse_error&) {
    }
  }
  if (!parsed) return raw;
  if (value.is_array()) {
    std::string joined;
    for (const ordered_json& item : value) {
      RINGTRAIN_USER_CHECK(!item.is_array() && !item.is_object() && !item.is_null(),
                           origin << ": hyperparameter '" << name
                                  << "' is a list of something other than numbers and strings");
      joined += (joined.empty() ? "" : ",") + scalarText(item);
    }
    return joined;
  }
  RINGTRAIN_USER_CHECK(!value.is_object() && !value.is_null(),
                       origin << ": hyperparameter '" << name << "' must be a number, a string, "
                              << "a boolean or a list, not " << raw);
  // A number as written: "1.10" and "1e3" are not "1.1" and "1000.0" to a flag that takes text.
  return value.is_number() ? raw : scalarText(value);
}

const ordered_json& member(const ordered_json& object, const char* key, const std::string& origin) {
  const auto found = object.find(key);
  RINGTRAIN_USER_CHECK(found != object.end(), origin << " has no \"" << key << "\"");
  return *found;
}

}  // namespace

std::string sagemakerRoot() {
  for (const char* variable : {"RINGTRAIN_SAGEMAKER_ROOT", "SAGEMAKER_BASE_DIR"}) {
    const char* value = std::getenv(variable);
    if (value && *value) return value;
  }
  return "/opt/ml";
}

std::vector<Hyperparameter> parseHyperparameters(const std::string& text,
                                                 const std::string& origin) {
  std::vector<Hyperparameter> parameters;
  const ordered_json object = parseObject(text, origin);
  for (const auto& [name, value] : object.items()) {
    if (name == "_tuning_objective_metric") continue;
    if (isFrameworkHyperparameter(name) || name == "mp_parameters") {
      // SageMaker's own (mp_parameters is the SDK's JSON object for model parallelism): a value
      // ringtrain does not understand must not fail the job here. planLaunch decides.
      const std::string raw = value.is_string() ? value.get<std::string>() : value.dump();
      try {
        parameters.push_back({name, normalise(name, raw, origin)});
      } catch (const UserError&) {
        parameters.push_back({name, raw});
      }
      continue;
    }
    RINGTRAIN_USER_CHECK(value.is_string(), origin << ": hyperparameter '" << name
                                                   << "' is not a string (SageMaker stores "
                                                      "every value as a string)");
    parameters.push_back({name, normalise(name, value.get<std::string>(), origin)});
  }
  return parameters;
}

ResourceConfig parseResourceConfig(const std::string& text, const std::string& origin) {
  const ordered_json object = parseObject(text, origin);
  ResourceConfig config;
  const ordered_json& current = member(object, "current_host", origin);
  RINGTRAIN_USER_CHECK(current.is_string() && !current.get<std::string>().empty(),
                       origin << ": \"current_host\" must be a host name");
  config.currentHost = current.get<std::string>();
  const ordered_json& hosts = member(object, "hosts", origin);
  RINGTRAIN_USER_CHECK(hosts.is_array() && !hosts.empty(),
                       origin << ": \"hosts\" must be a list of host names");
  for (const ordered_json& host : hosts) {
    RINGTRAIN_USER_CHECK(host.is_string() && !host.get<std::string>().empty(),
                         origin << ": \"hosts\" holds something that is not a host name");
    config.hosts.push_back(host.get<std::string>());
  }
  std::sort(config.hosts.begin(), config.hosts.end());
  RINGTRAIN_USER_CHECK(
      std::adjacent_find(config.hosts.begin(), config.hosts.end()) == config.hosts.end(),
      origin << ": \"hosts\" names a host twice");
  RINGTRAIN_USER_CHECK(
      std::find(config.hosts.begin(), config.hosts.end(), config.currentHost) != config.hosts.end(),
      origin << ": \"current_host\" " << config.currentHost << " is not among \"hosts\"");
  if (const auto found = object.find("network_interface_name");
      found != object.end() && found->is_string() && !found->get<std::string>().empty()) {
    config.networkInterface = found->get<std::string>();
  }
  if (const auto found = object.find("current_instance_type");
      found != object.end() && found->is_string()) {
    config.instanceType = found->get<std::string>();
  }
  return config;
}

std::vector<Channel> parseInputDataConfig(const std::string& text, const std::string& origin) {
  std::vector<Channel> channels;
  const ordered_json object = parseObject(text, origin);
  for (const auto& [name, settings] : object.items()) {
    RINGTRAIN_USER_CHECK(settings.is_object(),
                         origin << ": channel '" << name << "' must be a JSON object");
    Channel channel;
    channel.name = name;
    const std::string mode = settings.value("TrainingInputMode", "File");
    if (mode == "Pipe") {
      channel.mode = InputMode::kPipe;
    } else if (mode == "FastFile") {
      channel.mode = InputMode::kFastFile;
    } else {
      RINGTRAIN_USER_CHECK(mode == "File", origin << ": channel '" << name
                                                  << "' has TrainingInputMode '" << mode
                                                  << "' (File, FastFile or Pipe)");
    }
    const std::string distribution = settings.value("S3DistributionType", "FullyReplicated");
    if (distribution == "ShardedByS3Key") {
      channel.distribution = Distribution::kShardedByS3Key;
    } else {
      RINGTRAIN_USER_CHECK(distribution == "FullyReplicated",
                           origin << ": channel '" << name << "' has S3DistributionType '"
                                  << distribution << "' (FullyReplicated or ShardedByS3Key)");
    }
    channels.push_back(channel);
  }
  return channels;
}

}  // namespace ringtrain::sagemaker
