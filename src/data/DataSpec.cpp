#include "DataSpec.h"

#include "data/CsvReader.h"
#include "data/IdxReader.h"
#include "data/ShardedDataset.h"
#include "ringtrain/util/Error.h"
#include "util/Files.h"
#include "util/Numbers.h"

namespace ringtrain::data {
namespace {

bool startsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

int64_t parsePositive(const std::string& field, const std::string& spec, const char* what) {
  const auto value = parseInt64(field);
  RINGTRAIN_USER_CHECK(value && *value > 0, "data spec '" << spec << "': " << what << " '" << field
                                                          << "' is not a positive integer");
  return *value;
}

SyntheticSpec parseSynthetic(const std::string& spec, const std::string& fieldsText) {
  std::vector<std::string> fields;
  for (size_t start = 0;;) {
    const size_t colon = fieldsText.find(':', start);
    fields.push_back(fieldsText.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  RINGTRAIN_USER_CHECK(fields.size() <= 3,
                       "data spec '" << spec << "': expected synthetic:N[:DIM[:CLASSES]]");
  SyntheticSpec synthetic;
  synthetic.size = parsePositive(fields[0], spec, "size");
  if (fields.size() > 1) synthetic.dim = parsePositive(fields[1], spec, "dimension");
  if (fields.size() > 2) synthetic.classes = parsePositive(fields[2], spec, "class count");
  return synthetic;
}

bool holdsIdxFiles(const std::string& directory) {
  return pathExists(directory + "/train-images-idx3-ubyte") ||
         pathExists(directory + "/t10k-images-idx3-ubyte");
}

}  // namespace

DataSpec parseDataSpec(const std::string& text) {
  RINGTRAIN_USER_CHECK(!text.empty(), "empty data spec");
  DataSpec spec;
  spec.text = text;
  const std::pair<const char*, DataFormat> prefixes[] = {{"synthetic:", DataFormat::kSynthetic},
                                                         {"csv:", DataFormat::kCsv},
                                                         {"idx:", DataFormat::kIdx},
                                                         {"shards:", DataFormat::kShards},
                                                         {"pipe:", DataFormat::kPipe}};
  for (const auto& [prefix, format] : prefixes) {
    if (!startsWith(text, prefix)) continue;
    spec.format = format;
    spec.location = text.substr(std::string(prefix).size());
    if (format == DataFormat::kSynthetic) {
      spec.synthetic = parseSynthetic(text, spec.location);
      spec.location.clear();
    }
    return spec;
  }
  spec.location = text;
  if (isShardDirectory(text)) {
    spec.format = DataFormat::kShards;
  } else if (isDirectory(text) && holdsIdxFiles(text)) {
    spec.format = DataFormat::kIdx;
  } else {
    spec.format = DataFormat::kCsv;
  }
  return spec;
}

Dataset loadDataset(const DataSpec& spec, Split split, const LoadOptions& options) {
  switch (spec.format) {
    case DataFormat::kSynthetic: {
      Dataset dataset = makeSynthetic(spec.synthetic, options.seed, split);
      dataset.source = spec.text;
      return dataset;
    }
    case DataFormat::kCsv:
      return readCsv(spec.location, options.csv);
    case DataFormat::kIdx:
      return readIdxDirectory(spec.location, split);
    case DataFormat::kShards:
    case DataFormat::kPipe:
      break;
  }
  throw UserError("data spec '" + spec.text + "': " +
                  (spec.format == DataFormat::kPipe
                       ? "a Pipe-mode channel is streamed, by ringtrain train --train only"
                       : "a shard data set is memory-mapped, not read into memory"));
}

}  // namespace ringtrain::data
