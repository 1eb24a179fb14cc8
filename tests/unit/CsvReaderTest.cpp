#include "data/CsvReader.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "ringtrain/util/Error.h"

namespace ringtrain::data {
namespace {

Dataset parse(const std::string& text, CsvOptions options = {}) {
  std::istringstream input(text);
  return parseCsv(input, "data.csv", options);
}

std::string errorOf(const std::string& text, CsvOptions options = {}) {
  try {
    parse(text, options);
  } catch (const UserError& error) {
    return error.what();
  }
  return "no error";
}

TEST(CsvReader, ReadsLabelFirstRows) {
  const Dataset dataset = parse("1,0.5,2\n0, -1 ,3e2\r\n\n2,+4,5\n");
  ASSERT_EQ(dataset.size(), 3);
  EXPECT_EQ(dataset.numClasses, 3);
  EXPECT_TRUE(dataset.labels.equal(at::tensor({1, 0, 2}, at::kLong)));
  EXPECT_TRUE(dataset.features.equal(at::tensor({0.5f, 2.f, -1.f, 300.f, 4.f, 5.f}).view({3, 2})));
}

TEST(CsvReader, HonoursHeaderAndLabelColumn) {
  const Dataset dataset = parse("a,b,label\n0.5,2,1\n3,4,0\n", {true, 2});
  EXPECT_TRUE(dataset.labels.equal(at::tensor({1, 0}, at::kLong)));
  EXPECT_TRUE(dataset.features.equal(at::tensor({0.5f, 2.f, 3.f, 4.f}).view({2, 2})));
}

TEST(CsvReader, ErrorsNameFileLineAndColumn) {
  EXPECT_EQ(errorOf("1,2,3\n0,1\n"), "data.csv:2: expected 3 columns (as on data.csv:1), found 2");
  EXPECT_EQ(errorOf("1,2,3\n0,1,abc\n"), "data.csv:2: column 2 (0-based): 'abc' is not a number");
  EXPECT_EQ(errorOf("1,2\n0,nan\n"),
            "data.csv:2: column 1 (0-based): 'nan' is not a finite number");
  EXPECT_EQ(errorOf("1.5,2\n"), "data.csv:1: label '1.5' is not a whole non-negative number");
  EXPECT_EQ(errorOf("-1,2\n"), "data.csv:1: label '-1' is not a whole non-negative number");
  EXPECT_EQ(errorOf("1,\n"), "data.csv:1: column 1 (0-based): '' is not a number");
  EXPECT_EQ(errorOf("5\n"),
            "data.csv:1: a row needs a label and at least one feature, found 1 column");
  EXPECT_EQ(errorOf(""), "data.csv: no data rows");
  EXPECT_EQ(errorOf("h1,h2\n", {true, 0}), "data.csv: no data rows");
  EXPECT_EQ(errorOf("1,2\n", {false, 4}),
            "--label-column 4 is outside the 2 columns (0..1) of data.csv:1");
}

TEST(CsvReader, MissingFileIsNamed) {
  try {
    readCsv("/nonexistent/train.csv", {});
    FAIL() << "no error";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/train.csv"), std::string::npos);
  }
}

TEST(CsvReader, AHeaderOfNumbersIsADataRowAndRefused) {
  // --csv-header applies to every file; a validation file without a header would silently lose
  // its first row.
  const std::string error = errorOf("1,0.5,2\n0,-1,3\n", {true, 0});
  EXPECT_NE(error.find("data.csv:1: --csv-header"), std::string::npos) << error;
  EXPECT_NE(error.find("only numbers"), std::string::npos) << error;
  EXPECT_EQ(parse("label,x,y\n0,-1,3\n", {true, 0}).size(), 1);
  // Column numbers, as pandas writes them for a frame without names, are a header.
  EXPECT_EQ(parse("0,1,2\n0,-1,3\n", {true, 0}).size(), 1);
  EXPECT_EQ(parse("1,2,3\n0,-1,3\n", {true, 0}).size(), 1);
  // A header that happens to start like a zip file's signature is still a header.
  EXPECT_EQ(parse("PKG,x,y\n0,-1,3\n", {true, 0}).size(), 1);
}

TEST(CsvReader, ACompressedFileIsNamedAsSuch) {
  const std::string path = ::testing::TempDir() + "/compressed.csv.gz";
  {
    std::ofstream file(path, std::ios::binary);
    file << std::string("\x1f\x8b\x08\x00", 4) << "rest of a gzip stream";
  }
  try {
    readCsv(path, {});
    FAIL() << "no error";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find(path + " is gzip-compressed"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace ringtrain::data
