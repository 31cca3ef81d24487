// Calls that look like training by their method's name alone. Where a wrong "no" would switch
// training off (decorating a function with `inference_mode`), the name is enough to hold back.
#include <algorithm>

#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"

namespace oomlint::model {

namespace {

bool is_training_method(std::string_view method) {
  return method == "fit" || method == "train" || method == "backward" || method == "step" || method == "training_step";
}

} // namespace

bool Model::calls_training_methods(ScopeId id) const {
  const TSNode body = scope(id).body;
  const auto [first, last] = m_impl->calls_in(ts_node_start_byte(body), ts_node_end_byte(body));
  return std::any_of(m_calls.begin() + static_cast<std::ptrdiff_t>(first),
                     m_calls.begin() + static_cast<std::ptrdiff_t>(last),
                     [](const Call& c) { return is_training_method(c.method); });
}

} // namespace oomlint::model
