// CSV data sets: the first byte picks the options (header line, label column), the rest is the
// file.
#include <sstream>

#include "FuzzInput.h"
#include "data/CsvReader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ringtrain::data::CsvOptions options;
  options.header = (data[0] & 1) != 0;
  options.labelColumn = (data[0] >> 1) & 7;
  std::istringstream input(ringtrain::fuzz::asText(data + 1, size - 1));
  ringtrain::fuzz::expectParsedOrRejected(
      [&] { ringtrain::data::parseCsv(input, "fuzz.csv", options); });
  return 0;
}
