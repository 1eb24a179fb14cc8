#include "ringtrain/comm/Agreement.h"

#include <ATen/ATen.h>

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

}  // namespace ringtrain::comm
