// MNIST IDX files.
#include "FuzzInput.h"
#include "data/IdxReader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ringtrain::fuzz::expectParsedOrRejected(
      [&] { ringtrain::data::parseIdx(ringtrain::fuzz::asText(data, size), "fuzz-idx"); });
  return 0;
}
