#include "ringtrain/ddp/GradientAverager.h"

#include <ATen/ATen.h>

#include "ringtrain/util/Error.h"

namespace ringtrain::ddp {

GradientAverager::GradientAverager(comm::Communicator& comm,
                                   std::vector<std::pair<std::string, at::Tensor>> namedParameters)
    : comm_(comm), parameters_(std::move(namedParameters)) {}

at::Tensor GradientAverager::average(const at::Tensor& scalars) {
  std::vector<at::Tensor> pieces;
  pieces.reserve(parameters_.size() + 1);
  for (const auto& [name, parameter] : parameters_) {
    const at::Tensor& grad = parameter.grad();
    RINGTRAIN_CHECK(grad.defined(), "parameter '" << name << "' received no gradient this step");
    pieces.push_back(grad.reshape(-1));
  }
  pieces.push_back(scalars.to(pieces.empty() ? scalars.options() : pieces.front().options()));
  if (comm_.size() == 1) return pieces.back();

  at::Tensor flat = at::cat(pieces);
  comm_.allReduce(flat, comm::ReduceOp::kAvg);
  int64_t offset = 0;
  for (auto& [name, parameter] : parameters_) {
    at::Tensor grad = parameter.mutable_grad();
    grad.copy_(flat.slice(0, offset, offset + grad.numel()).view_as(grad));
    offset += grad.numel();
  }
  return flat.slice(0, offset);
}

}  // namespace ringtrain::ddp
