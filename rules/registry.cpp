#include "rules/registry.hpp"

namespace oomlint::rules {

#define OOMLINT_RULE(code, name) Rule make_##code##_##name();
#include "rules/rules.def"
#undef OOMLINT_RULE

const std::vector<Rule>& all_rules() {
  static const std::vector<Rule> kRules = {
#define OOMLINT_RULE(code, name) make_##code##_##name(),
#include "rules/rules.def"
#undef OOMLINT_RULE
  };
  return kRules;
}

std::vector<const RuleMeta*> catalog() {
  std::vector<const RuleMeta*> out;
  for (const Rule& r : all_rules()) {
    out.push_back(r.meta);
  }
  return out;
}

const Rule* find_rule(std::string_view code_or_name) {
  for (const Rule& r : all_rules()) {
    if (r.meta->code == code_or_name || r.meta->name == code_or_name) {
      return &r;
    }
  }
  return nullptr;
}

} // namespace oomlint::rules
