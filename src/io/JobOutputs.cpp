#include "JobOutputs.h"

#include <iomanip>
#include <sstream>

#include "util/Files.h"

namespace ringtrain::io {

std::string formatKeyValues(const nlohmann::ordered_json& entry) {
  std::ostringstream line;
  bool first = true;
  for (const auto& [key, value] : entry.items()) {
    line << (first ? "" : " ") << key << "=";
    first = false;
    if (value.is_number_float()) {
      line << std::setprecision(6) << value.get<double>();
    } else if (value.is_string()) {
      line << value.get<std::string>();
    } else {
      line << value.dump();
    }
  }
  return line.str();
}

void finishJob(const JobOutputs& outputs, const std::function<void(const std::string&)>& say) {
  std::vector<std::string> files = outputs.artifacts;
  if (!outputs.summaryPath.empty()) {
    writeFileAtomically(outputs.summaryPath, outputs.summary.dump(2) + "\n");
    files.push_back(outputs.summaryPath);
  }
  say("done: " + formatKeyValues(outputs.figures));
  if (files.empty()) return;
  std::string list;
  for (const std::string& file : files) list += (list.empty() ? "" : " ") + file;
  say("artifacts: " + list);
}

}  // namespace ringtrain::io
