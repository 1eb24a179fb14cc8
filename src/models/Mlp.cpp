#include "Mlp.h"

#include "DenseLayers.h"

namespace ringtrain::models {

Mlp::Mlp(int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes) {
  for (Layer& layer : makeDenseLayers(*this, inputs, hidden, classes, /*flattenInput=*/true)) {
    addLayer(std::move(layer));
  }
}

}  // namespace ringtrain::models
