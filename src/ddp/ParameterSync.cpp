#include "ddp/ParameterSync.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <sstream>

#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::ddp {
namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) result.push_back(line);
  return result;
}

}  // namespace

std::string describeParameters(const NamedParameters& parameters) {
  std::ostringstream description;
  for (const auto& [name, tensor] : parameters) {
    description << name << "[";
    for (int64_t d = 0; d < tensor.dim(); ++d) description << (d ? "," : "") << tensor.size(d);
    description << "] " << tensor.scalar_type() << "\n";
  }
  return description.str();
}

void verifySameParameters(comm::Communicator& control, const NamedParameters& parameters) {
  const std::string mine = describeParameters(parameters);
  const std::string theirs = comm::broadcastString(control, mine, 0);

  comm::runOnAllRanks(control, [&] {
    if (mine == theirs) return;
    const auto a = lines(mine);
    const auto b = lines(theirs);
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    throw UserError("rank " + std::to_string(control.rank()) +
                    " built a different model than rank 0: parameter " + std::to_string(i) +
                    " is '" + (i < a.size() ? a[i] : "(none)") + "' here but '" +
                    (i < b.size() ? b[i] : "(none)") + "' on rank 0");
  });
}

void broadcastParameters(comm::Communicator& comm, const NamedParameters& parameters) {
  if (comm.size() == 1) return;
  c10::NoGradGuard noGrad;
  // One tensor at a time and in place where possible: a flat copy of the whole model would stay
  // in the process's resident memory for the rest of training.
  for (const auto& [name, tensor] : parameters) {
    if (tensor.is_contiguous()) {
      at::Tensor target = tensor;
      comm.broadcast(target, 0);
    } else {
      at::Tensor staged = tensor.contiguous();
      comm.broadcast(staged, 0);
      at::Tensor(tensor).copy_(staged);
    }
  }
}

}  // namespace ringtrain::ddp
