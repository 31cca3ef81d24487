#pragma once
// Errors are values inside the library; the CLI turns whatever is left into one sentence.
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace oomlint {

struct Error {
  std::string message; // what went wrong and what to do about it
  std::string path;    // the file it concerns, if any
  int line = 0;        // 1-based, 0 when unknown
  int column = 0;      // 1-based, 0 when unknown

  [[nodiscard]] std::string describe() const;
};

template <typename T> class Expected {
public:
  Expected(T value) : m_data(std::move(value)) {}     // NOLINT(google-explicit-constructor)
  Expected(Error error) : m_data(std::move(error)) {} // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(m_data); }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<T>(m_data); }
  const T& value() const { return std::get<T>(m_data); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  [[nodiscard]] const Error& error() const { return std::get<Error>(m_data); }

private:
  std::variant<T, Error> m_data;
};

} // namespace oomlint
