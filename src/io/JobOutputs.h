// How a job ends, written one way for `ringtrain train`, `eval`, `kmeans` and `pca`: its summary
// as JSON (replaced atomically, so that a reader never sees half of one), a final line with the
// figures that matter most, and a line listing the files it wrote:
//   done: samples=178 clusters=3 cost=1234.5 ...
//   artifacts: runs/kmeans/centres.safetensors runs/kmeans/summary.json
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ringtrain::io {

// "key=value key=value" of a flat JSON object, numbers with up to 6 significant digits.
std::string formatKeyValues(const nlohmann::ordered_json& entry);

struct JobOutputs {
  std::string summaryPath;  // where the summary goes; empty: the job keeps no summary
  nlohmann::ordered_json summary;
  nlohmann::ordered_json figures;      // the "done:" line's, a few of the summary's
  std::vector<std::string> artifacts;  // the other files the job wrote, in the order written
};

// Writes the summary, then passes the "done:" line and (when the job wrote any file) the
// "artifacts:" line, the summary last, to `say`: rank 0's log, or a command's own prefix.
void finishJob(const JobOutputs& outputs, const std::function<void(const std::string&)>& say);

}  // namespace ringtrain::io
