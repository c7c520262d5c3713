// Single model objects in the API's bodies and answers: the model's own per-type reader and
// writer (model/json.hpp), the ones the whole document and the store use, so an object reads
// and writes exactly as it does inside a document (paths of its problems relative to it).
#pragma once

#include "controller/model/json.hpp"

namespace natctl::api {

using model::from_json;
using model::to_json;

}  // namespace natctl::api
