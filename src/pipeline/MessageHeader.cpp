#include "pipeline/MessageHeader.h"

#include <ATen/ATen.h>

#include <sstream>

#include "ringtrain/util/Error.h"

namespace ringtrain::pipeline {
namespace {

// "RTPH" in ASCII: tells a header from payload bytes received out of turn.
constexpr int64_t kMagic = 0x52545048;
constexpr int64_t kFixedWords = 6;  // magic, step, payload, micro-batch, dtype, dimensions
constexpr int64_t kMaxDims = kHeaderWords - kFixedWords;

}  // namespace

MessageHeader MessageHeader::of(int64_t step, const Message& message, const at::Tensor& tensor) {
  return {step, message.payload, message.microBatch, tensor.scalar_type(), tensor.sizes().vec()};
}

bool MessageHeader::operator==(const MessageHeader& other) const {
  return step == other.step && payload == other.payload && microBatch == other.microBatch &&
         dtype == other.dtype && shape == other.shape;
}

at::Tensor encodeHeader(const MessageHeader& header) {
  RINGTRAIN_CHECK(static_cast<int64_t>(header.shape.size()) <= kMaxDims,
                  "a pipeline message has more than " << kMaxDims << " dimensions");
  at::Tensor words = at::zeros({kHeaderWords}, at::kLong);
  int64_t* word = words.data_ptr<int64_t>();
  word[0] = kMagic;
  word[1] = header.step;
  word[2] = static_cast<int64_t>(header.payload);
  word[3] = header.microBatch;
  word[4] = static_cast<int64_t>(header.dtype);
  word[5] = static_cast<int64_t>(header.shape.size());
  for (size_t d = 0; d < header.shape.size(); ++d) word[kFixedWords + d] = header.shape[d];
  return words;
}

MessageHeader decodeHeader(const at::Tensor& words) {
  const at::Tensor host = words.to(at::kCPU, at::kLong).contiguous();
  RINGTRAIN_CHECK(host.numel() == kHeaderWords,
                  "a pipeline header has " << kHeaderWords << " words");
  const int64_t* word = host.const_data_ptr<int64_t>();
  RINGTRAIN_USER_CHECK(
      word[0] == kMagic && word[5] >= 0 && word[5] <= kMaxDims && (word[2] == 0 || word[2] == 1),
      "a pipeline neighbour sent something that is not a message header: the "
      "stages are out of step");
  MessageHeader header;
  header.step = word[1];
  header.payload = word[2] == 0 ? Payload::kActivation : Payload::kGradient;
  header.microBatch = word[3];
  header.dtype = static_cast<at::ScalarType>(word[4]);
  header.shape.assign(word + kFixedWords, word + kFixedWords + word[5]);
  return header;
}

std::string describe(const MessageHeader& header) {
  std::ostringstream text;
  text << (header.payload == Payload::kActivation ? "activation" : "gradient") << " of micro-batch "
       << header.microBatch << " in step " << header.step << ", " << header.dtype << " "
       << c10::IntArrayRef(header.shape);
  return text.str();
}

std::optional<std::string> headerMismatch(int sender, int receiver, const MessageHeader& sent,
                                          const MessageHeader& expected) {
  if (sent == expected) return std::nullopt;
  return "pipeline message mismatch: stage " + std::to_string(sender) + " sent " + describe(sent) +
         "; stage " + std::to_string(receiver) + " expected " + describe(expected) +
         " (do all ranks run the same model, --partition and --micro-batches?)";
}

}  // namespace ringtrain::pipeline
