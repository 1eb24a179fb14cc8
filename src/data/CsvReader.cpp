#include "data/CsvReader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "ringtrain/util/Error.h"
#include "util/Numbers.h"

namespace ringtrain::data {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<std::string_view> splitCells(std::string_view line) {
  std::vector<std::string_view> cells;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    cells.push_back(trim(line.substr(start, comma - start)));
    if (comma == std::string_view::npos) return cells;
    start = comma + 1;
  }
}

// Columns are counted from 0, as --label-column counts them.
double parseNumber(std::string_view cell, const std::string& where, size_t column) {
  const auto value = parseDouble(cell);
  RINGTRAIN_USER_CHECK(
      value, where << ": column " << column << " (0-based): '" << cell << "' is not a number");
  RINGTRAIN_USER_CHECK(std::isfinite(*value), where << ": column " << column << " (0-based): '"
                                                    << cell << "' is not a finite number");
  return *value;
}

// The compression a file's first bytes announce, or nothing: such a file would otherwise fail as
// "not a number" on its first line. Read from that line, so that pipes work too.
const char* compressionOf(std::string_view head) {
  const auto starts = [&](std::string_view magic) { return head.substr(0, magic.size()) == magic; };
  if (starts("\x1f\x8b")) return "gzip";
  if (starts("\xfd"
             "7zXZ"))
    return "xz";
  if (starts("\x28\xb5\x2f\xfd")) return "zstd";
  if (starts("PK\x03\x04") || starts("PK\x05\x06")) return "zip";
  if (starts("BZh") && head.size() > 3 && head[3] >= '1' && head[3] <= '9') return "bzip2";
  return nullptr;
}

// A header of numbers is a data row, unless it numbers the columns (pandas writes 0,1,2,... for
// a frame without column names).
bool numbersTheColumns(const std::vector<std::string_view>& cells) {
  for (size_t first : {0, 1}) {
    bool sequence = true;
    for (size_t i = 0; i < cells.size() && sequence; ++i) {
      sequence = parseDouble(cells[i]) == static_cast<double>(first + i);
    }
    if (sequence) return true;
  }
  return false;
}

struct Rows {
  std::vector<float> features;
  std::vector<int64_t> labels;
};

}  // namespace

CsvRowParser::CsvRowParser(const CsvOptions& options) : options_(options) {
  RINGTRAIN_USER_CHECK(options.labelColumn >= 0 || options.labelColumn == kNoLabelColumn,
                       "--label-column must not be negative");
}

void CsvRowParser::parse(std::istream& input, const std::string& name, const RowHandler& onRow) {
  std::string line;
  size_t lineNumber = 0;
  const auto readLine = [&] {
    if (!std::getline(input, line)) return false;
    if (++lineNumber == 1) {
      const char* compression = compressionOf(line);
      RINGTRAIN_USER_CHECK(compression == nullptr,
                           name << " is " << compression
                                << "-compressed: ringtrain reads plain CSV text; decompress it "
                                   "first");
    }
    return true;
  };
  if (options_.header && readLine()) {
    // --csv-header applies to every file: one without a header would lose its first row.
    const auto cells = splitCells(line);
    const bool allNumbers = !trim(line).empty() && !numbersTheColumns(cells) &&
                            std::all_of(cells.begin(), cells.end(),
                                        [](auto cell) { return parseDouble(cell).has_value(); });
    RINGTRAIN_USER_CHECK(!allNumbers, name
                                          << ":1: --csv-header skips this line as a header, but it "
                                             "holds only numbers: a data row. Give --csv-header "
                                             "only when every CSV file starts with a header line");
  }
  std::vector<float> features;
  while (readLine()) {
    if (trim(line).empty()) continue;
    const std::string where = name + ":" + std::to_string(lineNumber);
    const auto cells = splitCells(line);
    if (width_ == 0) {
      const bool labelled = options_.labelColumn != kNoLabelColumn;
      RINGTRAIN_USER_CHECK(cells.size() >= (labelled ? 2u : 1u),
                           where << ": a row needs " << (labelled ? "a label and " : "")
                                 << "at least one feature, found " << cells.size() << " column");
      RINGTRAIN_USER_CHECK(!labelled || static_cast<size_t>(options_.labelColumn) < cells.size(),
                           "--label-column " << options_.labelColumn << " is outside the "
                                             << cells.size() << " columns (0.." << cells.size() - 1
                                             << ") of " << where);
      width_ = cells.size();
      widthSource_ = where;
    }
    RINGTRAIN_USER_CHECK(cells.size() == width_, where << ": expected " << width_
                                                       << " columns (as on " << widthSource_
                                                       << "), found " << cells.size());
    features.clear();
    int64_t label = 0;
    for (size_t column = 0; column < cells.size(); ++column) {
      const double value = parseNumber(cells[column], where, column);
      if (column == static_cast<size_t>(options_.labelColumn)) {
        RINGTRAIN_USER_CHECK(
            value >= 0 && value == std::floor(value) && value < 1e9,
            where << ": label '" << cells[column] << "' is not a whole non-negative number");
        label = static_cast<int64_t>(value);
      } else {
        features.push_back(static_cast<float>(value));
      }
    }
    place_ = where;
    onRow(features, label);
  }
  RINGTRAIN_USER_CHECK(!input.bad(), "cannot read " << name);
}

std::vector<std::string> csvFiles(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  RINGTRAIN_USER_CHECK(fs::exists(path, error),
                       "cannot read " << path << ": no such file or directory");
  std::vector<std::string> files;
  if (!fs::is_directory(path, error)) return {path};
  for (const auto& entry : fs::directory_iterator(path, error)) {
    if (entry.path().extension() == ".csv") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  RINGTRAIN_USER_CHECK(!files.empty(), path << ": directory holds no *.csv file");
  return files;
}

namespace {

Dataset toDataset(Rows rows, size_t featureCountPerRow, const std::string& name) {
  RINGTRAIN_USER_CHECK(!rows.labels.empty(), name << ": no data rows");
  const auto count = static_cast<int64_t>(rows.labels.size());
  const auto featureCount = static_cast<int64_t>(featureCountPerRow);
  Dataset dataset;
  dataset.features = at::from_blob(rows.features.data(), {count, featureCount}, at::kFloat).clone();
  dataset.labels = at::from_blob(rows.labels.data(), {count}, at::kLong).clone();
  dataset.numClasses = *std::max_element(rows.labels.begin(), rows.labels.end()) + 1;
  dataset.source = name;
  return dataset;
}

CsvRowParser::RowHandler collectInto(Rows& rows) {
  return [&rows](const std::vector<float>& features, int64_t label) {
    rows.features.insert(rows.features.end(), features.begin(), features.end());
    rows.labels.push_back(label);
  };
}

}  // namespace

Dataset parseCsv(std::istream& input, const std::string& name, const CsvOptions& options) {
  CsvRowParser parser(options);
  Rows rows;
  parser.parse(input, name, collectInto(rows));
  return toDataset(std::move(rows), parser.featureCount(), name);
}

Dataset readCsv(const std::string& path, const CsvOptions& options) {
  CsvRowParser parser(options);
  const std::vector<std::string> files = csvFiles(path);
  Rows rows;
  for (const auto& file : files) {
    std::ifstream input(file);
    RINGTRAIN_USER_CHECK(input, "cannot read " << file);
    parser.parse(input, file, collectInto(rows));
  }
  Dataset dataset = toDataset(std::move(rows), parser.featureCount(), path);
  // Only an error asks, so the files are read again rather than a line kept for every row.
  dataset.placeOfRow = [files, options](int64_t wanted) {
    CsvRowParser again(options);
    int64_t row = 0;
    std::string place;
    for (const auto& file : files) {
      std::ifstream input(file);
      again.parse(input, file, [&](const std::vector<float>&, int64_t) {
        if (row++ == wanted) place = again.place();
      });
      if (!place.empty()) break;
    }
    return place;
  };
  return dataset;
}

}  // namespace ringtrain::data
