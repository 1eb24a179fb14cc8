// NumPy .npy headers, for a file that is the input itself.
#include "FuzzInput.h"
#include "data/NpyHeader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = ringtrain::fuzz::asText(data, size);
  ringtrain::fuzz::expectParsedOrRejected([&] {
    const ringtrain::data::NpyHeader header =
        ringtrain::data::parseNpyHeader(text, text.size(), "fuzz.npy");
    if (header.dataOffset + header.elements * header.elementBytes != text.size()) std::abort();
  });
  return 0;
}
