#include "analyzer/syntax/python_grammar.hpp"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace oomlint::syntax {

namespace {

TSSymbol symbol(const TSLanguage* lang, const char* name, bool named = true) {
  const TSSymbol id = ts_language_symbol_for_name(lang, name, static_cast<uint32_t>(std::strlen(name)), named);
  if (id == 0 && std::strcmp(name, "ERROR") != 0) {
    throw std::logic_error(fmt::format("tree-sitter-python has no node type '{}'", name));
  }
  return id;
}

TSFieldId field(const TSLanguage* lang, const char* name) {
  const TSFieldId id = ts_language_field_id_for_name(lang, name, static_cast<uint32_t>(std::strlen(name)));
  if (id == 0) {
    throw std::logic_error(fmt::format("tree-sitter-python has no field '{}'", name));
  }
  return id;
}

Grammar load() {
  Grammar g;
  const TSLanguage* l = tree_sitter_python();
  g.language = l;
  Symbols& s = g.sym;
  s.module = symbol(l, "module");
  s.expression_statement = symbol(l, "expression_statement");
  s.assignment = symbol(l, "assignment");
  s.augmented_assignment = symbol(l, "augmented_assignment");
  s.for_statement = symbol(l, "for_statement");
  s.while_statement = symbol(l, "while_statement");
  s.with_statement = symbol(l, "with_statement");
  s.with_clause = symbol(l, "with_clause");
  s.with_item = symbol(l, "with_item");
  s.if_statement = symbol(l, "if_statement");
  s.elif_clause = symbol(l, "elif_clause");
  s.else_clause = symbol(l, "else_clause");
  s.try_statement = symbol(l, "try_statement");
  s.except_clause = symbol(l, "except_clause");
  s.finally_clause = symbol(l, "finally_clause");
  s.function_definition = symbol(l, "function_definition");
  s.decorated_definition = symbol(l, "decorated_definition");
  s.decorator = symbol(l, "decorator");
  s.class_definition = symbol(l, "class_definition");
  s.lambda = symbol(l, "lambda");
  s.list_comprehension = symbol(l, "list_comprehension");
  s.set_comprehension = symbol(l, "set_comprehension");
  s.dictionary_comprehension = symbol(l, "dictionary_comprehension");
  s.generator_expression = symbol(l, "generator_expression");
  s.for_in_clause = symbol(l, "for_in_clause");
  s.if_clause = symbol(l, "if_clause");
  s.call = symbol(l, "call");
  s.argument_list = symbol(l, "argument_list");
  s.keyword_argument = symbol(l, "keyword_argument");
  s.attribute = symbol(l, "attribute");
  s.subscript = symbol(l, "subscript");
  s.identifier = symbol(l, "identifier");
  s.import_statement = symbol(l, "import_statement");
  s.import_from_statement = symbol(l, "import_from_statement");
  s.aliased_import = symbol(l, "aliased_import");
  s.wildcard_import = symbol(l, "wildcard_import");
  s.dotted_name = symbol(l, "dotted_name");
  s.relative_import = symbol(l, "relative_import");
  s.return_statement = symbol(l, "return_statement");
  s.break_statement = symbol(l, "break_statement");
  s.global_statement = symbol(l, "global_statement");
  s.nonlocal_statement = symbol(l, "nonlocal_statement");
  s.parenthesized_expression = symbol(l, "parenthesized_expression");
  s.binary_operator = symbol(l, "binary_operator");
  s.unary_operator = symbol(l, "unary_operator");
  s.boolean_operator = symbol(l, "boolean_operator");
  s.comparison_operator = symbol(l, "comparison_operator");
  s.not_operator = symbol(l, "not_operator");
  s.conditional_expression = symbol(l, "conditional_expression");
  s.tuple = symbol(l, "tuple");
  s.list = symbol(l, "list");
  s.dictionary = symbol(l, "dictionary");
  s.set = symbol(l, "set");
  s.pair = symbol(l, "pair");
  s.string = symbol(l, "string");
  s.concatenated_string = symbol(l, "concatenated_string");
  s.interpolation = symbol(l, "interpolation");
  s.integer = symbol(l, "integer");
  s.float_ = symbol(l, "float");
  s.true_ = symbol(l, "true");
  s.false_ = symbol(l, "false");
  s.none = symbol(l, "none");
  s.comment = symbol(l, "comment");
  s.block = symbol(l, "block");
  s.pattern_list = symbol(l, "pattern_list");
  s.tuple_pattern = symbol(l, "tuple_pattern");
  s.list_pattern = symbol(l, "list_pattern");
  s.expression_list = symbol(l, "expression_list");
  s.as_pattern = symbol(l, "as_pattern");
  s.as_pattern_target = symbol(l, "as_pattern_target");
  s.parameters = symbol(l, "parameters");
  s.lambda_parameters = symbol(l, "lambda_parameters");
  s.default_parameter = symbol(l, "default_parameter");
  s.typed_parameter = symbol(l, "typed_parameter");
  s.typed_default_parameter = symbol(l, "typed_default_parameter");
  s.list_splat = symbol(l, "list_splat");
  s.dictionary_splat = symbol(l, "dictionary_splat");
  s.list_splat_pattern = symbol(l, "list_splat_pattern");
  s.dictionary_splat_pattern = symbol(l, "dictionary_splat_pattern");
  s.await_ = symbol(l, "await");
  s.named_expression = symbol(l, "named_expression");
  s.delete_statement = symbol(l, "delete_statement");
  s.pass_statement = symbol(l, "pass_statement");
  s.raise_statement = symbol(l, "raise_statement");
  s.yield = symbol(l, "yield");
  s.error = static_cast<TSSymbol>(-1); // ts_builtin_sym_error
  s.match_statement = symbol(l, "match_statement");
  s.case_clause = symbol(l, "case_clause");
  s.keyword_separator = symbol(l, "keyword_separator");
  s.positional_separator = symbol(l, "positional_separator");
  s.slice = symbol(l, "slice");
  s.type = symbol(l, "type");

  Fields& f = g.field;
  f.left = field(l, "left");
  f.right = field(l, "right");
  f.body = field(l, "body");
  f.function = field(l, "function");
  f.arguments = field(l, "arguments");
  f.object = field(l, "object");
  f.attribute = field(l, "attribute");
  f.name = field(l, "name");
  f.value = field(l, "value");
  f.alias = field(l, "alias");
  f.condition = field(l, "condition");
  f.consequence = field(l, "consequence");
  f.alternative = field(l, "alternative");
  f.parameters = field(l, "parameters");
  f.superclasses = field(l, "superclasses");
  f.definition = field(l, "definition");
  f.module_name = field(l, "module_name");
  f.operator_ = field(l, "operator");
  f.argument = field(l, "argument");
  f.subscript = field(l, "subscript");
  f.key = field(l, "key");
  f.type = field(l, "type");
  return g;
}

} // namespace

std::string grammar_problem() {
  const uint32_t version = ts_language_version(tree_sitter_python());
  if (version < TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION || version > TREE_SITTER_LANGUAGE_VERSION) {
    return fmt::format("tree-sitter-python uses language ABI {}, but the tree-sitter library loads ABI {}..{}; "
                       "rebuild oomlint against a matching libtree-sitter",
                       version, TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION, TREE_SITTER_LANGUAGE_VERSION);
  }
  return {};
}

const Grammar& grammar() {
  static const Grammar g = load();
  return g;
}

} // namespace oomlint::syntax
