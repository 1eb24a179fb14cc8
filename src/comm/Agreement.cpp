#include "ringtrain/comm/Agreement.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <functional>

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

namespace {

// A message is limited to 2 GiB, so strings travel in pieces of 1 GiB: `transfer` gets each
// piece of the `total` bytes at `data` as a byte tensor over that memory.
constexpr int64_t kStringPiece = int64_t{1} << 30;

void forEachPiece(char* data, size_t total, const std::function<void(at::Tensor&)>& transfer) {
  const auto bytes = static_cast<int64_t>(total);
  for (int64_t offset = 0; offset < bytes; offset += kStringPiece) {
    at::Tensor piece =
        at::from_blob(data + offset, {std::min(kStringPiece, bytes - offset)}, at::kByte);
    transfer(piece);
  }
}

}  // namespace

std::string broadcastString(Communicator& control, const std::string& text, int root) {
  at::Tensor length = at::full({1}, static_cast<int64_t>(text.size()), at::kLong);
  control.broadcast(length, root);
  std::string result = control.rank() == root
                           ? text
                           : std::string(static_cast<size_t>(length.item<int64_t>()), '\0');
  forEachPiece(result.data(), result.size(),
               [&](at::Tensor& piece) { control.broadcast(piece, root); });
  return result;
}

void sendString(Communicator& control, const std::string& text, int peer) {
  control.send(at::full({1}, static_cast<int64_t>(text.size()), at::kLong), peer);
  // from_blob takes mutable memory; a send only reads it.
  forEachPiece(const_cast<char*>(text.data()), text.size(),
               [&](at::Tensor& piece) { control.send(piece, peer); });
}

std::string receiveString(Communicator& control, int peer) {
  at::Tensor length = at::empty({1}, at::kLong);
  control.recv(length, peer);
  std::string text(static_cast<size_t>(length.item<int64_t>()), '\0');
  forEachPiece(text.data(), text.size(), [&](at::Tensor& piece) { control.recv(piece, peer); });
  return text;
}

}  // namespace ringtrain::comm
