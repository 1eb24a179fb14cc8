// safetensors files. Whatever decodes must encode and decode again to the same tensors.
#include <ATen/ATen.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "FuzzInput.h"
#include "io/Safetensors.h"

namespace {

bool sameTensors(const ringtrain::io::NamedTensors& a, const ringtrain::io::NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const at::Tensor& x = a[i].second;
    const at::Tensor& y = b[i].second;
    if (a[i].first != b[i].first || x.scalar_type() != y.scalar_type() || x.sizes() != y.sizes())
      return false;
    // Bitwise, so that NaN payloads count too.
    if (x.nbytes() != y.nbytes() ||
        (x.nbytes() > 0 && std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) != 0))
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringtrain::io;
  Metadata metadata;
  NamedTensors decoded;
  bool accepted = false;
  ringtrain::fuzz::expectParsedOrRejected([&] {
    decoded = decodeSafetensors(ringtrain::fuzz::asText(data, size), "fuzz.safetensors", &metadata);
    accepted = true;
  });
  if (!accepted) return 0;
  // Outside the handler above: what was accepted once must never be rejected after a round trip.
  Metadata again;
  const NamedTensors roundTrip =
      decodeSafetensors(encodeSafetensors(decoded, metadata), "round trip", &again);
  if (!sameTensors(decoded, roundTrip) || again != metadata) {
    std::cerr << "safetensors round trip changed the tensors or metadata\n";
    std::abort();
  }
  return 0;
}
