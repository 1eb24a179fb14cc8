#include "ddp/Reducer.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <sstream>

#include "BucketKernels.h"
#include "CommThread.h"
#include "comm/CallLog.h"
#include "comm/ShardedCollectives.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::ddp {

// Runs after autograd has accumulated a parameter's gradient for this backward.
class GradientReadyHook final : public torch::autograd::FunctionPostHook {
 public:
  GradientReadyHook(Reducer& reducer, size_t parameter)
      : reducer_(reducer), parameter_(parameter) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& gradInputs,
                                            const torch::autograd::variable_list&) override {
    reducer_.markReady(parameter_);
    return gradInputs;
  }

 private:
  Reducer& reducer_;
  size_t parameter_;
};

namespace {

NamedParameters trainable(const NamedParameters& parameters) {
  NamedParameters kept;
  for (const auto& item : parameters) {
    if (item.second.requires_grad()) kept.push_back(item);
  }
  return kept;
}

std::string listNames(const std::vector<std::string>& names) {
  std::ostringstream text;
  const size_t shown = std::min<size_t>(names.size(), 3);
  for (size_t i = 0; i < shown; ++i) text << (i ? ", " : "") << "'" << names[i] << "'";
  if (names.size() > shown) text << " and " << names.size() - shown << " more";
  return text.str();
}

}  // namespace

const NameTable<GradCompression>& gradCompressionNames() {
  static const NameTable<GradCompression> names{{"none", GradCompression::kNone},
                                                {"fp16", GradCompression::kFp16},
                                                {"bf16", GradCompression::kBf16}};
  return names;
}

std::string compressionName(GradCompression compression) {
  return nameOf(gradCompressionNames(), compression);
}

bool overlapPays(OverlapMode mode, bool onGpu, int spareCoresPerRank) {
  switch (mode) {
    case OverlapMode::kOn:
      return true;
    case OverlapMode::kOff:
      return false;
    case OverlapMode::kAuto:
      break;
  }
  return onGpu || spareCoresPerRank >= 1;
}

Reducer::Reducer(comm::Communicator& comm, NamedParameters parameters, ReducerOptions options,
                 GradientSharding sharding)
    : comm_(comm), parameters_(trainable(parameters)), options_(options), sharding_(sharding) {
  RINGTRAIN_CHECK(!parameters_.empty(), "the model has no trainable parameters");
  RINGTRAIN_CHECK(sharding_ == GradientSharding::kNone || comm_.size() > 1,
                  "sharded gradients need two ranks or more");
  std::vector<ParameterShape> shapes;
  for (const auto& [name, parameter] : parameters_) {
    RINGTRAIN_CHECK(parameter.device() == parameters_.front().second.device(),
                    "parameter '" << name << "' is on " << parameter.device() << ", the others on "
                                  << parameters_.front().second.device());
    shapes.push_back({parameter.numel(), static_cast<int64_t>(parameter.element_size()),
                      static_cast<int>(parameter.scalar_type())});
  }
  plan_ = assignBuckets(shapes, options_.limits);
  if (sharding_ != GradientSharding::kNone)
    owned_ = shardBuckets(plan_, comm_.size(), comm_.rank());
  const bool releases = sharding_ == GradientSharding::kScatterAndRelease;
  heldBytes_.assign(plan_.size(), 0);

  views_.resize(parameters_.size());
  bucketOf_.resize(parameters_.size());
  for (size_t b = 0; b < plan_.size(); ++b) {
    // With one rank nothing is reduced, and a bucket of one parameter can be reduced in place:
    // either way the gradient stays where autograd put it.
    adopts_.push_back(comm_.size() == 1 || plan_[b].entries.size() == 1);
    const at::Tensor& first = parameters_[plan_[b].entries.front().parameter].second;
    storage_.emplace_back();
    for (const BucketEntry& entry : plan_[b].entries) bucketOf_[entry.parameter] = b;
    // Held between steps, as autograd's gradients or as a bucket; stage 2 holds its shards only.
    if (!releases) holdBucket(b, true);
    if (!adopts_[b] && !releases) ensureStorage(b);
    if (!releases) continue;
    const int64_t owned = owned_[b].span.length();
    ownedGradients_.push_back(at::zeros({owned}, first.options().requires_grad(false)));
    countGradientBytes(owned * plan_[b].elementBytes);
  }
  for (size_t p = 0; p < parameters_.size(); ++p) {
    // The gradients become views of their buckets from the start; stage 2 holds no bucket until
    // backward fills it.
    if (!releases) attachGradient(p);
    accumulators_.push_back(torch::autograd::impl::grad_accumulator(parameters_[p].second));
    RINGTRAIN_CHECK(accumulators_.back(), "parameter '"
                                              << parameters_[p].first
                                              << "' has no gradient accumulator (not a leaf?)");
  }
  ready_.assign(parameters_.size(), 0);
  pendingInBucket_.assign(plan_.size(), 0);
  inFlight_.resize(plan_.size());
  if (options_.overlap && comm_.size() > 1) {
    if (comm_.reducesOnHost()) {
      commThread_ = std::make_unique<CommThread>();
    } else {
      startsFromHooks_ = true;
    }
  }
  // Last, once nothing can throw: a hook must never outlive the reducer it points to.
  for (size_t p = 0; p < parameters_.size(); ++p) {
    hookKeys_.push_back(
        accumulators_[p]->add_post_hook(std::make_unique<GradientReadyHook>(*this, p)));
  }
}

Reducer::~Reducer() {
  for (size_t p = 0; p < hookKeys_.size(); ++p) accumulators_[p]->del_post_hook(hookKeys_[p]);
  commThread_.reset();  // before the state its jobs read goes away
}

void Reducer::ensureStorage(size_t bucket) {
  if (storage_[bucket].defined()) return;
  const BucketSpec& spec = plan_[bucket];
  const at::Tensor& first = parameters_[spec.entries.front().parameter].second;
  // The gradients fill their slots; only the alignment gaps between them need zeros (a bucket
  // ends with its last entry).
  storage_[bucket] = at::empty({spec.numel}, first.options().requires_grad(false));
  int64_t filled = 0;
  for (const BucketEntry& entry : spec.entries) {
    if (entry.offset > filled) storage_[bucket].narrow(0, filled, entry.offset - filled).zero_();
    filled = entry.offset + entry.numel;
    views_[entry.parameter] = storage_[bucket]
                                  .narrow(0, entry.offset, entry.numel)
                                  .view(parameters_[entry.parameter].second.sizes());
  }
  holdBucket(bucket, true);
}

void Reducer::releaseBucket(size_t bucket) {
  const comm::Span own = owned_[bucket].span;
  ownedGradients_[bucket].copy_(storage_[bucket].narrow(0, own.begin, own.length()));
  for (const BucketEntry& entry : plan_[bucket].entries) {
    parameters_[entry.parameter].second.mutable_grad() = at::Tensor();
    views_[entry.parameter] = at::Tensor();
  }
  storage_[bucket] = at::Tensor();
  holdBucket(bucket, false);
}

void Reducer::holdBucket(size_t bucket, bool held) {
  const int64_t bytes = held ? plan_[bucket].bytes() : 0;
  countGradientBytes(bytes - heldBytes_[bucket]);
  heldBytes_[bucket] = bytes;
}

void Reducer::countGradientBytes(int64_t change) {
  const int64_t now = gradientBytes_ += change;
  int64_t peak = peakGradientBytes_.load();
  while (now > peak && !peakGradientBytes_.compare_exchange_weak(peak, now)) {
  }
}

at::Tensor Reducer::ownedGradient(size_t bucket) const {
  RINGTRAIN_CHECK(sharding_ != GradientSharding::kNone, "ownedGradient() without sharding");
  if (sharding_ == GradientSharding::kScatterAndRelease) return ownedGradients_[bucket];
  const comm::Span own = owned_[bucket].span;
  return storage_[bucket].narrow(0, own.begin, own.length());
}

void Reducer::attachGradient(size_t parameter) {
  const size_t bucket = bucketOf_[parameter];
  if (adopts_[bucket]) {
    adoptGradient(parameter, bucket);
    return;
  }
  ensureStorage(bucket);
  at::Tensor& variable = parameters_[parameter].second;
  const at::Tensor& grad = variable.grad();
  if (grad.defined()) {
    // Also when the gradient already is the slot (accumulated into since the last step): then it
    // is scaled in place.
    packGradient(grad, views_[parameter], 1.0f / static_cast<float>(comm_.size()));
  } else {
    views_[parameter].zero_();
  }
  variable.mutable_grad() = views_[parameter];
}

void Reducer::adoptGradient(size_t parameter, size_t bucket) {
  at::Tensor& variable = parameters_[parameter].second;
  at::Tensor grad = variable.grad();
  if (!grad.defined()) {
    grad = at::zeros_like(variable, at::MemoryFormat::Contiguous);
  } else if (!grad.is_contiguous()) {
    grad = grad.contiguous();  // collectives need one dense block
  }
  variable.mutable_grad() = grad;
  if (plan_[bucket].entries.size() == 1) storage_[bucket] = grad.view({-1});
  if (sharding_ == GradientSharding::kScatterAndRelease) holdBucket(bucket, true);
}

void Reducer::zeroGradients() {
  // Dropped rather than zeroed: backward then hands each parameter a fresh gradient, which the
  // ready hook copies into its bucket. One pass over the memory instead of zeroing the bucket
  // and adding into it.
  for (auto& item : parameters_) item.second.mutable_grad() = at::Tensor();
  accumulating_ = false;
  // An adopted gradient is released too, so that the next backward can reuse its memory.
  for (size_t b = 0; b < plan_.size(); ++b) {
    if (adopts_[b]) storage_[b] = at::Tensor();
  }
}

void Reducer::prepareForBackward(bool synchronize) {
  std::lock_guard<std::mutex> lock(mutex_);
  RINGTRAIN_CHECK(!synchronizing_, "the previous synchronised backward was never finished");
  synchronizing_ = synchronize;
  if (!synchronize) {
    accumulating_ = true;
    return;
  }
  std::fill(ready_.begin(), ready_.end(), 0);
  for (size_t b = 0; b < plan_.size(); ++b) {
    pendingInBucket_[b] = static_cast<int64_t>(plan_[b].entries.size());
  }
  nextLaunch_ = 0;
  reducedEarly_ = 0;
  duplicateReady_.clear();
}

void Reducer::markReady(size_t parameter) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!synchronizing_) return;
  ++stats_.hookCalls;
  if (ready_[parameter]) {
    duplicateReady_.push_back(parameters_[parameter].first);
    return;
  }
  ready_[parameter] = 1;
  attachGradient(parameter);
  if (--pendingInBucket_[bucketOf_[parameter]] == 0) launchCompleteBuckets();
}

void Reducer::launchCompleteBuckets() {
  while (nextLaunch_ < plan_.size() && pendingInBucket_[nextLaunch_] == 0) {
    const size_t bucket = nextLaunch_++;
    // The last bucket completes as backward ends, so there is nothing left to overlap it with:
    // finishBackward reduces it on the calling thread and saves the hand-over.
    const bool last = bucket + 1 == plan_.size();
    // After micro-steps that accumulated (--grad-accum, a pipeline's micro-batches) every whole
    // gradient is held anyway: reducing early would save nothing and, in a pipeline, hold back
    // the sends that follow this backward.
    const bool releases = sharding_ == GradientSharding::kScatterAndRelease && !accumulating_;
    if (releases && !commThread_) {
      // Without a communication thread (no spare core on CPU, or NCCL), stage 2 reduces a bucket
      // from the hook as soon as it is full: its full gradients are let go before the next
      // bucket fills. On CPU that is the same work as after backward; with NCCL the rest of
      // backward then queues behind each reduce-scatter instead of overlapping it.
      // Waiting for the other ranks here is exposed communication, as in finishBackward.
      const auto start = std::chrono::steady_clock::now();
      reduceBucket(bucket);
      stats_.exposedSeconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      reducedEarly_ = bucket + 1;
    } else if (startsFromHooks_) {
      startBucket(bucket);
    } else if (commThread_ && !last) {
      commThread_->submit([this, bucket] { reduceBucket(bucket); }, storage_[bucket].device());
    }
  }
}

void Reducer::startBucket(size_t bucket) {
  const comm::CallLabel label("bucket", static_cast<int64_t>(bucket));
  at::Tensor& values = storage_[bucket];
  // A packed bucket already holds gradient / world; an adopted gradient is still the raw one.
  const bool packed = !adopts_[bucket];
  InFlight& flight = inFlight_[bucket];
  if (options_.compression == GradCompression::kNone) {
    flight.transfer = startReduction(values, packed ? comm::ReduceOp::kSum : comm::ReduceOp::kAvg);
    return;
  }
  // Divided before narrowing, so that the sum over ranks stays in the 16-bit range.
  flight.wire = narrowForWire(values, packed ? 1.0f : 1.0f / static_cast<float>(comm_.size()),
                              options_.compression);
  flight.transfer = startReduction(flight.wire, comm::ReduceOp::kSum);
}

// The backend's allreduce or reduce-scatter may still be running when this returns (NCCL);
// ringtrain's ring, which the host drives, is done.
std::unique_ptr<comm::PendingTransfer> Reducer::startReduction(at::Tensor& tensor,
                                                               comm::ReduceOp op) {
  if (sharding_ != GradientSharding::kNone) {
    return comm::startReduceScatterShards(options_.algorithm, comm_, tensor, op, options_.ring);
  }
  const auto algorithm =
      comm::resolveAlgorithm(options_.algorithm, comm_, tensor.nbytes(), options_.ring);
  if (algorithm == comm::AllReduceAlgorithm::kNative) return comm_.startAllReduce(tensor, op);
  comm::allReduceWith(algorithm, comm_, tensor, op, options_.ring);
  return nullptr;
}

void Reducer::finishBucket(size_t bucket) {
  InFlight& flight = inFlight_[bucket];
  if (flight.transfer) flight.transfer->wait();
  flight.transfer.reset();
  if (flight.wire.defined()) widenFromWire(flight.wire, storage_[bucket]);
  flight.wire = at::Tensor();
  if (sharding_ == GradientSharding::kScatterAndRelease) releaseBucket(bucket);
}

void Reducer::reduceBucket(size_t bucket) {
  startBucket(bucket);
  finishBucket(bucket);
}

at::Tensor Reducer::finishBackward(const at::Tensor& scalars) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> missing;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    RINGTRAIN_CHECK(synchronizing_, "finishBackward() without prepareForBackward(true)");
    RINGTRAIN_CHECK(duplicateReady_.empty(),
                    "gradient of " << listNames(duplicateReady_) << " was reported ready twice");
    for (size_t p = 0; p < parameters_.size(); ++p) {
      if (ready_[p]) continue;
      // Reduced all the same (as zeros, or as what earlier micro-steps accumulated), so every
      // rank still issues the same collectives and no rank is left waiting. A gradient from an
      // earlier micro-step counts as used.
      const bool used = parameters_[p].second.grad().defined();
      if (!options_.findUnusedParameters && !used) missing.push_back(parameters_[p].first);
      attachGradient(p);
      --pendingInBucket_[bucketOf_[p]];
    }
    launchCompleteBuckets();
    synchronizing_ = false;
  }
  const int world = comm_.size();
  if (world > 1) {
    if (startsFromHooks_) {
      for (size_t b = reducedEarly_; b < plan_.size(); ++b) finishBucket(b);
    } else if (commThread_) {
      commThread_->drain();
      reduceBucket(plan_.size() - 1);
    } else {
      for (size_t b = reducedEarly_; b < plan_.size(); ++b) reduceBucket(b);
    }
  }

  // The scalars travel with a count of ranks that found unused parameters, so that all ranks
  // learn of the problem in the same step.
  const int64_t n = scalars.numel();
  const at::TensorOptions floats = scalars.options().dtype(at::kFloat);
  at::Tensor packet = at::cat(
      {scalars.reshape(-1).to(at::kFloat), at::full({1}, missing.empty() ? 0.0f : 1.0f, floats)});
  if (world > 1) {
    const comm::CallLabel label("scalars");
    comm_.allReduce(packet, comm::ReduceOp::kSum);
  }
  const bool failed = packet[n].item<float>() > 0;
  if (failed) {
    at::Tensor firstFailing =
        at::full({1}, missing.empty() ? world : comm_.rank(), packet.options().dtype(at::kInt));
    if (world > 1) comm_.allReduce(firstFailing, comm::ReduceOp::kMin);
    const int reporter = firstFailing.item<int>();
    std::ostringstream message;
    if (reporter == comm_.rank()) {
      message << "parameter " << listNames(missing) << " received no gradient in this step"
              << (world > 1 ? " on rank " + std::to_string(reporter) : std::string()) << "; "
              << "if the model leaves parameters out of some steps on purpose, pass "
                 "--find-unused-parameters";
    }
    throw comm::CollectiveFailure(message.str(), reporter == comm_.rank(), 2);
  }
  ++stats_.steps;
  stats_.bucketsReduced += world > 1 ? static_cast<int64_t>(plan_.size()) : 0;
  stats_.exposedSeconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return packet.slice(0, 0, n).div(world).to(scalars.scalar_type());
}

}  // namespace ringtrain::ddp
