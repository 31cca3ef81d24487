#include "analyzer/model/project.hpp"

#include <algorithm>
#include <cctype>
#include <system_error>

namespace oomlint::model {

void ProjectFacts::add(const ModuleSummary& summary) {
  for (const auto& [name, f] : summary.functions) {
    m_has_frozen_classes = m_has_frozen_classes || f.frozen_class;
    add_function(summary.module + "." + name, FunctionSummary(f));
  }
  add_grad_disabled_methods(summary);
  add_calls_by_name(summary);
  add_reexports(summary);
  for (const CallSite& c : summary.external_calls) {
    Incoming& in = m_incoming[canonical(c.target)];
    ++in.sites;
    in.disabled += c.disabled ? 1 : 0;
  }
}

void ProjectFacts::add(ModuleSummary&& summary) {
  for (auto& [name, f] : summary.functions) {
    m_has_frozen_classes = m_has_frozen_classes || f.frozen_class;
    add_function(summary.module + "." + name, std::move(f));
  }
  add_grad_disabled_methods(summary);
  add_calls_by_name(summary);
  add_reexports(summary);
  for (const CallSite& c : summary.external_calls) {
    Incoming& in = m_incoming[canonical(c.target)];
    ++in.sites;
    in.disabled += c.disabled ? 1 : 0;
  }
  summary = ModuleSummary{};
}

// Two modules of the run with one dotted name (`llama/model.py` in several folders): which one an
// import means is not in the names, so a fact that only removes findings (no parameters, frozen,
// without autograd) holds where every copy says so.
void ProjectFacts::add_function(std::string qualified, FunctionSummary f) {
  const auto [it, added] = m_functions.try_emplace(std::move(qualified), std::move(f));
  if (added) {
    return;
  }
  FunctionSummary& kept = it->second;
  const bool parameter_free = kept.parameter_free && f.parameter_free;
  const bool frozen = kept.frozen_class && f.frozen_class;
  const bool grad_disabled = kept.grad_disabled && f.grad_disabled;
  kept = std::move(f);
  kept.parameter_free = parameter_free;
  kept.frozen_class = frozen;
  kept.grad_disabled = grad_disabled;
}

void ProjectFacts::set_namespace_aliases(std::unordered_map<std::string, std::string> aliases) {
  m_aliases = std::move(aliases);
  for (const auto& entry : m_aliases) {
    m_alias_roots.insert(entry.first.substr(0, entry.first.find('.')));
  }
}

std::string ProjectFacts::canonical(std::string_view qualified) const {
  // Asked on every lookup of the run's facts: most names start with no alias at all.
  if (m_alias_roots.count(std::string(qualified.substr(0, qualified.find('.')))) == 0) {
    return std::string(qualified);
  }
  // The longest dotted prefix that names a module by an alias.
  for (size_t end = qualified.rfind('.'); end != std::string_view::npos && end > 0;
       end = qualified.rfind('.', end - 1)) {
    if (auto it = m_aliases.find(std::string(qualified.substr(0, end))); it != m_aliases.end()) {
      return it->second + std::string(qualified.substr(end));
    }
  }
  return std::string(qualified);
}

// Two modules of the run with one dotted name (`llama/model.py` in several folders of a
// repository): which one an import means is not in the names, so a class's method runs without
// autograd only where every copy says so.
void ProjectFacts::add_grad_disabled_methods(const ModuleSummary& summary) {
  for (const auto& entry : summary.grad_disabled_methods) {
    const std::vector<std::string>& methods = entry.second;
    const std::string key = summary.module + "." + entry.first;
    auto [it, fresh] = m_grad_disabled_methods.emplace(key, methods);
    if (!fresh) {
      std::erase_if(it->second, [&](const std::string& m) {
        return std::find(methods.begin(), methods.end(), m) == methods.end();
      });
    }
  }
}

std::uint64_t name_key(std::string_view name) {
  // FNV-1a: stable across runs and builds, so keys can be cached.
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

void ProjectFacts::add_calls_by_name(const ModuleSummary& summary) {
  m_grad_taking.insert(summary.grad_taking.begin(), summary.grad_taking.end());
  m_trained_by_name.insert(summary.trained_method_names.begin(), summary.trained_method_names.end());
  for (const auto& [method, counts] : summary.untyped_method_calls) {
    Incoming& in = m_incoming_by_name[method];
    in.sites += counts.first;
    in.disabled += counts.second;
  }
  for (const auto& [caller, callees] : summary.calls_by_name) {
    for (const std::uint64_t callee : callees) {
      m_callers_by_name[callee].push_back(caller);
    }
  }
}

// `class HFDecoderModel(DecoderModel, Tunable)` over `class DecoderModel(BaseModel)` over `class
// BaseModel:`, in three modules: plain all the way down, so none of them is an nn.Module.
void ProjectFacts::settle_plain_classes() {
  for (int round = 0; round < 8; ++round) {
    bool changed = false;
    for (auto& entry : m_functions) {
      FunctionSummary& f = entry.second;
      if (f.plain_class || f.callable_class || f.bases_elsewhere.empty()) {
        continue;
      }
      const FunctionSummary* self = &f;
      const bool plain = std::all_of(f.bases_elsewhere.begin(), f.bases_elsewhere.end(), [&](const std::string& b) {
        const FunctionSummary* base = function(b);
        return base != nullptr && base != self && base->plain_class;
      });
      if (plain) {
        // `module_class` stays: a wrapper named like a model still leaves its methods' grad mode
        // to their callers; only what its instances are (no nn.Module) is settled here.
        f.plain_class = true;
        changed = true;
      }
    }
    if (!changed) {
      break;
    }
  }
}

void ProjectFacts::finish() {
  settle_plain_classes();
  fold_incoming_through_reexports();
  std::vector<std::uint64_t> work(m_grad_taking.begin(), m_grad_taking.end());
  while (!work.empty()) {
    const std::uint64_t callee = work.back();
    work.pop_back();
    const auto it = m_callers_by_name.find(callee);
    if (it == m_callers_by_name.end()) {
      continue;
    }
    for (const std::uint64_t caller : it->second) {
      if (m_grad_taking.insert(caller).second) {
        work.push_back(caller);
      }
    }
  }
  m_callers_by_name = {};
}

bool ProjectFacts::method_may_take_gradients(std::string_view method) const {
  return m_grad_taking.count(name_key(method)) != 0;
}

bool ProjectFacts::method_runs_without_grad(std::string_view cls, std::string_view method) const {
  auto it = m_grad_disabled_methods.find(canonical(cls));
  return it != m_grad_disabled_methods.end() &&
         std::find(it->second.begin(), it->second.end(), method) != it->second.end();
}

void ProjectFacts::add_reexports(const ModuleSummary& summary) {
  for (const auto& [name, target] : summary.reexports) {
    if (name == "*") {
      m_star_reexports[summary.module].push_back(target); // `from .utils import *` in a package
    } else {
      m_reexports.emplace(summary.module + "." + name, target);
    }
  }
}

std::string ProjectFacts::defining_key(std::string_view qualified) const {
  std::string key = canonical(qualified);
  // A few hops: a package re-exporting what a subpackage re-exports.
  for (int hop = 0; hop < 4; ++hop) {
    if (m_functions.count(key) != 0) {
      return key;
    }
    if (auto next = m_reexports.find(key); next != m_reexports.end() && next->second != key) {
      key = next->second;
      continue;
    }
    const size_t dot = key.rfind('.');
    const auto stars = dot == std::string::npos ? m_star_reexports.end() : m_star_reexports.find(key.substr(0, dot));
    if (stars == m_star_reexports.end()) {
      return {};
    }
    const std::string name = key.substr(dot);
    const auto found = std::find_if(stars->second.begin(), stars->second.end(), [&](const std::string& module) {
      return m_functions.count(module + name) != 0 || m_reexports.count(module + name) != 0;
    });
    if (found == stars->second.end()) {
      return {};
    }
    key = *found + name;
  }
  return {};
}

const FunctionSummary* ProjectFacts::function(std::string_view qualified) const {
  const std::string key = defining_key(qualified);
  if (key.empty()) {
    return nullptr;
  }
  const auto it = m_functions.find(key);
  return it == m_functions.end() ? nullptr : &it->second;
}

// `from pkg import evaluate` calls `pkg.utils.evaluate` where `pkg/__init__.py` re-exports it: the
// call sites count for the definition.
void ProjectFacts::fold_incoming_through_reexports() {
  if (m_reexports.empty() && m_star_reexports.empty()) {
    return;
  }
  std::vector<std::pair<std::string, Incoming>> moved;
  for (const auto& [key, in] : m_incoming) {
    if (m_functions.count(key) != 0) {
      continue;
    }
    // `pkg.Class.method`: the class part is what is re-exported.
    const size_t dot = key.rfind('.');
    std::string target = defining_key(key);
    if (target.empty() && dot != std::string::npos) {
      const std::string owner = defining_key(key.substr(0, dot));
      target = owner.empty() ? std::string() : owner + key.substr(dot);
    }
    if (!target.empty() && target != key) {
      moved.emplace_back(target, in);
    }
  }
  for (const auto& [target, in] : moved) {
    Incoming& into = m_incoming[target];
    into.sites += in.sites;
    into.disabled += in.disabled;
  }
}

ProjectFacts::Incoming ProjectFacts::incoming(std::string_view qualified) const {
  auto it = m_incoming.find(std::string(qualified));
  if (it != m_incoming.end()) {
    return it->second;
  }
  // `pkg.engine.TrainerX.test` asked by a subclass that imports the class from the package that
  // re-exports it: the calls were counted where the class is defined.
  const size_t dot = qualified.rfind('.');
  if (dot == std::string_view::npos) {
    return {};
  }
  const std::string owner = defining_key(qualified.substr(0, dot));
  if (owner.empty()) {
    return {};
  }
  it = m_incoming.find(owner + std::string(qualified.substr(dot)));
  return it == m_incoming.end() ? Incoming{} : it->second;
}

bool ProjectFacts::method_trained_by_name(std::string_view method) const {
  return !m_trained_by_name.empty() && m_trained_by_name.count(name_key(method)) != 0;
}

ProjectFacts::Incoming ProjectFacts::incoming_by_name(std::string_view method) const {
  auto it = m_incoming_by_name.find(name_key(method));
  return it == m_incoming_by_name.end() ? Incoming{} : it->second;
}

bool ModuleSummary::may_need_second_look() const {
  if (had_findings) {
    return true;
  }
  for (const CallSite& c : external_calls) {
    if ((c.in_loop && loop_sensitive) || value_sensitive) {
      return true;
    }
  }
  return false;
}

bool ProjectFacts::matters_for(const ModuleSummary& summary) const {
  if (summary.had_findings) {
    for (const std::string& base : summary.external_bases) {
      if (const FunctionSummary* f = function(base); f != nullptr && f->module_class) {
        return true;
      }
    }
  }
  for (const CallSite& c : summary.external_calls) {
    if (summary.had_findings) {
      auto it = m_grad_disabled_methods.find(canonical(c.target));
      if (it != m_grad_disabled_methods.end() && !it->second.empty()) {
        return true; // a class whose methods run without autograd: fewer forwards here
      }
    }
    const FunctionSummary* f = function(c.target);
    if (f == nullptr) {
      continue;
    }
    // What each fact can change: values (accumulations, stores), loop kinds, or only remove
    // findings (grad-disabled helpers).
    if ((f->returns == Grad::Yes && summary.value_sensitive) ||
        ((f->backprops || f->steps_optimizer || f->has_loop || f->module_class) && c.in_loop &&
         summary.loop_sensitive) ||
        ((f->grad_disabled || f->needs_grad || f->plain_class || f->parameter_free || f->frozen_class ||
          !f->returns_instance_of.empty()) &&
         summary.had_findings) ||
        f->empties_cache ||
        // An instance of another module's class: what its methods return reaches this
        // module's values through `obj.method(...)`, which is not a call site of its own.
        ((f->callable_class || f->module_class) && (summary.value_sensitive || summary.loop_sensitive))) {
      return true;
    }
  }
  if (!summary.had_findings) {
    return false;
  }
  // A `no_grad` block calling a method that takes gradients elsewhere in the run (OOM202).
  for (const auto& entry : summary.calls_by_name) {
    if (std::any_of(entry.second.begin(), entry.second.end(),
                    [&](std::uint64_t callee) { return m_grad_taking.count(callee) != 0; })) {
      return true;
    }
  }
  for (const auto& [name, f] : summary.functions) {
    const Incoming in = incoming(summary.module + "." + name);
    if (in.sites > 0 && in.disabled == in.sites && !f.grad_disabled) {
      return true;
    }
  }
  for (const std::string& method : summary.uncalled_methods) {
    const Incoming in = incoming(summary.module + "." + method);
    const Incoming by_name = incoming_by_name(std::string_view(method).substr(method.rfind('.') + 1));
    const std::string_view name = std::string_view(method).substr(method.rfind('.') + 1);
    if ((in.sites > 0 && in.disabled == in.sites) ||
        (in.sites == 0 && by_name.sites > 0 && by_name.disabled == by_name.sites) || method_trained_by_name(name)) {
      return true;
    }
    for (const std::string& base : summary.external_bases) {
      const Incoming from_base = incoming(base + "." + std::string(name));
      if (from_base.sites > 0 && from_base.disabled == from_base.sites) {
        return true;
      }
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
  // A folder without `__init__.py` inside a package is a namespace package (PEP 420), at any
  // depth: `flux/inference/sampling.py` under `flux/__init__.py` is `...flux.inference.sampling`,
  // and `models/utils/detect_face.py` under a repository's `__init__.py` is `...models.utils.detect_face`.
  auto in_package = [&](const std::filesystem::path& d) {
    std::filesystem::path p = d;
    for (int depth = 0; depth < 4 && !p.empty(); ++depth) {
      if (std::filesystem::exists(p / "__init__.py", ec)) {
        return true;
      }
      if (!p.has_parent_path() || p.parent_path() == p) {
        break;
      }
      p = p.parent_path();
    }
    return false;
  };
  while (!dir.empty() && dir != dir.root_path() && guard++ < 64 && in_package(dir)) {
    name = name.empty() ? dir.filename().string() : dir.filename().string() + "." + name;
    dir = dir.parent_path();
  }
  return name;
}

std::vector<std::string> namespace_aliases(const std::filesystem::path& file) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(file, ec);
  if (ec || abs.filename() == "__init__.py" || std::filesystem::exists(abs.parent_path() / "__init__.py", ec)) {
    return {};
  }
  auto is_identifier = [](const std::string& s) {
    return !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) != 0 || s[0] == '_') &&
           std::all_of(s.begin(), s.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; });
  };
  std::vector<std::string> out;
  std::string name = abs.stem().string();
  std::filesystem::path dir = abs.parent_path();
  // A few folders up: scripts are run from the repository or one of its top folders.
  for (int up = 0; up < 4 && !dir.empty() && dir != dir.root_path(); ++up) {
    const std::string folder = dir.filename().string();
    if (!is_identifier(folder)) {
      break;
    }
    name = folder + "." + name;
    out.push_back(name);
    dir = dir.parent_path();
  }
  return out;
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
