#include "ringtrain/comm/Agreement.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "ringtrain/util/Error.h"

namespace ringtrain::comm {

void runOnAllRanks(Communicator& control, const std::function<void()>& step) {
  std::string message;
  int exitCode = 0;
  try {
    step();
  } catch (const UserError& e) {
    message = e.what();
    exitCode = 2;
  } catch (const std::exception& e) {
    message = e.what();
    exitCode = 1;
  }
  const int rank = control.rank();
  at::Tensor firstFailing = at::full({1}, exitCode != 0 ? rank : control.size(), at::kLong);
  control.allReduce(firstFailing, ReduceOp::kMin);
  const auto reporter = static_cast<int>(firstFailing.item<int64_t>());
  if (reporter == control.size()) return;

  at::Tensor code = at::full({1}, exitCode, at::kLong);
  control.broadcast(code, reporter);
  throw CollectiveFailure(rank == reporter ? message : std::string(), rank == reporter,
                          static_cast<int>(code.item<int64_t>()));
}

std::string broadcastString(Communicator& control, const std::string& text, int root) {
  at::Tensor length = at::full({1}, static_cast<int64_t>(text.size()), at::kLong);
  control.broadcast(length, root);
  at::Tensor bytes = at::empty({length.item<int64_t>()}, at::kByte);
  if (control.rank() == root && !text.empty())
    std::memcpy(bytes.data_ptr(), text.data(), text.size());
  control.broadcast(bytes, root);
  return std::string(static_cast<const char*>(bytes.data_ptr()),
                     static_cast<size_t>(bytes.numel()));
}

// In pieces: one message is limited to 2 GiB.
constexpr int64_t kStringPiece = int64_t{1} << 30;

void sendString(Communicator& control, const std::string& text, int peer) {
  const auto length = static_cast<int64_t>(text.size());
  control.send(at::full({1}, length, at::kLong), peer);
  for (int64_t offset = 0; offset < length; offset += kStringPiece) {
    const int64_t size = std::min(kStringPiece, length - offset);
    // Only read from; from_blob takes a mutable pointer.
    control.send(at::from_blob(const_cast<char*>(text.data()) + offset, {size}, at::kByte), peer);
  }
}

std::string receiveString(Communicator& control, int peer) {
  at::Tensor length = at::empty({1}, at::kLong);
  control.recv(length, peer);
  std::string text(static_cast<size_t>(length.item<int64_t>()), '\0');
  const auto total = static_cast<int64_t>(text.size());
  for (int64_t offset = 0; offset < total; offset += kStringPiece) {
    const int64_t size = std::min(kStringPiece, total - offset);
    at::Tensor piece = at::from_blob(text.data() + offset, {size}, at::kByte);
    control.recv(piece, peer);
  }
  return text;
}

}  // namespace ringtrain::comm
