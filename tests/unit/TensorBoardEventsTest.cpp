// TensorBoard's event records (io/TensorBoardEvents.h), byte for byte against what TensorBoard's
// own Python package makes of the same messages: its protobuf classes (tensorboard.compat.proto)
// for the events, its masked_crc32c for the frames.
#include <gtest/gtest.h>

#include <string>

#include "io/TensorBoardEvents.h"

namespace ringtrain::io {
namespace {

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string text;
  for (const char byte : bytes) {
    text.push_back(digits[(static_cast<unsigned char>(byte) >> 4) & 0xf]);
    text.push_back(digits[static_cast<unsigned char>(byte) & 0xf]);
  }
  return text;
}

TEST(TensorBoardEvents, FramesAsTfRecordDoes) {
  EXPECT_EQ(maskedCrc32c("ringtrain"), 0x5ea9a48bu);
  EXPECT_EQ(hex(tfRecord("abc")), "0300000000000000b099490e6162636e57f121");
}

TEST(TensorBoardEvents, EncodesTheEventsAsProtobufDoes) {
  // event_pb2.Event(wall_time=1.5, step=7, summary=Summary(value=[Value(tag="loss",
  // simple_value=0.25), Value(tag="lr", simple_value=3.0)])).SerializeToString()
  EXPECT_EQ(hex(scalarsEvent(1.5, 7, {{"loss", 0.25}, {"lr", 3.0}})),
            "09000000000000f83f10072a180a0b0a046c6f7373150000803e0a090a026c721500004040");
  // A step that takes two bytes as a varint, a negative value.
  EXPECT_EQ(hex(scalarsEvent(2.0, 300, {{"x", -1.0}})),
            "09000000000000004010ac022a0a0a080a017815000080bf");
  EXPECT_EQ(hex(fileVersionEvent(2.0, "brain.Event:2")),
            "0900000000000000401a0d627261696e2e4576656e743a32");
  EXPECT_EQ(hex(sessionStartEvent(2.0, 41)), "09000000000000004010293a020801");
}

}  // namespace
}  // namespace ringtrain::io
