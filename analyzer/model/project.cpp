#include "analyzer/model/project.hpp"

#include <system_error>

namespace oomlint::model {

void ProjectFacts::add(const ModuleSummary& summary) {
  for (const auto& [name, f] : summary.functions) {
    m_functions[summary.module + "." + name] = f;
  }
  for (const CallSite& c : summary.external_calls) {
    Incoming& in = m_incoming[c.target];
    ++in.sites;
    in.disabled += c.disabled ? 1 : 0;
  }
}

const FunctionSummary* ProjectFacts::function(std::string_view qualified) const {
  auto it = m_functions.find(std::string(qualified));
  return it == m_functions.end() ? nullptr : &it->second;
}

ProjectFacts::Incoming ProjectFacts::incoming(std::string_view qualified) const {
  auto it = m_incoming.find(std::string(qualified));
  return it == m_incoming.end() ? Incoming{} : it->second;
}

bool ProjectFacts::matters_for(const ModuleSummary& summary) const {
  for (const CallSite& c : summary.external_calls) {
    if (const FunctionSummary* f = function(c.target); f != nullptr && f->informative()) {
      return true;
    }
  }
  for (const auto& [name, f] : summary.functions) {
    const Incoming in = incoming(summary.module + "." + name);
    if (in.sites > 0 && in.disabled == in.sites && !f.grad_disabled) {
      return true;
    }
  }
  return false;
}

std::string module_name_for(const std::filesystem::path& file, bool& is_package) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(file, ec);
  if (ec) {
    abs = file;
  }
  is_package = abs.filename() == "__init__.py";
  std::string name = is_package ? std::string() : abs.stem().string();
  std::filesystem::path dir = abs.parent_path();
  int guard = 0;
  while (!dir.empty() && dir != dir.root_path() && guard++ < 64 &&
         std::filesystem::exists(dir / "__init__.py", ec)) {
    name = name.empty() ? dir.filename().string() : dir.filename().string() + "." + name;
    dir = dir.parent_path();
  }
  return name;
}

std::string absolute_import(std::string_view relative, const ProjectContext& context) {
  size_t dots = 0;
  while (dots < relative.size() && relative[dots] == '.') {
    ++dots;
  }
  if (dots == 0) {
    return std::string(relative);
  }
  std::string package = context.module;
  // A module's package drops its own name; a package's `__init__` is its package.
  size_t drop = context.is_package ? dots - 1 : dots;
  while (drop-- > 0) {
    const size_t dot = package.rfind('.');
    package = dot == std::string::npos ? std::string() : package.substr(0, dot);
  }
  const std::string_view rest = relative.substr(dots);
  if (package.empty()) {
    return std::string(rest);
  }
  return rest.empty() ? package : package + "." + std::string(rest);
}

} // namespace oomlint::model
