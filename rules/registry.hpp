#pragma once
#include <string_view>
#include <vector>

#include "analyzer/rule_api.hpp"

namespace oomlint::rules {

// Every rule, in code order.
const std::vector<Rule>& all_rules();
std::vector<const RuleMeta*> catalog();
// By code (`OOM101`) or name (`graph-retaining-accumulation`); null when unknown.
const Rule* find_rule(std::string_view code_or_name);

} // namespace oomlint::rules
