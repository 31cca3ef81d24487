#pragma once
// A rule's documentation, generated from its metadata: the page in docs/rules/, the text of
// `oomlint rule CODE`, and the catalog of `oomlint rule --all`.
#include <string>
#include <vector>

#include "analyzer/rule_api.hpp"

namespace oomlint {

std::string rule_markdown(const RuleMeta& meta);
std::string rule_catalog_text(const std::vector<const RuleMeta*>& catalog);
std::string rule_catalog_json(const std::vector<const RuleMeta*>& catalog);
std::string rule_json(const RuleMeta& meta);

} // namespace oomlint
