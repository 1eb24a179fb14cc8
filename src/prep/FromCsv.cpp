#include <fstream>
#include <memory>

#include "Converters.h"
#include "InputFiles.h"
#include "data/CsvReader.h"
#include "data/ShardWriter.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::prep {

data::DatasetIndex fromCsv(const PrepOptions& options) {
  const std::vector<std::string> files = inputFiles(options.input, ".csv");
  ProgressThroughFiles progress(options, files);
  data::CsvRowParser parser(options.csv);
  std::unique_ptr<data::ShardWriter> writer;  // made at the first row, which gives the width
  constexpr size_t kRowsPerChunk = 4096;
  std::vector<float> features;
  std::vector<int64_t> labels;
  const auto flush = [&] {
    if (labels.empty()) return;
    writer->append(features.data(), labels.data(), static_cast<int64_t>(labels.size()));
    features.clear();
    labels.clear();
  };
  for (size_t i = 0; i < files.size(); ++i) {
    std::ifstream input(files[i]);
    RINGTRAIN_USER_CHECK(input, "cannot read " << files[i]);
    progress.startFile(i);
    parser.parse(input, files[i], [&](const std::vector<float>& row, int64_t label) {
      if (!writer) {
        data::ShardLayout layout;
        layout.sampleShape = {static_cast<int64_t>(row.size())};
        layout.featureStatistics = true;
        writer = std::make_unique<data::ShardWriter>(options.output, layout, options.shardBytes,
                                                     options.overwrite);
      }
      features.insert(features.end(), row.begin(), row.end());
      labels.push_back(label);
      if (labels.size() == kRowsPerChunk) {
        flush();
        progress.at(static_cast<uint64_t>(input.tellg()));
      }
    });
  }
  RINGTRAIN_USER_CHECK(writer, options.input << ": no data rows");
  flush();
  progress.done();
  return writer->finish({options.input, "csv", options.numClasses, std::nullopt});
}

}  // namespace ringtrain::prep
