#include "ringtrain/data/CsvReader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "ringtrain/util/Error.h"
#include "ringtrain/util/Numbers.h"

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

double parseNumber(std::string_view cell, const std::string& where, size_t column) {
  const auto value = parseDouble(cell);
  RINGTRAIN_USER_CHECK(value,
                       where << ": column " << column + 1 << ": '" << cell << "' is not a number");
  RINGTRAIN_USER_CHECK(std::isfinite(*value), where << ": column " << column + 1 << ": '" << cell
                                                    << "' is not a finite number");
  return *value;
}

struct Rows {
  std::vector<float> features;
  std::vector<int64_t> labels;
  size_t width = 0;  // columns per row, label included
  std::string widthSource;
};

void appendCsv(std::istream& input, const std::string& name, const CsvOptions& options,
               Rows& rows) {
  std::string line;
  size_t lineNumber = 0;
  if (options.header) {
    std::getline(input, line);
    ++lineNumber;
  }
  while (std::getline(input, line)) {
    ++lineNumber;
    if (trim(line).empty()) continue;
    const std::string where = name + ":" + std::to_string(lineNumber);
    const auto cells = splitCells(line);
    if (rows.width == 0) {
      RINGTRAIN_USER_CHECK(cells.size() >= 2,
                           where << ": a row needs a label and at least one feature, found "
                                 << cells.size() << " column");
      RINGTRAIN_USER_CHECK(static_cast<size_t>(options.labelColumn) < cells.size(),
                           "--label-column " << options.labelColumn << " is outside the "
                                             << cells.size() << " columns of " << where);
      rows.width = cells.size();
      rows.widthSource = where;
    }
    RINGTRAIN_USER_CHECK(cells.size() == rows.width, where << ": expected " << rows.width
                                                           << " columns (as on " << rows.widthSource
                                                           << "), found " << cells.size());
    for (size_t column = 0; column < cells.size(); ++column) {
      const double value = parseNumber(cells[column], where, column);
      if (column == static_cast<size_t>(options.labelColumn)) {
        RINGTRAIN_USER_CHECK(
            value >= 0 && value == std::floor(value) && value < 1e9,
            where << ": label '" << cells[column] << "' is not a whole non-negative number");
        rows.labels.push_back(static_cast<int64_t>(value));
      } else {
        rows.features.push_back(static_cast<float>(value));
      }
    }
  }
  RINGTRAIN_USER_CHECK(!input.bad(), "cannot read " << name);
}

Dataset toDataset(Rows rows, const std::string& name) {
  RINGTRAIN_USER_CHECK(!rows.labels.empty(), name << ": no data rows");
  const auto count = static_cast<int64_t>(rows.labels.size());
  const auto featureCount = static_cast<int64_t>(rows.width - 1);
  Dataset dataset;
  dataset.features = at::from_blob(rows.features.data(), {count, featureCount}, at::kFloat).clone();
  dataset.labels = at::from_blob(rows.labels.data(), {count}, at::kLong).clone();
  dataset.numClasses = *std::max_element(rows.labels.begin(), rows.labels.end()) + 1;
  dataset.source = name;
  return dataset;
}

}  // namespace

Dataset parseCsv(std::istream& input, const std::string& name, const CsvOptions& options) {
  RINGTRAIN_USER_CHECK(options.labelColumn >= 0, "--label-column must not be negative");
  Rows rows;
  appendCsv(input, name, options, rows);
  return toDataset(std::move(rows), name);
}

Dataset readCsv(const std::string& path, const CsvOptions& options) {
  RINGTRAIN_USER_CHECK(options.labelColumn >= 0, "--label-column must not be negative");
  namespace fs = std::filesystem;
  std::error_code error;
  RINGTRAIN_USER_CHECK(fs::exists(path, error),
                       "cannot read " << path << ": no such file or directory");
  std::vector<std::string> files;
  if (fs::is_directory(path, error)) {
    for (const auto& entry : fs::directory_iterator(path, error)) {
      if (entry.path().extension() == ".csv") files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    RINGTRAIN_USER_CHECK(!files.empty(), path << ": directory holds no *.csv file");
  } else {
    files.push_back(path);
  }
  Rows rows;
  for (const auto& file : files) {
    std::ifstream input(file);
    RINGTRAIN_USER_CHECK(input, "cannot read " << file);
    appendCsv(input, file, options, rows);
  }
  return toDataset(std::move(rows), path);
}

}  // namespace ringtrain::data
