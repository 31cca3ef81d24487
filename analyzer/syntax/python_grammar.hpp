#pragma once
// Symbol and field ids of tree-sitter-python, looked up once so hot code compares integers,
// never node-type strings.
#include <string>

#include <tree_sitter/api.h>

extern "C" const TSLanguage* tree_sitter_python();

namespace oomlint::syntax {

struct Symbols {
  TSSymbol module, expression_statement, assignment, augmented_assignment, for_statement, while_statement,
      with_statement, with_clause, with_item, if_statement, elif_clause, else_clause, try_statement, except_clause,
      finally_clause, function_definition, decorated_definition, decorator, class_definition, lambda,
      list_comprehension, set_comprehension, dictionary_comprehension, generator_expression, for_in_clause, if_clause,
      call, argument_list, keyword_argument, attribute, subscript, identifier, import_statement, import_from_statement,
      aliased_import, wildcard_import, dotted_name, relative_import, return_statement, global_statement,
      nonlocal_statement, parenthesized_expression, binary_operator, unary_operator, boolean_operator,
      comparison_operator, not_operator, conditional_expression, tuple, list, dictionary, set, pair, string,
      concatenated_string, interpolation, integer, float_, true_, false_, none, comment, block, pattern_list,
      tuple_pattern, list_pattern, expression_list, as_pattern, as_pattern_target, parameters, lambda_parameters,
      default_parameter, typed_parameter, typed_default_parameter, list_splat, dictionary_splat, list_splat_pattern,
      dictionary_splat_pattern, await_, named_expression, delete_statement, pass_statement, raise_statement, yield,
      error, match_statement, case_clause, keyword_separator, positional_separator, slice, type, break_statement;
};

struct Fields {
  TSFieldId left, right, body, function, arguments, object, attribute, name, value, alias, condition, consequence,
      alternative, parameters, superclasses, definition, module_name, operator_, argument, subscript, type, key;
};

struct Grammar {
  const TSLanguage* language = nullptr;
  Symbols sym{};
  Fields field{};
};

// The grammar, checked against the library's ABI range on first use.
const Grammar& grammar();

// Empty when the grammar loads; otherwise a sentence saying why it cannot be used.
std::string grammar_problem();

} // namespace oomlint::syntax
