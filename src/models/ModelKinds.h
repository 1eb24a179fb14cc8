// The names of the model kinds (ModelKind in ringtrain/models/Model.h), for the flags that choose
// one and the model files that record one.
#pragma once

#include "ringtrain/models/Model.h"
#include "util/NameTable.h"

namespace ringtrain::models {

const NameTable<ModelKind>& modelKindNames();     // every kind
const NameTable<ModelKind>& builtInModelNames();  // what --model offers: mlp, cnn, gpt, autoencoder

}  // namespace ringtrain::models
