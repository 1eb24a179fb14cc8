#include <algorithm>
#include <fstream>

#include "Converters.h"
#include "InputFiles.h"
#include "data/IdxReader.h"
#include "data/ShardWriter.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::prep {
namespace {

// An IDX file opened for streaming: its header parsed, the stream at the first data byte.
data::IdxHeader openIdx(std::ifstream& input, const std::string& path) {
  input.open(path, std::ios::binary);
  RINGTRAIN_USER_CHECK(input, "cannot read " << path);
  std::string start(4 + 4 * 255, '\0');
  input.read(start.data(), static_cast<std::streamsize>(start.size()));
  start.resize(static_cast<size_t>(input.gcount()));
  const data::IdxHeader header = data::parseIdxHeader(start, fileBytes(path), path);
  input.clear();
  input.seekg(static_cast<std::streamoff>(header.headerBytes));
  return header;
}

}  // namespace

data::DatasetIndex fromIdx(const PrepOptions& options) {
  const auto [imagesPath, labelsPath] = data::idxFilesOf(options.input, options.idxSplit);
  std::ifstream images;
  std::ifstream labels;
  const data::IdxHeader imageHeader = openIdx(images, imagesPath);
  const data::IdxHeader labelHeader = openIdx(labels, labelsPath);
  RINGTRAIN_USER_CHECK(imageHeader.shape.size() == 3,
                       imagesPath << ": expected [N, rows, cols] images");
  RINGTRAIN_USER_CHECK(labelHeader.shape.size() == 1,
                       labelsPath << ": expected a vector of labels");
  const int64_t count = imageHeader.shape[0];
  RINGTRAIN_USER_CHECK(count == labelHeader.shape[0],
                       imagesPath << " has " << count << " images but " << labelsPath << " has "
                                  << labelHeader.shape[0] << " labels");

  data::ShardLayout layout;
  layout.elementType = data::ElementType::kUInt8;
  layout.sampleShape = {1, imageHeader.shape[1], imageHeader.shape[2]};
  layout.featureScale = data::kIdxPixelScale;
  data::ShardWriter writer(options.output, layout, options.shardBytes, options.overwrite);
  ProgressThroughFiles progress(options, {imagesPath});
  const int64_t imageBytes = imageHeader.shape[1] * imageHeader.shape[2];
  const int64_t perChunk = std::max<int64_t>(1, (int64_t{4} << 20) / imageBytes);
  std::string pixels;
  std::string labelBytes;
  std::vector<int64_t> chunkLabels;
  for (int64_t done = 0; done < count; done += perChunk) {
    const int64_t take = std::min(perChunk, count - done);
    pixels.resize(static_cast<size_t>(take * imageBytes));
    labelBytes.resize(static_cast<size_t>(take));
    readExactly(images, pixels.data(), pixels.size(), imagesPath);
    readExactly(labels, labelBytes.data(), labelBytes.size(), labelsPath);
    chunkLabels.assign(labelBytes.begin(), labelBytes.end());
    for (int64_t& label : chunkLabels) label &= 0xff;  // the bytes are unsigned
    writer.append(pixels.data(), chunkLabels.data(), take);
    progress.at(imageHeader.headerBytes + static_cast<uint64_t>((done + take) * imageBytes));
  }
  progress.done();
  return writer.finish({options.input, "idx", options.numClasses, std::nullopt});
}

}  // namespace ringtrain::prep
