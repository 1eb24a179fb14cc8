// What a pipeline message claims to be, sent with it when --pipeline-check-messages is on: the
// step, what it carries, for which micro-batch, and the tensor's dtype and shape.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/Schedule.h"

namespace ringtrain::pipeline {

struct MessageHeader {
  int64_t step = 0;
  Payload payload = Payload::kActivation;
  int64_t microBatch = 0;
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> shape;

  static MessageHeader of(int64_t step, const Message& message, const at::Tensor& tensor);
  bool operator==(const MessageHeader& other) const;
};

// A fixed-size int64 tensor, so that headers travel like any other message.
constexpr int64_t kHeaderWords = 16;
at::Tensor encodeHeader(const MessageHeader& header);
// UserError if `words` is not a header (e.g. a payload received where a header was due).
MessageHeader decodeHeader(const at::Tensor& words);

// e.g. "activation of micro-batch 3 in step 7, Float [8, 128]"
std::string describe(const MessageHeader& header);

// The receiver's error, or nullopt when `sent` is what the receiver expected.
std::optional<std::string> headerMismatch(int sender, int receiver, const MessageHeader& sent,
                                          const MessageHeader& expected);

}  // namespace ringtrain::pipeline
